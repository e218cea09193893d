// Package faultnet is a TCP proxy that tests put between a client and a
// server (Parley and Postgres) to cut the network between them and restore
// it: a blip, or a database that went away and came back.
//
// A Link owns its listener, every connection it accepted and every
// upstream connection it opened. Cut closes all of them and makes the
// link refuse new connections at once (accepted, then closed) until
// Restore. CutAfter arms a cut for the moment a client sends a given
// pattern: the bytes reach the server, the reply is lost.
//
// # Concurrency model
//
// One accept goroutine, started by New, and two copy goroutines per
// proxied connection. A Link's methods are safe for concurrent use; a
// mutex guards the connection set and the cut state.
//
// # Lifecycle
//
// New starts listening on 127.0.0.1:0. Close stops accepting, closes every
// connection and returns after every goroutine the Link started has
// exited; it is idempotent.
//
// # Invariants
//
// While a Link is cut no byte passes it: connections open at the cut are
// closed under the mutex before Cut returns, and connections accepted
// while cut are closed before an upstream is dialled. The one exception is
// the connection that fired CutAfter's trigger: for half a second more it
// carries client bytes upstream, and never a byte back.
package faultnet
