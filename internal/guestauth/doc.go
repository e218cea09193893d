// Package guestauth is POST /api/guest: it gives a visitor without an
// account (a shop's chat widget) a guest identity — a short-lived token
// with role guest that Parley signs itself (jwtauth.MintGuest), so the
// visitor can open a support conversation and chat, and later hand it to
// the account it signs in with (shared/chat:claimGuestThreads).
//
// The request body is optional: {"name"?: string, "org"?: string}. name
// (at most MaxNameChars characters, trimmed, no control characters) is
// what support sees; without one the guest is "Guest" and four hex digits
// of its subject. org is the organization the guest chats with (a
// marketplace's, as a token's org claim; absent: the default one). The
// answer is 200 {"token", "guestId", "name", "expiresAt"} (milliseconds
// since the epoch), Cache-Control no-store; a bad body is 400 with a
// message naming the field; guest access switched off is 403; too many
// tokens from one address is 429 with Retry-After (seconds) and
// retryAfterMs. Errors are {"error": message}. Every other path of the
// server answers cross-origin requests (reactive/transport sets CORS), so
// a shop's own page may call it, not only the widget Parley serves.
//
// Tokens are limited per client address: an IPv4 address, or an IPv6
// address's /64 (what one host is given), as package clientip tells it
// (Config.ClientIP), the same address the per-IP session cap counts. It is
// the connection's peer, or, when the peer is a trusted proxy
// (--trusted-proxies), the client its X-Forwarded-For or Forwarded names;
// with no proxy trusted, every visitor behind a reverse proxy shares the
// proxy's address, so the limit should be raised there. A guest
// token cannot be refreshed: when it expires the visitor asks for a new
// one, a new guest; its conversations stay where they are, and a
// customer who still holds the old token cannot claim them after it
// expires.
//
// # Concurrency model
//
// A Service is safe for concurrent use: the handler holds no state but
// the rate limiter, by default a map of token buckets behind one mutex,
// pruned of idle addresses as it goes (Config.RateLimits may keep them in
// Postgres instead: keyrate.PG).
//
// # Lifecycle
//
// New validates the configuration; Register adds the route to a mux once,
// before the server starts. Nothing runs in the background.
//
// # Invariants
//
// Every token minted has role guest, a fresh subject
// (jwtauth.NewGuestSubject) and an expiry Config.TTL from now; no request
// chooses its subject or role. Without a key the service mints nothing.
package guestauth
