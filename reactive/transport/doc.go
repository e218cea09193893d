// Package transport speaks to clients: the Convex sync protocol over
// WebSocket at /api/{version}/sync, over Server-Sent Events at
// /api/{version}/sse-sync and over long polling at /api/{version}/poll-sync
// (for networks whose proxies refuse the WebSocket Upgrade), one query's
// results over SSE or long polling (GET /api/sse, /api/poll, for
// EventSource and scripts), the tickets that stand in for a JWT in those
// URLs (POST /api/tickets), the Convex HTTP API (POST /api/query,
// /api/mutation, /api/action), GET /healthz and GET /metrics. It is tied
// to gorilla/websocket and to the Convex wire format; the protocol state
// lives in reactive.Session.
//
// # Layout
//
// One protocol, many transports. protocol.go is the sync protocol apart
// from any transport: it parses a client message and dispatches it to the
// connection's session (handle), and it writes what the session has to
// send, in the protocol's order, through the transport's frameWriter
// (writeOutbox); wire.go encodes the protocol's messages. ws.go is the
// WebSocket transport: the upgrade, the connection's goroutines, the ping,
// the write timeout and the Close frame; it implements frameWriter, which
// only frames bytes and maps the protocol's close to WebSocket close
// codes. sse.go (an SSE stream out, POSTs in) and poll.go (long polls
// out, POSTs in) are the sync protocol's other transports, each a
// frameWriter too; httpconn.go is what they share: a connection that
// outlives its requests, named by an unguessable id in ?connection=, and
// the POST that hands client messages to handle. subscription.go serves
// one query's results without the sync protocol (GET /api/sse, /api/poll),
// on a reactive.Session subscribed to that one query, so access checks,
// sharing and MaxPendingBytes are the sync protocol's; events.go is its
// event mode (events=1), the hook for a domain-events query; tickets.go
// the single-use tickets. http.go is the HTTP API. server.go holds the
// configuration, the routes, /healthz and the server's lifecycle;
// metrics.go the sessions per transport; alarm.go the one timer heap
// behind every connection's times.
//
// # Concurrency model
//
// The protocol core keeps no state of its own: a connection's state is its
// reactive.Session and its transport's. A transport calls handle from one
// goroutine at a time, in the order messages arrived, and writeOutbox from
// one goroutine at a time, which may run alongside handle. HTTP API calls
// run on the HTTP server's request goroutines.
//
// Each WebSocket connection has one goroutine of its own, started when the
// HTTP handler has upgraded the request (the handler returns, releasing
// the HTTP server's per-request goroutine and buffers). It waits, for
// nearly all of a connection's life, until the socket has data, without
// reading it (syscall.RawConn.Read with a peek), so its stack stays at the
// minimum: gorilla's read path is deep. When data arrives it starts a
// reader goroutine, which reads messages until gorilla's buffer is empty,
// then exits. The reader only reads: it queues each client message (at
// most inboxSize wait; then it stops reading and TCP pushes back) and
// starts a handler goroutine if none runs. The handler hands queued
// messages to handle in order until none is left, then exits, so the deep
// stacks of running queries and mutations never stay with an idle
// connection either. A writer goroutine likewise runs only while there is
// something to send: the session's OnWake hook (or the ping alarm, every
// PingInterval) starts one if none runs; it passes whatever Take returns
// to writeOutbox until nothing is left, then exits. An idle connection
// therefore costs one goroutine with a small stack, and no runtime timer:
// its ping, its token's expiry and its write timeout are alarms in one
// heap of the server's (alarms). A write that outlasts WriteTimeout closes
// the connection: a client that stops reading is disconnected, logged and
// counted as too slow, so the outbox its writer holds is held for
// WriteTimeout at most. Meanwhile its session queues only responses,
// within MaxPendingBytes; its results wait as the engine's own, coalesced
// per query (reactive's doc, "What a slow client costs"), which is why a
// client that reads many large results at once is never cut off for
// their size. Long polling holds one outbox's frames until the next poll
// (poll.go). writeOutbox encodes transitions into buffers
// from one shared sync.Pool, held only for the duration of a write, so an
// idle connection holds none. The reader waits for the handler and the
// writer before it releases the session; a connection's lock (wsConn.mu)
// is never held while calling into the protocol, the session or the
// engine.
//
// # Lifecycle
//
// New registers the routes. A connection's session is opened when the
// connection is accepted and closed once its goroutines have exited.
// Shutdown (for http.Server.RegisterOnShutdown) ends every long-lived
// connection at once: SSE streams get a close event (1001), long polls
// answer with one, since http.Server.Shutdown waits for running requests.
// After http.Server.Shutdown, Close ends every WebSocket connection and
// waits for its goroutines and for every SSE and long-polling
// connection's release. An SSE sync connection ends with its stream (the
// client went away, the protocol closed it, or a write outlasted
// WriteTimeout); a long-polling one when its client DELETEs it, the
// protocol closed it and the poll carrying the close was answered, or no
// poll was under way for PollIdleTimeout. Its session is closed then.
//
// # Invariants
//
// A function error reaches the client as errorData {"code", "status",
// "error"}; internal errors are logged here once and sent as
// "Internal server error". writeOutbox alone orders what a session sends:
// its messages, then its transition, then the close; a transport adds
// nothing but its pings, between outboxes. After an AuthError the
// connection is closed as an authentication failure (WebSocket code 1000)
// and the client reconnects with a fresh token; a FatalError closes it for
// good (code 1008). A session is sent Parley's own ParleyStatus message
// ({"type":"ParleyStatus","stale":bool}, after Connect and whenever
// reactive.Engine.Stale changes) only when its client opted in with
// ?parleyStatus=1 on the sync URL: the official Convex client treats an
// unknown message type as a protocol error. Result values are valid JSON (the engine makes them
// with json.Marshal) and go into transitions verbatim, never re-validated.
//
// A sync session (WebSocket, SSE, long poll) takes a place under two caps
// (caps.go), this node's alone: Config.MaxSessionsPerIP per client address
// (Config.ClientIP tells it: the peer, or the client a trusted proxy
// names; an IPv6 address counts as its /64), taken before the upgrade, so
// a refusal is a 429 in the usual error body; and Config.MaxSessionsPerUser
// per user (a verified token's org and subject), taken in Authenticate,
// since that is where a session's identity comes from: a session that
// authenticates as a full user gets a FatalError naming the cap and is
// closed (1008), not an AuthError, which would make the client reconnect
// at once with a fresh token. A session holds at most one user's place:
// a fresh token of the same user takes none, another user's moves it,
// Authenticate None gives it back. Both places are given back when the
// session closes. Single subscriptions (GET /api/sse, /api/poll) take
// none. Each refusal is counted in parley_transport_refused_total
// (ip_sessions, user_sessions).
//
// SSE and long polling carry exactly the frames a WebSocket carries, from
// the same writeOutbox, and close with the WebSocket's codes (in a close
// event or a poll's close field). The identity of every transport comes
// only from a token the Verifier accepted: in Authenticate for the sync
// protocol, in an Authorization header or a ticket for a single
// subscription. A ticket is 256 random bits, good for one request, for
// TicketTTL at most and never past its token's exp, and kept in a
// TicketStore: this server's memory by default, or one every node shares
// (internal/pgtickets), only as its SHA-256 either way. Neither tickets, tokens nor connection ids are logged
// here; no URL is.
package transport
