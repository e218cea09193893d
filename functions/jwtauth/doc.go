// Package jwtauth turns a bearer JWT into a [functions.Identity].
//
// It owns token verification and nothing else: which algorithms are
// accepted, where verification keys come from, which claims are required,
// and the client-facing wording of every rejection. It also mints HS256
// tokens for `parley token` and for tests.
//
// A [Verifier] has exactly one key source:
//
//   - an HS256 shared secret (at least 32 bytes, RFC 7518 §3.2); only HS256
//     tokens are accepted;
//   - a JWKS file, read once by [New]; only RS256 and ES256 tokens are
//     accepted;
//   - a JWKS URL, fetched once by [New] and refreshed afterwards; only RS256
//     and ES256 tokens are accepted.
//
// The algorithm list is fixed per source and enforced with
// jwt.WithValidMethods, so "none", an HMAC token against a public key
// (algorithm confusion) and every other algorithm are rejected before any
// key is looked up. JWKS keys are looked up by the token's kid through
// keyfunc over a jwkset memory store; only RSA and EC keys whose use is
// "sig" or unset are loaded, and private parameters in a JWKS are dropped
// on load.
//
// # Guest tokens
//
// A visitor without an account (a shop's chat widget) gets a guest token
// that Parley mints itself ([MintGuest], behind POST /api/guest): HS256
// with [Config.GuestKey], a key that only Parley holds, iss [GuestIssuer],
// role guest and a subject of [GuestSubjectPrefix] and 128 random bits.
// The trust model is two keys with two powers, neither reaching the
// other's: a token whose iss is GuestIssuer is verified with the guest key
// alone and must be a guest's (so a leaked guest key mints guests, never
// a customer, store or admin), and every other token is verified with the
// key source and may claim neither role guest nor a guest's subject (so no
// identity provider, nor anyone holding the HS256 secret, can pose as a
// guest or reach a guest's conversations). The iss claim only picks the
// verifier, read before any check; the chosen one then checks everything,
// signature first. The guest key must differ from HS256Secret. Without
// a GuestKey, guest tokens are rejected ("guest access is off").
// [Verifier.VerifyGuest] accepts guest tokens only: claimGuestThreads
// takes one as proof.
//
// # Claims
//
// A token must carry exp, sub (non-empty) and role (customer, store or
// admin, or guest for a guest token); role store also requires store_id. name is optional, and so is
// org: the organization the caller acts in (at most 128 bytes, no spaces
// or control characters; absent or empty is the default one). iss and aud
// are checked only when [Config.Issuer] / [Config.Audience] are set. exp, nbf
// and iat are checked with [Config.Leeway].
//
// # Errors
//
// Every error [Verifier.Verify] returns matches [ErrInvalidToken] and one
// more specific sentinel (errors.Is). Its message is written for the client
// ("token expired", "token has no role claim") and never contains key
// material, the token, or internal causes; this is why these sentinels,
// unlike the configuration errors, carry no "jwtauth:" prefix.
//
// # Concurrency model
//
// A Verifier is safe for concurrent use. Verify takes no lock on the hot
// path except the read lock inside the jwkset store. Refreshes of a JWKS URL
// are serialised by one mutex; a refresh replaces the whole key set at once,
// so a Verify sees either the old set or the new one.
//
// Verify never starts a goroutine. When a token names a kid that the URL
// key set does not have, Verify refreshes the set itself, in the caller's
// goroutine, at most once per [Config.MinRefreshInterval] and bounded by
// the caller's context and [Config.HTTPTimeout]; this is how a key rotation
// at the issuer is picked up without waiting for the periodic refresh. A
// caller that goes away (its context ends) stops its refresh.
//
// # Lifecycle
//
// [New] validates the configuration and loads the keys; a JWKS URL that
// cannot be fetched, or that yields no usable key, is an error, so a
// misconfigured server fails at start. [Verifier.Run] refreshes a JWKS URL
// every [Config.RefreshInterval] (so removed keys stop being trusted) and
// returns nil when its context ends, after its loop has stopped; it starts
// no goroutine. For the other sources Run returns nil at once. keyfunc's
// own background refresh is deliberately not used: its goroutine cannot be
// waited for, which the house style forbids.
//
// # Invariants
//
// An Identity returned by Verify has a non-empty Subject and a valid Role.
// Its Role is guest if and only if it was verified with the guest key, and
// then its Subject starts with GuestSubjectPrefix; no other identity's
// does.
// Its StoreID is non-empty if and only if its Role is store; a store_id
// claim on any other role is ignored. A token minted by [MintHS256]
// verifies with a Verifier built from the same secret, as long as no
// Issuer or Audience is configured.
package jwtauth
