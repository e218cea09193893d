// Package bench is Parley's load generator (`parley bench`): it drives a
// running server over the real sync protocol and reports write→push
// latency, throughput and the server's costs. It owns the bench data in
// the server's database (every id starts with IDPrefix), the sessions it
// opens (internal/syncclient clients or internal/bench/lite clients, one identity each),
// the writes it makes, and the report.
//
// # Scenarios
//
// Each scenario seeds what it needs with set-based SQL (generate_series),
// idempotently, after deleting what earlier runs wrote to it; waits for
// the server to replicate the seed; connects its sessions; runs its load
// for a warm-up and a measurement window; and closes its sessions.
//
//	a      many two-party conversations (a customer and its store's staff), open-loop writes
//	b      one hot conversation watched by every session; checks that every viewer got every message
//	c      the same writes with growing numbers of idle subscriptions on other conversations; one row each
//	d      peak sendMessage throughput: K sessions call sendMessage in a closed loop
//	stall  clients that subscribe and stop reading while writes continue
//
// An active session subscribes what a chat screen does: getConversations,
// getUnreadCount, and getMessages and getTypingIndicators of its open
// conversation. An idle subscription is getMessages of a conversation
// nobody writes to.
//
// # Measurement
//
// Every message carries "bench <run> #<seq>" in its content. A writer
// records when its write happened (see writeRec: COMMIT's return for
// direct SQL; the send of the Mutation message for sendMessage, since the
// server releases a mutation's response only after its push). A watcher
// per active session scans each getMessages result for those markers,
// without decoding it, and records the first result that holds each
// message, timed when the client read it (syncclient.Update.Received).
// After the load, latencies are matched per message, and a viewer that
// never held a message counts as a drop: one inside a gap (the viewer's
// next result was a whole page of new messages, so it fell more than a
// page behind and the server's per-query coalescing left the message off
// every page) is a slow client's; any other is a server drop. Scenario b's
// viewers and d's sessions are lite clients (package lite): every frame decoded by
// syncclient would cost the generator more CPU than the server spends (b),
// or take CPU from the server and Postgres on a shared host (d); they scan
// each Transition once for query 0's value and time it when the frame was
// read. c's idle sessions are lite clients too, which only count what they
// receive: as syncclient sessions they held more of the generator's heap
// than the server holds of its own. The active sessions of a, c and stall
// keep syncclient, which checks the protocol as it goes. Pushes are
// the results the clients received (syncclient SubStats, lite.Client's
// count); query re-runs, mutations, CPU, RSS and replication lag come
// from the server's /metrics, scraped at the window's edges and every
// 500ms in between. Writes/s use the nominal window (the writes counted
// are those that returned inside it); every other rate uses the interval
// between its own two readings, which a loaded generator may take late.
//
// # Concurrency model
//
// Run runs scenarios one at a time. A scenario owns: its sessions (each
// with its client's reader goroutine) and one watcher goroutine per
// active session, which ends when its client closes — the fleet's close
// waits for them; a metrics sampler goroutine, which measure stops and
// waits for; and the load: an open loop issuing each write on a goroutine
// of its own (at most MaxInFlight outstanding; more are skipped and
// counted), or a closed loop of one goroutine per writer, both waited for
// before the results are read. Watchers write only their own session's
// receipts (under its mutex) and two atomic counters; writers append to
// the phase's records under its mutex. Nothing is shared otherwise.
//
// # Lifecycle
//
// New validates the Config and fills defaults; Run opens a small pool to
// the database, waits for /healthz, runs the scenarios, and returns a
// Report after closing every session and connection it opened. A
// scenario that fails becomes a Row with Error; the next still runs.
//
// # Invariants
//
// The bench never writes rows whose ids lack IDPrefix, and deletes only
// such rows (and mutation_log records of sessions whose id starts with
// IDPrefix). Its messages are never deleted during a run, which is what
// makes "new in this result" the same as "not in the previous one". It
// never asserts on speed: it measures and reports.
package bench
