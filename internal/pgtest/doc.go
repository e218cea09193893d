// Package pgtest gives integration tests a real PostgreSQL database of their
// own, and the house Eventually helper for waiting without bare sleeps.
//
// A package that uses NewDB must call Main from its TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// NewDB fails the test when Main was not called: without Main nothing would
// stop the private cluster when the test binary ends, and a postmaster would
// outlive every `go test` run.
//
// # Server
//
// The package owns one server per test binary, set up on first use. When the
// environment variable PARLEY_TEST_DATABASE_URL (EnvDatabaseURL) is set, it
// is used as is: it must be a postgres:// URL of a database on a server with
// wal_level=logical, as a superuser (or at least a role with CREATEDB,
// REPLICATION and the right to terminate backends). Otherwise the package
// starts a private cluster with internal/pgcluster in a fresh directory
// os.TempDir()/parley-pgtest-*, which also holds an owner.pid file naming the
// test binary's process. Reading that variable is this package's one exception
// to the rule that only cmd reads the environment.
//
// # Lifecycle
//
// The server is set up by the first NewDB call, once (sync.Once); if that
// fails, every NewDB call in the binary fails with the same error. Main runs
// the tests, then stops the private cluster and removes its directory, then
// exits with the tests' status. A binary killed before Main's cleanup (a
// -timeout panic, a signal) leaves its cluster running; the next test binary
// that starts a private cluster stops and removes every
// os.TempDir()/parley-pgtest-* directory whose owner process is gone. It
// signals a leftover postmaster only when /proc shows a postgres process
// working in that directory (pgcluster.IsPostmasterOf), never a pid that
// may have been reused.
//
// Each NewDB call creates a database with a unique name; the test's cleanup
// terminates the backends connected to it, drops the replication slots that
// belong to it, and drops it with DROP DATABASE ... WITH (FORCE).
//
// # Concurrency model
//
// NewDB is safe to call from parallel tests; the first call sets the server
// up while the others wait. Eventually calls f on the calling goroutine and
// calls t.Fatalf, so like t.Fatalf it belongs on the test's goroutine. The
// package starts no goroutines.
//
// # Invariants
//
// Database names are unique across test binaries sharing one server. A test
// never sees another test's database, and nothing it creates in its database
// (including logical replication slots) survives its cleanup.
package pgtest
