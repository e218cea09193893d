// Package pgcluster starts and stops a private PostgreSQL cluster: one data
// directory, one postmaster, listening on 127.0.0.1 only, configured for
// logical replication (wal_level=logical). `parley dev` uses it for its
// database and internal/pgtest uses it for integration tests.
//
// The package owns the data directory it is given (Config.Dir is PGDATA
// itself) and the postmaster it starts there. It does not own the server
// binaries: it runs initdb and pg_ctl from Config.BinDir, from PATH, or from
// the newest /usr/lib/postgresql/*/bin (the Debian layout), in that order. When
// Dir already holds a cluster whose PG_VERSION matches an installed
// /usr/lib/postgresql/<version>/bin, those binaries win, so an existing
// directory keeps working after a newer major version is installed.
//
// The package works on Unix only: it relies on process groups, and on
// switching user ids when it runs as root.
//
// # Running as root
//
// PostgreSQL refuses to run as root. When the process runs with effective
// uid 0, Start runs initdb and pg_ctl as the "postgres" system user (the
// Debian postgresql package creates it), changes the owner of every file
// under Dir to that user, and adds the others-execute bit (o+x, nothing else)
// to parent directories of Dir that lack it, so that the postgres user can
// reach Dir. It changes parent directories only if they lie inside
// os.TempDir() or inside the working directory (either one included);
// anywhere else Start returns an error naming the directory to fix instead of
// touching it. If the postgres user does not exist Start returns
// ErrNoPostgresUser.
//
// # Concurrency model
//
// Start blocks until the server accepts connections or has failed; it starts
// no goroutines. The postmaster runs in its own session, outside this
// process, and keeps running if this process dies without calling Stop. A
// *Cluster is safe for concurrent use; concurrent Stop calls are serialised
// by a mutex and only the first one does any work.
//
// # Lifecycle
//
// Start initialises Dir with initdb when it has no PG_VERSION file, then
// starts the server with pg_ctl start -w. Stop shuts it down with pg_ctl stop
// -m fast -w; further Stop calls return nil. A stopped directory can be
// started again by another Start call, which reuses its data and may pick a
// different port. The server's log is appended to Dir/postgres.log; when a
// start fails, the error carries the tail of what that attempt logged.
//
// # Invariants
//
// At most one postmaster runs in a data directory. While one that Start
// started runs, Dir/parley-owner names it and the process that started it
// (pid and start time, so a reused pid does not count). Start finding a
// live postgres process working in Dir:
//   - stops it and starts afresh when parley-owner names it and its owner
//     has died (a `parley dev` killed with SIGKILL, an OOM, a closed
//     terminal): an orphan, whose data is kept;
//   - returns ErrAlreadyRunning naming the owner when the owner still runs;
//   - returns ErrAlreadyRunning saying how to stop it (pg_ctl stop -D Dir)
//     when Parley did not start it.
//
// A postmaster.pid left by a crash (dead process, or a pid since reused by
// an unrelated process) does not stop Start. Stop removes parley-owner.
//
// The server listens on 127.0.0.1 and on a Unix socket in Dir (no socket when
// Dir is too long for a socket path); authentication is trust; the superuser
// is "postgres". Settings given in Config.ExtraSettings override the
// package's defaults.
package pgcluster
