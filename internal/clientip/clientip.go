package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/realclientip/realclientip-go"
)

// Resolver finds a request's client address. The zero value and nil trust
// no proxy: every request is its peer's. Safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
	header  string                // the one header read (WithHeader); "" means X-Forwarded-For, else Forwarded
	xff     realclientip.Strategy // X-Forwarded-For, rightmost untrusted
	fwd     realclientip.Strategy // Forwarded, likewise
}

// The headers a trusted proxy may name its client in (WithHeader).
const (
	HeaderXFF       = "X-Forwarded-For"
	HeaderForwarded = "Forwarded"
)

// New returns a Resolver that trusts the proxies in ranges: CIDR prefixes
// ("10.0.0.0/8") or single addresses ("192.0.2.7"). No ranges: none is
// trusted.
func New(ranges ...string) (*Resolver, error) {
	nets, err := realclientip.AddressesAndRangesToIPNets(ranges...)
	if err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}
	r := &Resolver{}
	for _, n := range nets {
		a, _ := netip.AddrFromSlice(n.IP)
		ones, _ := n.Mask.Size()
		r.trusted = append(r.trusted, netip.PrefixFrom(a.Unmap(), ones))
	}
	// The two header names are the ones these strategies accept: no error.
	r.xff = realclientip.Must(realclientip.NewRightmostTrustedRangeStrategy(HeaderXFF, nets))
	r.fwd = realclientip.Must(realclientip.NewRightmostTrustedRangeStrategy(HeaderForwarded, nets))
	return r, nil
}

// WithHeader returns r reading only header (HeaderXFF or HeaderForwarded)
// from its trusted proxies, the one they write: a client behind a proxy
// that writes Forwarded only could otherwise name itself in an
// X-Forwarded-For the proxy passes on. "" keeps r's choice (X-Forwarded-For
// when present, else Forwarded).
func (r *Resolver) WithHeader(header string) (*Resolver, error) {
	switch {
	case header == "":
		return r, nil
	case strings.EqualFold(header, HeaderXFF):
		header = HeaderXFF
	case strings.EqualFold(header, HeaderForwarded):
		header = HeaderForwarded
	default:
		return nil, fmt.Errorf("trusted proxy header %q: want %s or %s", header, HeaderXFF, HeaderForwarded)
	}
	if r == nil {
		return nil, nil // no proxy trusted: no header read
	}
	c := *r
	c.header = header
	return &c, nil
}

// ParseList is New of a comma-separated list (a flag's value); blanks
// around entries and empty entries are ignored.
func ParseList(list string) (*Resolver, error) {
	var ranges []string
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			ranges = append(ranges, f)
		}
	}
	return New(ranges...)
}

// Trusted reports whether a is one of the trusted proxies.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr is the address of the client behind req; not valid when req's
// RemoteAddr holds no address (a Unix socket's).
func (r *Resolver) Addr(req *http.Request) netip.Addr {
	peer := parse(req.RemoteAddr)
	if !peer.IsValid() || !r.Trusted(peer) {
		return peer
	}
	strat := r.xff
	switch r.header {
	case HeaderForwarded:
		strat = r.fwd
	case "":
		if len(req.Header.Values(HeaderXFF)) == 0 {
			strat = r.fwd
		}
	}
	if a := parse(strat.ClientIP(req.Header, req.RemoteAddr)); a.IsValid() {
		return a
	}
	return peer
}

// Key is the key of req's client for a limit per client: Key of its
// address, or, when it has none, its RemoteAddr as it is.
func (r *Resolver) Key(req *http.Request) string {
	if a := r.Addr(req); a.IsValid() {
		return Key(a)
	}
	return req.RemoteAddr
}

// Key is a limit's key of client address a: an IPv4 address (an
// IPv4-mapped IPv6 one as IPv4), or an IPv6 address's /64.
func Key(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// parse reads an address with or without a port ("192.0.2.1:80",
// "[2001:db8::1]:80", "2001:db8::1"), dropping an IPv6 zone; not valid
// for anything else.
func parse(s string) netip.Addr {
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
