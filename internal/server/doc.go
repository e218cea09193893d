// Package server assembles a running Parley: the connection pool, the
// function registry (one registration per domain: chat.Register), the
// engine, the change source, the media service (image uploads and
// downloads, on the same mux as the HTTP transport), guest access (POST
// /api/guest, package guestauth) and the HTTP transport, and runs them
// together. `parley dev` and `parley serve`
// (cmd/parley) both build one through New.
//
// # Concurrency model
//
// Run starts the engine, the change source, the media janitor, the
// mutation log pruner and the HTTP server under one errgroup; the first to
// fail stops the others.
//
// # Lifecycle
//
// New checks the database (reachable, wal_level=logical, REPLICATION
// privilege) and builds everything; Run serves until its context is done
// and returns after every goroutine it started has exited.
//
// # Per-node state
//
// Config.Cluster makes the server a node of a cluster (package cluster,
// file cluster.go): the change source is a cluster.Source on the shared
// slot, presence and streaming answers go over NATS, and SharedState is
// on. The bullets below say what one node keeps to itself and what a
// cluster does with it.
//
// A Parley node keeps its clients' sockets, sessions and live query
// instances in memory by nature: a client reconnecting to another node
// resubscribes there, and its resent mutations are answered from
// mutation_log, which is in Postgres. Everything else durable is in
// Postgres too: conversations, messages, typing state, upload URLs, files'
// rows. What lives in one process today, and what a second node needs:
//
//   - Rate limiters (package chat: sendMessage, updateTypingStatus and
//     generateUploadUrl, one token bucket per user and function; package
//     support: heartbeats per user; package guestauth: POST /api/guest
//     per client address). By default in memory (keyrate.Memory): behind
//     a round-robin load balancer each node grants the full rate, so N
//     nodes allow N times the limit. With Config.SharedState they are
//     rows of rate_limits (keyrate.PG: GCRA, one statement per call,
//     serialized per key by the row's lock), so the limit stays the
//     configured one with N nodes; each node sweeps idle rows every
//     minute (idempotent). A database that does not answer within 500ms
//     grants the call (fail open, logged at most every 10s). The guest
//     key (--guest-key, else GUEST-KEY file beside the media key) must be
//     the same on every node, or a guest's token works on one node only.
//   - Tickets (POST /api/tickets, which stand in for a JWT in SSE and
//     long-poll URLs). By default in the node's memory: a ticket is good
//     on the node that issued it only. With Config.SharedState they are
//     rows of transport_tickets (internal/pgtickets: the ticket's
//     SHA-256, never the ticket), redeemed by one UPDATE … RETURNING, so
//     a ticket bought from one node is good once on any; each node
//     sweeps expired rows every minute.
//   - Typing expiry and other timed re-runs (the engine's refresh times,
//     set by QueryCtx.RefreshAt). The indicator's state is a typing_state
//     row, so every node computes the same answer; each node only re-runs
//     its own instances when an indicator expires. Nothing to share, but
//     the nodes' clocks must agree (NTP), since the expiry compares the
//     row's time with the node's.
//   - Presence (package support: one entry per connection, kept alive by
//     heartbeats, in a support.MemoryPresence). A user connected to two
//     nodes is known to each only through its own connections, and a
//     node's queries hear only of its own changes. In a cluster,
//     cluster.Presence merges every node's entries (connection ids
//     qualified by node) and tells each node's service of every change, so
//     its Invalidate re-runs the queries there. The assistant's streaming
//     answers are mirrored the same way (cluster.Streams).
//   - The media store and its URLs (media.DirStore under --media-dir, URLs
//     signed with --media-key and starting with --public-url). Every node
//     must reach the same objects (with Config.SharedState a
//     media.PGStore, the bytes in media_objects; or a shared volume, or
//     a media.Store on object storage), sign with the same key and name
//     the load balancer's public URL. The janitor may run on every node:
//     its sweeps take rows with FOR UPDATE SKIP LOCKED.
//   - The replication slot (Config.Source: by default a pgrepl.Source on a
//     permanent slot of the node's own, Config.ReplicationSlot, default
//     parley_<database>: two nodes on one database must name theirs). Each
//     node decodes the whole WAL itself, so N nodes cost Postgres N
//     walsenders and N decodings; a reconnect resumes the slot and re-runs
//     only what the gap's commits touched. In a cluster one node at a
//     time, elected, reads the one shared slot and publishes decoded
//     commits on JetStream; every node follows them through a
//     cluster.Source; the engine needed no change for that.
//   - Notification mail (Config.Mail; package events): the scans are river
//     periodic jobs, run by river's leader only, and every mail is a row
//     and a job in Postgres, so nodes share nothing but the unsubscribe
//     key (--unsubscribe-key, else UNSUBSCRIBE-KEY beside the media key),
//     which must be the same on every node for old links to keep working.
//     `parley dev` keeps mail in DATA/mail (package devmail), a directory
//     of that node's.
//   - The mutation log pruner runs hourly on every node: an idempotent
//     DELETE, harmless to repeat.
//   - The caps on sync sessions per client address and per user
//     (Config.MaxSessionsPerIP, MaxSessionsPerUser) count this node's
//     sessions only: behind a load balancer that spreads one client over N
//     nodes it may hold N times either cap. They bound what one client
//     takes of a node, which is what a node has to protect; a cluster-wide
//     count would put a database round trip in every connect.
//   - Metrics (/metrics) and health (/healthz) describe the node they are
//     scraped from.
package server
