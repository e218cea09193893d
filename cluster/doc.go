// Package cluster runs Parley on more than one node: N stateless nodes on
// one Postgres, the change stream decoded once and fanned out over NATS
// JetStream, and the state that used to live in one process (presence,
// streaming answers) shared over NATS. Rate limits, tickets and media are
// kept in Postgres in cluster mode (internal/server's SharedState), and
// webhook, mail and timer jobs are river jobs in Postgres, run once
// cluster-wide by whichever node takes them.
//
// # The change stream (Source)
//
// Every node's engine follows a Source (a reactive.ChangeSource). Inside:
//
//   - Election. Each node tries, every ElectEvery, to take a session-level
//     Postgres advisory lock (pg_try_advisory_lock on the hash of
//     "parley cluster reader <name>") on a connection of its own. The
//     holder is the reader. Postgres releases the lock when that session
//     ends, however it ends (kill -9 included: the kernel closes the
//     socket, the backend sees it and exits), so another node takes it at
//     its next try. A reader that loses NATS for StaleAfter, or whose lock
//     connection stops answering a ping, steps down.
//   - Reading. The reader runs a pgrepl.Source on the cluster's permanent
//     slot with Shared set: it resumes the slot where the stream's last
//     message ends (the server moves a position it already confirmed up to
//     the confirmed one) and leaves the slot in place when it stops. The
//     slot confirms as flushed only what JetStream has acknowledged, so the
//     next reader, starting from the stream's last message, misses nothing.
//   - Publishing. One message per commit (kind commit; a Progress mark or
//     a Reset are messages too), on subjects parley.<name>.wal.<kind> of a
//     stream PARLEY_<NAME> with file storage and Retention. A commit too big
//     for NATS's max payload is sent with its tables listed as overflowed:
//     nodes then re-run every query of those tables, which is exact.
//     Subjects are per kind, not per table: every node serves every query,
//     so every node needs every table, and the engine applies a commit whole
//     and in commit order; one message per commit makes the stream's
//     sequence that order and a gap detectable.
//   - Keepalive. While it holds the lock, the reader publishes a Progress
//     mark at the position it has published whenever the stream has had
//     no message for Retention/4, WAL activity or not. So retention never
//     empties a quiet stream: its last message always says where the
//     stream is, for a node joining and for the next reader (which
//     resumes the slot from there). An empty stream would look like a
//     lost one. Each mark has an id of its own (the duplicate window,
//     Retention at most, would drop a repeated one).
//   - Why two readers cannot split the stream. The slot itself admits one
//     walsender at a time: a new reader's START_REPLICATION fails ("slot is
//     active") until the old one's walsender has gone, and is retried.
//     Beyond that, every message a reader publishes expects the stream's
//     last message to be its own previous one (Nats-Expected-Last-Msg-Id;
//     a term's first message expects the sequence it read,
//     Nats-Expected-Last-Sequence). A zombie reader's late message, or a
//     lost message's successor, is refused by the stream; the refused reader
//     ends its term and starts again from the stream's last message.
//     Followers also ignore a commit at or below the position they have.
//   - Following. Every node, the reader included, reads the stream with an
//     ordered consumer from where it joined (after the stream's last
//     message: its first Reset re-runs every query on a later snapshot). A
//     message whose sequence does not follow the last one is a gap (the
//     node was away past Retention, or the stream was made anew): the node
//     re-runs every live query (sink.Reset) and goes on.
//   - One caller of the sink. The node's engine (its reactive.ChangeSink)
//     is called by one goroutine only, which takes in turn the follower's
//     messages and the health transitions below, so it sees one ordered
//     sequence: a Reset (at the position of the stream's last message
//     applied) before any commit, a commit never inside a transition,
//     Interrupted then Resume. Commits that arrive before the node first
//     follows wait, in the consumer, for that first Reset.
//   - Health. The reader sends a heartbeat on core NATS every Heartbeat,
//     saying whether its replication streams. A node follows while it has
//     NATS, its consumer, and a streaming reader's heartbeat within
//     StaleAfter; otherwise its engine is told Interrupted (live results
//     may be stale; /healthz degraded, 503). After IsolatedAfter so, it
//     closes its client sessions (WebSocket close 1012) and refuses new ones
//     (503), so that a load balancer and reconnecting clients move them to a
//     node that follows. When it follows again it resumes and admits them.
//   - Read your writes. A mutation's answer waits until the engine of the
//     node serving the client has applied the mutation's commit (as on one
//     node); a commit reaches every node through the stream. A node that
//     waits for a position no commit will reach asks the reader, over
//     parley.<name>.ctl.wanted, for a keepalive, which the reader publishes
//     as a Progress mark.
//
// # Shared state over NATS
//
// Presence (a support.Presence) and the assistant's streaming answers (an
// assistant.Fanout, Streams) publish on parley.<name>.presence… and
// parley.<name>.assistant…, outside the change stream's subjects, at most
// once (core NATS): a lost beat heals at the next, a lost stream update at
// the next whole text. See their doc comments.
//
// # Embedded NATS
//
// StartEmbedded runs a nats-server with JetStream in the process: `parley
// dev --nodes N` and the tests. Production points `parley serve
// --cluster` at a NATS cluster.
package cluster
