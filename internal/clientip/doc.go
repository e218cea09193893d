// Package clientip tells which client a request comes from, for the limits
// kept per client address (reactive/transport's per-IP session cap,
// internal/guestauth's guest tokens), so that every limit counts the same
// client the same way.
//
// The address is the connection's peer, unless that peer is one of the
// trusted proxies (a load balancer's or a reverse proxy's ranges, given by
// the operator): then it is the rightmost address of X-Forwarded-For that
// is not itself a trusted proxy, or, without X-Forwarded-For, of
// Forwarded (RFC 7239). Rightmost, because each proxy appends the address
// it saw: what lies left of the first trusted proxy's entry is whatever the
// client wrote, and a client may write anything. A peer that is no trusted
// proxy has its forwarding headers ignored, so a client that connects
// directly cannot choose its address. When no entry is usable (every hop is
// trusted, or the trusted proxy wrote no header) the peer counts.
//
// The header is taken from the proxy that writes it: X-Forwarded-For when
// present, Forwarded only when X-Forwarded-For is absent — unless the
// operator names the one header their proxies write (WithHeader,
// --trusted-proxy-header), which they should: behind a proxy that writes
// Forwarded only and passes other headers on, a client's own
// X-Forwarded-For would otherwise name whatever it likes.
//
// Key groups addresses as one client: an IPv4 address, an IPv6 address's
// /64 (what one host is given; per address, a host would have 2^64).
package clientip
