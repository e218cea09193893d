// Package pgrepl is Parley's PostgreSQL logical replication consumer: it
// implements reactive.ChangeSource with the built-in pgoutput plugin
// (protocol version 2, streaming on) on a temporary replication slot.
//
// The package owns its replication connection, the temporary slot that lives
// and dies with that connection, the decoding of pgoutput messages into
// reactive.Commit values, and the standby status updates that tell the server
// how far the engine has applied. It owns neither the publication nor the
// tables' REPLICA IDENTITY (package schema sets both up), nor what happens to
// the changes (the engine behind reactive.ChangeSink).
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
// CREATE_REPLICATION_SLOT <prefix>_<random> TEMPORARY LOGICAL pgoutput,
// START_REPLICATION from the slot's consistent point, then sink.Reset(that
// point), then decode until something fails. After a failure (network error,
// pg_terminate_backend, a stream the decoder cannot follow) it logs a warning,
// waits a growing backoff and starts over from the connect, with a new slot
// and a new Reset: changes in the gap are unknown, and the engine re-runs
// every live query on Reset. Run returns nil when its context is done, and an
// error only for misconfiguration that reconnecting cannot fix (ErrWALLevel,
// ErrNoPublication, ErrPermission, a server too old for protocol 2). The
// temporary slot is dropped by the server when the connection closes; Run
// closes it before returning.
//
// # Invariants
//
// Standby status updates report only sink.Applied(), clamped to what this
// connection has delivered, as write, flush and apply position; never the
// received position. A temporary slot therefore never holds WAL while Parley
// is down, and never confirms what the engine has not applied.
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
