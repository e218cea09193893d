// Package transport speaks to clients: the Convex sync protocol over
// WebSocket at /api/{version}/sync, the Convex HTTP API (POST /api/query,
// /api/mutation, /api/action), GET /healthz and GET /metrics. It is tied
// to gorilla/websocket and to the Convex wire format; the protocol state
// lives in reactive.Session.
//
// # Concurrency model
//
// Each connection has one reader goroutine, started when the HTTP handler
// has upgraded the request (the handler returns, releasing the HTTP
// server's per-request goroutine and buffers). The reader processes client
// messages in order. A writer goroutine runs only while there is something
// to send: the session's OnWake hook (or the ping timer, every
// PingInterval) starts one if none runs; it sends whatever Take returns
// until nothing is left, then exits. An idle connection therefore costs one
// goroutine and a timer. Writes have a deadline: a client that stops
// reading is disconnected, and its session's queue is bounded. Writers
// encode transitions into buffers from one shared sync.Pool, held only for
// the duration of a write, so an idle connection holds none. The reader
// waits for the writer before it releases the session; a connection's lock
// (wsConn.mu) is taken after the engine's and session's locks, never before.
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
