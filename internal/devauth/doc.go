// Package devauth is the dev-only sign-in of `parley dev`: it lists the
// demo identities (GET /dev/identities) and mints a token for one of them
// (POST /dev/token), signed with the dev secret, so the web app can offer
// "sign in as John Doe" without a real identity provider. `parley serve`
// never registers it: under serve the paths are 404.
//
// # Concurrency model
//
// The handlers hold no mutable state; they are safe for concurrent use.
//
// # Lifecycle
//
// Register adds the routes to a mux once, before the server starts.
//
// # Invariants
//
// Only the demo identities can be minted, never an arbitrary subject or
// role. A request that carries an Origin header must come from the
// server's own origin: another web site open in the same browser cannot
// mint tokens from a running `parley dev`. Both endpoints answer only
// requests from a loopback address to a loopback host (127.0.0.1, ::1,
// localhost): `parley dev --addr 0.0.0.0` does not hand tokens to the
// network, and a DNS-rebinding page, which reaches 127.0.0.1 under a name
// of its own, gets 403, as does a request that a local reverse proxy
// marks as forwarded (Forwarded, X-Forwarded-*, X-Real-IP, Via).
package devauth
