// Package syncclient is a small Go client of the Convex sync protocol as
// Parley speaks it (WebSocket at /api/<clientVersion>/sync). Parley's own
// tests drive the server with it, and the load generator (`parley bench`)
// is meant to. It owns one WebSocket connection per Client, the client side
// of the protocol state (the {querySet, identity, ts} version, query ids,
// request ids) and the latest result of every subscribed query.
//
// It follows the official `convex` npm client where that matters for
// correctness: args travel as a one-element array, ModifyQuerySet and
// Authenticate carry consecutive versions, and a successful mutation
// resolves only when a Transition that arrives after its MutationResponse
// reaches the mutation's ts (read-your-writes). It keeps the journal sent
// with every result (Update.Journal); SubscribeJournal sends one back in an
// Add, as the official client does when it resubscribes after a reconnect.
// It does not reconnect: a lost connection ends the Client, and pending
// calls fail with ErrClosed.
//
// Unlike the official client it checks the server. Every Transition's
// startVersion must equal the version the client holds; ts, querySet and
// identity must not go backwards nor past what the client sent; results
// may only name queries the client added, and only once their Add is
// applied and before their Remove is; once a Transition covers an Add's
// querySet version, that query must have a result, and once it covers a
// Remove, the QueryRemoved must have come; a MutationResponse must answer a
// request in flight. A violation is recorded (see ProtocolErrors) and the
// Transition is still applied, so one server mistake is reported once
// rather than wedging every later check. Results pushed again unchanged are
// legal but wasteful; SubStats counts them.
//
// # Concurrency model
//
// Each Client has one reader goroutine, started by Dial, which owns the
// connection's read side and applies every server message under the
// Client's mutex. Calls that send (Subscribe, Unsubscribe, Mutation,
// Authenticate) may come from any goroutine; a write mutex keeps each
// message whole and keeps versions in the order they are sent. Lock order:
// the write mutex before the state mutex; the reader takes only the state
// mutex. A Subscription's Updates channel holds one Update and never
// blocks the reader: a newer Update replaces an unread one.
//
// # Lifecycle
//
// Dial connects and sends Connect (and Authenticate when a token is
// given). Close closes the connection and returns after the reader has
// exited; it is idempotent. When the reader exits (Close, a server close,
// a network error, the inactivity timeout) Done is closed, Err tells why,
// pending mutations fail, and every Updates channel is closed.
//
// # Invariants
//
// Versions sent are consecutive: ModifyQuerySet{base, base+1} and
// Authenticate{base} with base counting every earlier Authenticate. Query
// ids and request ids start at 0 and are never reused within a Client, so a
// second Client with the same SessionID resends request ids 0, 1, … like a
// reconnecting official client.
package syncclient
