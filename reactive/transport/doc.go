// Package transport speaks to clients: the Convex sync protocol over
// WebSocket at /api/{version}/sync, the Convex HTTP API (POST /api/query,
// /api/mutation, /api/action), GET /healthz and GET /metrics. It is tied
// to gorilla/websocket and to the Convex wire format; the protocol state
// lives in reactive.Session.
//
// # Concurrency model
//
// Each connection has one reader (the HTTP handler goroutine) and one
// writer goroutine. The reader processes client messages in order; the
// writer sends whatever the session's Take returns when its Wake channel
// fires, plus a Ping every PingInterval. Writes have a deadline: a client
// that stops reading is disconnected, and its session's queue is bounded.
// Writers encode transitions into buffers from one shared sync.Pool, held
// only for the duration of a write, so an idle connection holds none.
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
