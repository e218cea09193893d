// Package parleytest starts a full Parley server for tests: a fresh
// database of the test's own with the schema and the demo data
// (schema.SeedDemo), server.New listening on 127.0.0.1:0 with an HS256
// verifier over a random secret (and guests on, POST /api/guest without a
// rate limit, over a random guest key) and the media service storing images in a
// temporary directory of the test's (with the demo image seeded), and Run
// in the background. It owns that
// server, the secret, and the demo identities (John, Jane, PizzaStaff,
// BurgerStaff, Admin, Anonymous) as the demo tokens prove them; it mints
// tokens for them (Token, TokenTTL; a guest's with the guest key), asks
// the server for guests (NewGuest) and connects sync clients (Dial).
//
// The database comes from internal/pgtest, so a package that calls Start
// must call pgtest.Main from its TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// # Concurrency model
//
// Start runs the server's Run on one goroutine, which the test's cleanup
// stops and waits for. A Server's methods are safe for concurrent use;
// Start and Dial register cleanups and fail the test with require, so they
// belong on the test's goroutine.
//
// # Lifecycle
//
// Start returns once /healthz reports status ok with the replication
// stream connected. When the test ends its cleanups run in this order:
// clients from Dial are closed (checking that they saw no protocol
// violation), the server's context is cancelled and Run must return nil
// within 30 seconds, the server's log stops reaching the test log, the
// test's pool (Server.DB) is closed, and pgtest drops the database.
//
// # Invariants
//
// The secret never leaves the package: a test that needs a token the server
// rejects signs it with a secret of its own. The server logs Warn and above
// to the test log, and nothing after the test's cleanups are done.
package parleytest
