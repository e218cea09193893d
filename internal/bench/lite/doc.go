// Package lite is a lightweight, passive sync-protocol client for the load
// generator's many sessions (scenario b's viewers, d's sessions, c's idle
// ones). internal/syncclient decodes every frame with encoding/json and
// checks the protocol, which at 1,000 viewers × 20 writes/s costs the
// generator more CPU than the server spends producing the pushes. A lite
// Client instead scans each Transition for just the modifications'
// queryId and the span of their value (scan.go: a JSON scanner just deep
// enough for server messages), counts the results, and hands the value of
// query 0 (getMessages) to Options.OnMessages, if set, without decoding
// it. A session with OnMessages reuses one read buffer; an idle one keeps
// none between its rare frames.
//
// It does not verify the protocol (a syncclient session does); it reports
// AuthError, FatalError and frames it cannot parse as protocol errors
// (ProtocolErrors, at most 100 of them). It also sends mutations: one
// resolves at its MutationResponse, which the server releases only after
// the mutation's push (Call also returns its result). Elements and Fields
// expose the scanner to OnMessages callbacks that look inside a result's
// message objects without decoding them.
//
// # Concurrency model
//
// A Client is safe for concurrent use. One reader goroutine, started by
// Dial and ended by Close or the connection's end, owns the read side and
// is the only caller of OnMessages. Writes to the socket (Mutation's
// request, Close's close frame) are serialised by one mutex; a second one
// guards the rest of the state. Mutation takes the write lock before the
// state lock, never the other way round.
//
// # Lifecycle
//
// Dial connects, sends Connect, Authenticate and one ModifyQuerySet adding
// Options.Queries (query i gets id i), starts the reader and returns
// without waiting for results; WaitFirst waits until every query has its
// first result. Close sends a close frame, closes the connection and waits
// for the reader; Done is closed when the reader has exited, and Err then
// says why. Mutations in flight when the connection ends fail with an
// error wrapping syncclient.ErrClosed.
//
// # Invariants
//
// The Client never removes a query: the query set it subscribed in Dial is
// the one it has until it closes. Pushes counts every QueryUpdated and
// QueryFailed modification received, first results included.
package lite
