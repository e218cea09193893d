package functions

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is a domain event a mutation emits (MutationCtx.Emit): a fact about
// what the mutation changed, such as "message.created". The registry's
// Outbox writes a mutation's events in its transaction, just before it
// commits, so an event exists exactly when its mutation committed: never
// for one that rolled back or failed, once for one that a client resent
// (the resend replays the mutation log and emits nothing).
type Event struct {
	// Type names the event ("message.created").
	Type string
	// ConversationID is the conversation the event is about; "" for none.
	ConversationID string
	// MessageID is the message the event is about; "" for none.
	MessageID string
	// Data is the event's payload, encoded as JSON.
	Data any
	// Actor is who caused it. Nil means the mutation's caller (or the
	// system, for a mutation without one).
	Actor *Identity
}

// Outbox persists a mutation's events in its transaction. It is the
// events domain's hook into the runtime (Registry.SetOutbox): the runtime
// knows nothing of what is done with them.
type Outbox interface {
	// Write is called once per committing run of a mutation that emitted
	// events, inside its transaction, with the batch that will commit it.
	// It may run statements on tx (they cost a round trip each) and queue
	// statements on b (sent with the COMMIT, in the same round trip; b's
	// results are not read: a failing statement fails the commit). An
	// error rolls the mutation back. caller is the mutation's identity
	// (nil without one); now its time.
	Write(ctx context.Context, tx pgx.Tx, b *pgx.Batch, caller *Identity, now time.Time, events []Event) error
	// Failed is called when the commit of a run whose events Write wrote
	// failed with err (the run may be retried: a stale cache of Write's
	// can reload).
	Failed(err error)
}

// SetOutbox makes o persist the events of every mutation of r. Call it
// at start-up, before serving; nil discards events.
func (r *Registry) SetOutbox(o Outbox) { r.outbox.o = o }

// outboxRef is shared by a registry and its functions, so SetOutbox works
// after registration.
type outboxRef struct{ o Outbox }

// Emit records an event of the mutation, written with its commit. Events
// of a run that is retried (a serialization failure) are dropped with it.
func (c *MutationCtx) Emit(e Event) { c.events = append(c.events, e) }
