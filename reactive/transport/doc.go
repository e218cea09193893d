// Package transport speaks to clients: the Convex sync protocol over
// WebSocket at /api/{version}/sync, the Convex HTTP API (POST /api/query,
// /api/mutation, /api/action), GET /healthz and GET /metrics. It is tied
// to gorilla/websocket and to the Convex wire format; the protocol state
// lives in reactive.Session.
//
// # Concurrency model
//
// Each connection has one goroutine of its own, started when the HTTP
// handler has upgraded the request (the handler returns, releasing the HTTP
// server's per-request goroutine and buffers). It waits, for nearly all of
// a connection's life, until the socket has data, without reading it
// (syscall.RawConn.Read with a peek), so its stack stays at the minimum:
// gorilla's read path is deep. When data arrives it starts a reader
// goroutine, which reads messages until gorilla's buffer is empty, then
// exits. The reader only reads: it queues each client message (at most
// inboxSize wait; then it stops reading and TCP pushes back) and starts a
// handler goroutine if none runs. The handler handles queued messages in
// order until none is left, then exits, so the deep stacks of running
// queries and mutations never stay with an idle connection either. A
// writer goroutine likewise runs only while there is something to send:
// the session's OnWake hook (or the ping alarm, every PingInterval) starts
// one if none runs; it sends whatever Take returns until nothing is left,
// then exits. An idle connection therefore costs one goroutine with a
// small stack, and no runtime timer: its ping, its token's expiry and its
// write timeout are alarms in one heap of the server's (alarms). A write
// that outlasts WriteTimeout closes the connection: a client that stops
// reading is disconnected, and its session's queue is bounded. Writers
// encode transitions into buffers from one shared sync.Pool, held only for
// the duration of a write, so an idle connection holds none. The reader waits for the handler and the writer before it
// releases the session; a connection's lock (wsConn.mu) is never held
// while calling into the session or the engine.
//
// # Lifecycle
//
// New registers the routes. After http.Server.Shutdown, Close ends every
// WebSocket connection and waits for its goroutines.
//
// # Invariants
//
// A function error reaches the client as errorData {"code", "status",
// "error"}; internal errors are logged here once and sent as
// "Internal server error". After an AuthError the connection is closed with
// code 1000 and the client reconnects with a fresh token; a FatalError
// closes it for good. Result values are valid JSON (the engine makes them
// with json.Marshal) and go into transitions verbatim, never re-validated.
package transport
