package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/jobs"
	"github.com/parley-chat/parley/schema"
)

// Envelope is an event as the log keeps it and webhooks and event
// streams send it.
type Envelope struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// TS is when it happened: RFC 3339 in UTC, with nanoseconds.
	TS             string          `json:"ts"`
	ConversationID *string         `json:"conversationId"`
	MessageID      *string         `json:"messageId,omitempty"`
	Actor          Actor           `json:"actor"`
	Data           json.RawMessage `json:"data"`
	ts             time.Time
}

// finish completes an Envelope read with dest.
func (ev *Envelope) finish() { ev.TS = ev.ts.UTC().Format(time.RFC3339Nano) }

// envelopeCols are the columns of events (as e) that make an Envelope,
// in dest's order.
const envelopeCols = `e.id, e.type, e.ts, e.conversation_id, e.message_id, e.actor_type, e.actor_id, e.data`

func (ev *Envelope) dest() []any {
	return []any{&ev.ID, &ev.Type, &ev.ts, &ev.ConversationID, &ev.MessageID, &ev.Actor.Type, &ev.Actor.ID, &ev.Data}
}

// Actor is who caused an event: type is a role (customer, store, admin,
// guest) or "system"; id its subject.
type Actor struct {
	Type string  `json:"type"`
	ID   *string `json:"id"`
}

// eventLock is the first key of the per-conversation advisory lock that
// orders a conversation's events (pg_advisory_xact_lock(int, int): apart
// from every one-key lock).
const eventLock = 0x65766e74 // "evnt"

// Write is the outbox (functions.Outbox): it queues, on the batch that
// commits the mutation, the per-conversation locks, the events and the
// check that this node knows every webhook that wants them; and, for the
// webhooks it knows, inserts their deliveries' jobs in the transaction.
func (s *Service) Write(ctx context.Context, tx pgx.Tx, b *pgx.Batch, caller *functions.Identity, now time.Time, evs []functions.Event) error {
	org := ""
	if caller != nil {
		org = caller.Org
	}
	n := len(evs)
	var (
		ids, types, convs, msgs = make([]string, n), make([]string, n), make([]*string, n), make([]*string, n)
		actorTypes, actorIDs    = make([]string, n), make([]*string, n)
		datas                   = make([]string, n)
		locks                   []string
	)
	for i, e := range evs {
		ids[i], types[i] = schema.NewID("evt_"), e.Type
		if e.ConversationID != "" {
			convs[i] = &e.ConversationID
			if !slices.Contains(locks, e.ConversationID) {
				locks = append(locks, e.ConversationID)
			}
		}
		if e.MessageID != "" {
			msgs[i] = &e.MessageID
		}
		actor := e.Actor
		if actor == nil {
			actor = caller
		}
		actorTypes[i] = "system"
		if actor != nil {
			actorTypes[i], actorIDs[i] = string(actor.Role), &actor.Subject
		}
		data := e.Data
		if data == nil {
			data = struct{}{}
		}
		raw, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encode %s: %w", e.Type, err)
		}
		datas[i] = string(raw)
	}
	// Locks in one order, so two mutations never wait for each other.
	slices.Sort(locks)
	if len(locks) > 0 {
		b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext(c)) FROM unnest($2::text[]) WITH ORDINALITY AS l(c, i) ORDER BY i`,
			eventLock, locks)
	}
	b.Queue(`INSERT INTO events (id, type, ts, org_id, conversation_id, message_id, actor_type, actor_id, data)
		SELECT e.id, e.type, $3, $4, e.conv, e.msg, e.actor_type, e.actor_id, e.data::jsonb
		FROM unnest($1::text[], $2::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
			AS e(id, type, conv, msg, actor_type, actor_id, data)`,
		ids, types, now, org, convs, msgs, actorTypes, actorIDs, datas)
	for _, t := range types {
		s.metrics.events.WithLabelValues(t).Inc()
	}

	hooks, err := s.hooks.get(ctx, tx, org)
	if err != nil {
		return err
	}
	known := make([]string, 0, len(hooks))
	var params []river.InsertManyParams
	var dIDs, dHooks, dEvents, dTypes []string
	for _, h := range hooks {
		known = append(known, h.id)
		for i, t := range types {
			if !h.wants(t) {
				continue
			}
			d := schema.NewID("whd_")
			dIDs, dHooks, dEvents, dTypes = append(dIDs, d), append(dHooks, h.id), append(dEvents, ids[i]), append(dTypes, t)
			params = append(params, river.InsertManyParams{Args: deliverArgs{DeliveryID: d}, InsertOpts: deliverOpts()})
		}
	}
	b.Queue(`SELECT events_check_webhooks($1, $2, $3)`, org, types, known)
	if len(params) == 0 {
		return nil
	}
	if s.queue == nil {
		return errors.New("events: no job queue (SetQueue)")
	}
	if _, err := s.queue.InsertManyFastTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue deliveries: %w", err)
	}
	b.Queue(`INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, retry_since, created_at)
		SELECT d.id, d.hook, d.event, d.type, $5, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS d(id, hook, event, type)`,
		dIDs, dHooks, dEvents, dTypes, now)
	return nil
}

// Failed is the outbox's hook for a failed commit: when the webhook check
// failed, the node's list is stale, and the retry reads it again.
func (s *Service) Failed(err error) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "40001" && pgErr.Message == "parley: webhooks changed" {
		s.hooks.invalidate()
	}
}

// deliverOpts are a delivery job's insert options: its queue, and more
// attempts than any horizon needs (the worker ends it at the horizon).
func deliverOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: jobs.QueueWebhooks, MaxAttempts: 1000}
}

// hook is a cached enabled webhook.
type hook struct {
	id     string
	events []string
}

func (h hook) wants(t string) bool {
	return slices.Contains(h.events, "*") || slices.Contains(h.events, t)
}

// hookCache is a node's list of enabled webhooks, per org, read again
// after ttl or when a commit's check finds it stale. Safe for concurrent
// use.
type hookCache struct {
	ttl  time.Duration
	mu   sync.Mutex
	at   time.Time
	orgs map[string][]hook
}

func newHookCache(ttl time.Duration) *hookCache { return &hookCache{ttl: ttl} }

func (c *hookCache) invalidate() {
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}

// get returns org's enabled webhooks, read again through q (the
// mutation's transaction: a read through the pool could wait for a
// connection that a transaction waiting for this lock holds) when stale.
func (c *hookCache) get(ctx context.Context, q schema.Querier, org string) ([]hook, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < c.ttl {
		return c.orgs[org], nil
	}
	rows, err := q.Query(ctx, `SELECT id, org_id, events FROM webhooks WHERE enabled`)
	if err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	orgs := map[string][]hook{}
	var h hook
	var o string
	if _, err := pgx.ForEachRow(rows, []any{&h.id, &o, &h.events}, func() error {
		orgs[o] = append(orgs[o], h)
		h = hook{}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	c.orgs, c.at = orgs, time.Now()
	return orgs[org], nil
}
