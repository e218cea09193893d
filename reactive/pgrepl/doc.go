// Package pgrepl is Parley's PostgreSQL logical replication consumer: it
// implements reactive.ChangeSource with the built-in pgoutput plugin
// (protocol version 2, streaming on), on a permanent slot of the server's
// own (Config.Slot) or on a temporary slot per connection.
//
// The package owns its replication connection, its slot, the decoding of
// pgoutput messages into reactive.Commit values, and the standby status
// updates that tell the server how far the engine has applied. It owns
// neither the publication nor the tables' REPLICA IDENTITY (package schema
// sets both up), nor what happens to the changes (the engine behind
// reactive.ChangeSink).
//
// # Permanent or temporary
//
// A reconnect on a temporary slot starts a new slot at a new consistent
// point: the commits of the gap are never delivered, so the engine must
// re-run every live query (sink.Reset). With 100,000 live queries that is
// 100,000 query runs per blip, and while they run no mutation's response
// can be released (it waits for the applied position). A permanent slot
// keeps its position across connections: the reconnect resumes at the
// engine's applied position (sink.Resume), the server sends the gap's
// commits, and only the queries they touch re-run — the cost of a gap is
// that of its writes, not of the subscriptions (`make bench-gap` measures
// both). The price is that a dead server's slot keeps WAL until something
// drops it: the next Run with the same name does at its first connection;
// a clean return drops it; max_slot_wal_keep_size bounds what a server that
// never comes back costs (Run warns when it is unlimited; `parley dev`'s
// cluster sets 1GB). A cluster (one slot per node, or one reader publishing
// to the nodes) needs the same resumable position.
//
// # Concurrency model
//
// Run owns one goroutine's worth of work: the goroutine that calls it owns
// the replication connection, the decoder and every position it reports
// (delivered, progressed, confirmed); nothing else touches them. Commits are
// handed to sink.Commit synchronously and in commit order, so a blocking sink
// is backpressure: the connection is not read until it returns. While
// streaming, Run starts one helper goroutine that waits on
// sink.ProgressWanted and interrupts the current receive so the owner can ask
// the server for a keepalive; it touches nothing but a mutex-guarded flag and
// the receive's cancel function, and Run waits for it before reconnecting or
// returning. Status reads atomics and is safe for concurrent use.
//
// # Lifecycle
//
// New validates the Config and connects to nothing. Run loops: connect with
// replication=database, check wal_level and the publication, IDENTIFY_SYSTEM,
// then start streaming, then decode until something fails, then
// sink.Interrupted. Starting is, with a temporary slot,
// CREATE_REPLICATION_SLOT <prefix>_<random> TEMPORARY LOGICAL pgoutput and
// START_REPLICATION from its consistent point, then sink.Reset(that point).
// With a permanent slot, Run's first connection (and any connection to a
// server with another system identifier: a failover, a restore) drops what
// an earlier process left of the slot, creates it and resets likewise; every
// later one sends START_REPLICATION on it from sink.Applied(), then
// sink.Resume. A slot found gone or invalidated at a resume is made anew,
// with a Reset; a slot another connection streams from is waited for (the
// walsender of a process that just died may not have noticed yet), with a
// warning that says to give each server its own name. After a failure
// (network error, pg_terminate_backend, a stream the decoder cannot follow)
// Run logs a warning, waits a growing backoff and starts over from the
// connect. Run returns nil when its context is done, after dropping its
// permanent slot on a connection of its own, and an error only for
// misconfiguration that reconnecting cannot fix (ErrWALLevel,
// ErrNoPublication, ErrPermission, a server too old for protocol 2). A
// temporary slot is dropped by the server when the connection closes; Run
// closes it before returning.
//
// # Invariants
//
// Standby status updates report only sink.Applied(), clamped to what this
// connection has delivered, as write, flush and apply position; never the
// received position. A slot therefore never confirms what the engine has not
// applied, and a resume from Applied misses nothing: the server starts at the
// later of that position and the slot's confirmed one, and a commit at or
// before either was applied already. A temporary slot never holds WAL while
// Parley is down.
//
// sink.Progress(w) is called for a keepalive with WAL end w only when every
// message before the keepalive has been delivered and no transaction is half
// delivered: not between Begin and Commit, not between StreamStart and
// StreamStop. Progress values strictly increase within one connection.
//
// A delivered row change is complete: New holds every column, with unchanged
// TOAST values taken from the old tuple, and Old holds the whole previous row
// for updates and deletes. Where the stream does not carry enough to build
// that (no REPLICA IDENTITY FULL, an unchanged TOAST value without an old
// tuple, TRUNCATE) or a table has more than Config.MaxTxChanges changes in
// one transaction, the table is named in Commit.Overflow and none of its
// rows are delivered for that transaction. Over-invalidation is allowed; a
// missed invalidation is a bug.
//
// Streamed transactions are buffered per top-level xid (subject to the same
// per-table cap) and delivered at StreamCommit with that xid; a stream abort
// of the top-level transaction drops them, a subtransaction abort drops the
// changes tagged with that subtransaction's xid.
//
// The decoder checks every length against the message it reads and reports
// malformed input as an error, never a panic; it does not use pglogrepl's
// message parsers for that reason.
package pgrepl
