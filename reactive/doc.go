// Package reactive is the engine that keeps live queries live. It owns the
// change-stream interfaces (ChangeSource, ChangeSink), the read-dependency
// index, shared query instances, batched re-execution in one snapshot,
// result hashing, and the per-connection Session state of the Convex sync
// protocol (versions, transitions, read-your-writes). Transports
// (reactive/transport) and the WAL consumer (reactive/pgrepl) plug in.
//
// # Flow
//
// The source delivers committed transactions (Commit). The engine matches
// every changed row's old and new column values against the index of
// recorded dependencies; matched instances are re-run once per batch — a
// burst of commits collapses into one run — in a repeatable-read snapshot
// that is checked to see every commit of the batch, spread over at most
// Workers connections sharing an exported snapshot. Results whose hash is
// unchanged are not sent. A batch's runs share a functions.Memo: what one
// of them computes from the snapshot with functions.Memoized (an org's
// whole queue, say) serves the others, with its dependencies recorded for
// each. Only then does the applied position advance to
// the batch's WAL end; the source reports that position to Postgres.
//
// State kept outside the database (presence, in memory) has no WAL: its
// owner calls Invalidate with the keys its queries recorded (a table name
// no Postgres table has, "@presence"), and those keys are matched with the
// next batch as if a row with that column value had changed. Such a re-run
// moves no ts.
//
// Changes that arrive while a batch runs are matched after it, against the
// dependencies the batch recorded, so a change committed after the batch's
// snapshot can never be missed. After Reset (replication restarted on a
// new slot: the gap is unknown) every instance is re-run; after Resume (the
// same slot, from the applied position) the gap's commits arrive and match
// like any others. Between Interrupted and the next Reset or Resume, and
// while re-runs cannot reach the database, Stale reports that results may
// lag the database.
//
// # Sessions and versions
//
// A Session keeps the client's {querySet, identity, ts} version. ts is a
// WAL position: a transition's end ts is the engine's applied position, so
// every result in it reflects every commit before ts. A mutation's response
// carries its post-commit WAL position and is released only once the
// applied position has reached it, followed by a transition — the client
// resolves the mutation on that transition (read-your-writes). A
// session's mutations run in its lane (QueueMutation): one at a time, in
// the order the client sent them, each as the identity it was sent with,
// on a goroutine that exists while some wait; the client's query changes
// go on meanwhile, so a mutation that waits (for its rate-limit token)
// holds up only the mutations after it.
//
// # What a slow client costs
//
// Updates are coalesced per query: a query with a new result is marked
// dirty, once however often it changes, and Take sends the instance's
// result of that moment. A result waiting to be sent is therefore the one
// the engine holds for every subscriber anyway; a client that reads slowly
// costs no more of them than one that reads at once, and MaxPendingBytes
// does not count them (counting them closed clients that were reading, on
// any change to pages that together passed the bound). What grows with a
// client that does not read is what its session queues for it alone:
// responses to its requests and removed query ids. MaxPendingBytes bounds
// those, and a session past it is closed "client too slow". Besides, a
// session keeps per query the result it last sent (for its hash) until the
// next Take, and its transport holds one outbox while writing it, which
// the transport bounds in time: a write that outlasts its write timeout
// closes the connection, counted as closed slow (StoppedReading).
//
// # Files
//
// The engine: engine.go (Engine, Config, New, the ChangeSink methods, Run,
// Stats), change.go (the change stream's types and interfaces), status.go
// (what a source reports of itself for health checks), batch.go
// (the batch loop: match, snapshot, re-run, install), subscribe.go (what
// sessions ask of the engine: attach and unsubscribe, canonical arguments,
// session registration, waiting for the applied position), calls.go
// (one-shot Query and Mutate), instance.go (shared instances and their
// results), index.go (the dependency index), stale.go (waking the sessions
// that asked for Status messages when Stale changes), metrics.go.
//
// The sessions: messages.go (the protocol's message types), session.go
// (Session and its methods), session_queries.go (a session's query set).
// Session code reaches the engine only through its methods and takes no
// engine lock itself.
//
// # Concurrency model
//
// Run owns the batch loop: one goroutine matches and re-runs; a batch uses
// up to Workers extra goroutines that it waits for. Locks, in the order
// they may be taken: Engine.mu (instances, index, sessions) before
// Session.mu (install tells subscribed sessions of new results under
// Engine.mu); Engine.qmu (change queue) and Engine.wmu (sessions waiting
// for the applied position) are leaves, never held while taking another.
// The stale notifier's lock is a leaf too, released before it takes
// Engine.mu to wake sessions.
// Results are published through an atomic pointer and read lock-free.
//
// # Lifecycle
//
// New, then Run(ctx) until ctx is done; Run returns after its goroutines
// exit. Sessions are created by transports and must be closed.
//
// # Invariants
//
// Over-invalidation is allowed (it costs a re-run); a missed invalidation
// is a bug. The applied position never passes a commit whose effects have
// not been published. No queue is unbounded: the change queue blocks the
// source past MaxQueuedChanges, Invalidate's keys are a set, a
// session's pending updates are one per query (an id: the result is the
// instance's) and its queued responses are within MaxPendingBytes.
package reactive
