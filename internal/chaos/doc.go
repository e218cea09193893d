// Package chaos is Parley's chaos suite: it breaks what the server depends
// on while clients write and subscribe, and checks that nothing
// acknowledged is lost or doubled and that every subscription catches up.
// The package is tests only (this file is its one non-test source):
// TestChaos runs one subtest per fault, in the order below.
//
// The short form runs in every `go test ./...` (so in `make test`); the
// long form runs with -chaos.long or PARLEY_CHAOS=long, which `make chaos`
// sets. `go test -short` skips the suite. RELIABILITY.md at the repository
// root has a long-form table and how to reproduce it.
//
// # Setup
//
// Every fault gets a world of its own: a private PostgreSQL cluster
// (internal/pgcluster, in the test's temp dir, since faults stop and kill
// it) with a database "parley" migrated and seeded with the demo data as
// `parley dev` does (TestMain prepares that once in a template cluster
// and each fault starts a copy, `cp -a`, of its stopped data directory),
// and the real binary run as `parley serve` on a fixed
// loopback port (so a restarted server is where its clients look) with
// --debug-addr for its goroutine count, rate limits off and the default
// --db-grace (10s). The binary is $PARLEY_BIN, or one TestMain builds with
// `go build ./cmd/parley` into a temp dir.
//
// # Load
//
// While the fault lasts, and before and after it:
//   - two mutation writers send shared/chat:sendMessage as John over the
//     sync protocol (internal/syncclient), each with a unique content
//     marker, redialling with a new session when the connection ends;
//   - one SQL writer inserts messages into the same conversation straight
//     into Postgres (not through the server);
//   - two Go subscribers (syncclient, redialling and resubscribing) and
//     the official convex npm client (node/subscriber.mjs, loaded from
//     e2e/node's node_modules; it reconnects by itself) hold
//     shared/chat:getMessages for the conversation;
//   - a webhook for message.created, registered by an admin before the
//     load starts, points at a receiver in the test process that checks
//     each delivery's signature (events.Sign) and counts the deliveries of
//     each webhook-id; in fault 3 it answers after 300ms, so deliveries are
//     in flight when the server dies. The server runs with
//     --webhook-timeout 2s --jobs-timeout 10s --jobs-rescue-after 15s
//     (and --ai-reply-timeout 2s --ai-finish-retry 1s, which must fit it), so
//     that river's rescuer takes a dead server's running job after 15s.
//
// A mutation is acknowledged when the server answered success (syncclient
// resolves it only once a transition reaches its ts); an SQL insert when
// its commit returned. A mutation that fails with `unavailable` was not
// applied: the writer sends the same marker again and counts a retry. A
// write whose connection ended while it was in flight is "unknown": it
// may be present once or not at all.
//
// # Faults
//
//  1. postgres immediate stop: SIGQUIT to the postmaster (what `pg_ctl stop
//     -m immediate` sends: no checkpoint, crash recovery next start), down
//     for 2s (long 15s), started again on the same data and port.
//  2. walsender terminated: pg_terminate_backend on pg_stat_replication
//     once a second, 5 times (long 30).
//  3. server kill -9: SIGKILL to the parley process group, down 1s (long
//     5s), `parley serve` again on the same database and address.
//  4. link to postgres cut: every server connection to Postgres goes
//     through an internal/faultnet link, cut for 2s (long 15s), restored.
//  5. commit reply lost past db-grace: the server runs with --db-grace 1s
//     behind a link armed with faultnet's CutAfter on the session id of
//     one mutation of its own (the other writers held meanwhile, so that
//     its COMMIT does not fail serialization): the batch that carries the
//     mutation's mutation_log row and COMMIT reaches Postgres, which
//     commits, and its reply is lost; the link stays cut for 2s, past the
//     grace. The sender then does what every writer does with the answer.
//  6. media directory full: --media-dir is a 2 MiB tmpfs (needs root to
//     mount; skipped otherwise), filled to ENOSPC; 3 (long 10) uploads
//     (generateUploadUrl, then a POST of a JPEG) must fail saying the
//     store is full, leaving no object in the store and no files row,
//     and /healthz must say media "full" (status degraded); after the
//     filler is removed an upload must succeed and /healthz say media
//     "ok" again.
//  7. clients stop reading: 5 (long 20) sync clients with a 4 KiB receive
//     buffer subscribe to a 100-message page and never read again while
//     the writers run for at least 5s (long 30s) and until the server has
//     closed them (at most a minute more); the server must close them
//     (/healthz sessions back to what it was, and its sessionsClosedSlow
//     up by as many) and its RSS must stay within the bound below.
//  8. clients reconnect at once: 200 (long 1,000) extra subscribers, then
//     a graceful restart of the server; all reconnect at the same moment
//     (100ms backoff, no jitter) and must all hold a result again.
//
// # Checks
//
// After the fault is lifted the suite waits (polling, up to 2 minutes) for
// recovery: /healthz ok and a mutation acknowledged on a new connection
// (for the full disk: an upload that succeeds; for the herd: every herd
// client back); that wait is the "time to recover". The writers go on for
// 20 (long 200) more acknowledged writes, then stop, and:
//   - every acknowledged marker is in the messages table, and no marker
//     is there twice (lost and duplicated in the table);
//   - every message of a mutation writer has exactly one message.created
//     event in the events log, the SQL writer's none; every such event
//     reaches the receiver once all deliveries have settled (none
//     pending, within 90s), and one received more than once is counted
//     as redelivered (same webhook-id: at least once, never a second id);
//   - every subscription (Go, convex client, herd) equals a fresh
//     /api/query within 90s;
//   - /healthz reported the fault while it lasted (any reading other than
//     ok: degraded, database unreachable, replication disconnected, or no
//     answer) for faults 1-5 and 8 (6 and 7: as above), and reads ok
//     after;
//   - the server's goroutines and RSS after recovery are within bounds of
//     what they were before the fault, both sampled with the load running
//     (a forced GC first): goroutines at most before + max(50, 20 %),
//     RSS at most before + 50 MiB. The goroutine slack covers connections
//     still being torn down and the pool's connections being re-made
//     (the server idles at ~25 goroutines with the suite's clients; a leak
//     of one per write or per reconnect would be hundreds). The RSS slack
//     covers the Go heap's growth to a new high-water mark during catch-up,
//     which the runtime returns to the OS only slowly; a leak of a queue
//     per stalled client or a result per write would exceed it. For
//     faults 3 and 8 "after" is a new process.
//
// Each failed check fails the subtest and is written in its row. The
// table (fault, writes acknowledged, unknown, retries, lost, duplicated,
// events, webhook lost, redelivered, time to recover, goroutines and RSS before → after, result) goes to
// the test log and, when PARLEY_CHAOS_REPORT names a file, to that file.
// Timings are reported, never asserted.
//
// # Concurrency model
//
// Subtests run one after another. Within one, each writer, each
// subscriber, the /healthz watcher and each child process's waiter is a
// goroutine owned by a stop function registered with t.Cleanup (or called
// before the checks) that waits for it. The ledger and the row are
// guarded by mutexes.
//
// # Lifecycle
//
// Cleanups run in reverse: writers and subscribers stop, the node process
// gets EOF on stdin (SIGKILL to its process group after 5s), parley's
// process group gets SIGKILL, the link closes, the tmpfs is unmounted
// (lazily), and the cluster is stopped, or its postmaster killed if it
// will not stop. Child processes also get SIGKILL if the test process
// dies first (Pdeathsig). A postmaster left by a killed test binary (its
// parley-owner names a dead process) is stopped, and its temp dir removed,
// by the next run's TestMain.
//
// # Invariants
//
// No fault shares a cluster, a server or a port with another. The suite
// never relaxes a check to make a fault pass: a failing row is a finding.
package chaos
