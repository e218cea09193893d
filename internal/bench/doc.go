// Package bench is Parley's load generator, behind `parley bench` and
// `make bench`. It drives a running server over the real sync protocol,
// with sessions of their own identities and writes by sendMessage and by
// direct SQL, and reports write→push latency, throughput and what the load
// costs the server, Postgres and the machine, as a table and a JSON Report.
// It measures; it never asserts on speed.
//
// # Scenarios
//
//	a      many two-party conversations (a customer and its store's staff), open-loop writes
//	b      one hot conversation watched by every session; checks that every viewer got every message
//	c      the same writes with growing numbers of idle subscriptions on other conversations; one row each
//	d      peak sendMessage throughput: K sessions call sendMessage in a closed loop
//	stall  clients that subscribe and stop reading while writes continue
//	gap    a replication gap's catch-up with many live subscriptions
//	e      an edit's and a delivery acknowledgement's push to b's 1,000 viewers, one at a time
//	search searchMessages over a million messages, per kind of query, with EXPLAIN (ANALYZE)
//
// Each scenario seeds what it needs after deleting what earlier runs wrote
// to it, waits for the server to replicate the seed, connects its sessions,
// runs its load for a warm-up and a measurement window, and closes its
// sessions. An active session subscribes what a chat screen does (see
// viewer); an idle subscription is getMessages of a conversation nobody
// writes to.
//
// # What is measured
//
// Every message carries "bench <run> #<seq>" in its content. Latency runs
// from the write (COMMIT's return for direct SQL; the send of the Mutation
// for sendMessage, whose response the server releases only after the push:
// see writeRec) to the first getMessages result of a viewer that holds the
// message, timed when the client read it. Scenario e instead has each
// operation publish a probe (a message object's id with its new content
// or its "delivered" status) that every viewer looks for in its results,
// and waits for all of them before the next (edit.go); search times calls
// of the HTTP API, no push (search.go). A viewer that never held a
// message counts as a drop: a slow client's when it falls in a gap (its
// next result was a whole page of new messages, so the server's per-query
// coalescing left the message off every page), else the server's.
//
// Scenario b's and e's viewers, d's sessions and c's idle sessions are
// lite clients (package lite): with syncclient, b's would cost the
// generator more CPU than the server spends, d's take CPU from the server
// and Postgres on a shared host, and c's hold more of the generator's heap
// than the server holds of its own (see scenarioB, scenarioD, openLite).
// The active sessions of a, c and stall keep syncclient, which checks the
// protocol as it goes. Pushes are the results the clients received; query re-runs,
// mutations, server CPU, RSS and replication lag come from /metrics
// (package scrape), read at the window's edges and every 500ms; the
// bench's, Postgres's and the machine's CPU from getrusage and /proc
// (hostcpu.go). Writes/s use the nominal window, every other rate the
// interval between its own two readings (see rates).
//
// # Several nodes
//
// Config.URLs may name the nodes of one cluster, all on one database
// (`parley bench --url a,b,c`). Every scenario's sessions are then spread
// over them round robin in the order of its specs (session i on node
// i mod n, nodes.go): b's viewers and a's sessions land evenly on every
// node, the two parties of a conversation mostly on different ones, d's
// writers (the customers of its first conversations) on every node in
// turn; stall's stalled clients likewise. The open loop's sendMessage
// goes out from a random viewer of the conversation, and so from any
// node; direct SQL writes reach every node through its change stream;
// search's calls go to the first URL. With one URL nothing changes.
//
// The server's metrics are scraped from every node and merged by one rule
// (scrape.Merge): a node's own series (parley_*: sessions, query runs,
// mutations, write→push) are summed over the distinct URLs — a URL named
// twice is one node, scraped once — and its replication lag is the
// largest; the process's series (CPU, RSS, heap, goroutines, open files)
// are summed over distinct server processes, which tell apart by
// process_start_time_seconds: the nodes of `parley dev --nodes N` are one
// process and count once, N `parley serve` count N times. The health
// waits require every node healthy and caught up. The Report names the
// nodes driven (Nodes, URLs) and the processes they ran in
// (ServerProcesses). Scenarios gap and soak cut the change stream of the
// whole database; with several nodes they measure the cluster as one.
//
// # Pieces
//
//	runner.go     Runner: New, Run, the waits for health and replication
//	nodes.go      which node a session goes to
//	scenarios.go  scenarios a, b, c and d; stall.go: stall and its stalled clients
//	edit.go       scenario e: its probes and their operations, one at a time
//	search.go     scenario search: the calls, the plans
//	fleet.go      a scenario's sessions, and the watchers that record what each received
//	load.go       the writes (open and closed loop), matched afterwards to what was received
//	measure.go    one measurement: the window's edges, the rates, memory per session
//	report.go     Report, Row and the table (config.go: Config, Defaults, Quick)
//	lite/         the lightweight sync-protocol client of the many sessions
//	scrape/       the nodes' /metrics and /healthz, merged, once or every 500ms
//	dataset/      the bench's rows in the database: seeding, reset, direct-SQL writes
//
// # Concurrency model
//
// Run runs scenarios one at a time. A scenario owns its sessions (each
// with its client's reader goroutine) and one watcher goroutine per
// active syncclient session (a lite session's reader is its watcher),
// which ends when its client closes — the fleet's close waits for them; a
// metrics sampler goroutine, which measure stops and waits for; and the
// load: an open loop issuing each write on a goroutine of its own (at most
// MaxInFlight outstanding; more are skipped and counted), or a closed loop
// of one goroutine per writer, both waited for before the results are
// read; scenario e's one goroutine of operations, waited for likewise,
// publishes its probes through an atomic pointer that the viewers'
// readers load. Watchers write only their own session's receipts (under its
// mutex) and two atomic counters; writers append to the phase's records
// under its mutex. Nothing is shared otherwise.
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
// The bench writes and deletes only its own rows (package dataset says
// which). Its messages are never deleted during a run, which is what
// makes "new in this result" the same as "not in the previous one".
package bench
