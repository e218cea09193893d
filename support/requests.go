package support

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/schema"
)

// Request priorities, lowest first: the queue serves higher ones first,
// then the longest waiting.
var priorities = []string{"low", "normal", "high", "urgent"}

// DefaultPriority is a request's priority when the customer names none.
const DefaultPriority = "normal"

func priorityOf(name string) (int, bool) {
	for i, p := range priorities {
		if p == name {
			return i, true
		}
	}
	return 0, false
}

func priorityName(p int) string {
	if p < 0 || p >= len(priorities) {
		return DefaultPriority
	}
	return priorities[p]
}

// Request states.
const (
	StateQueued   = "queued"
	StateAssigned = "assigned"
	StateClosed   = "closed"
	// StateNone is getMyQueueStatus's answer for a conversation that never
	// asked for an agent.
	StateNone = "none"
)

// request is a support_requests row.
type request struct {
	id, org, conversationID  string
	customerID, customerName string
	topic                    *string
	skills                   []string
	priority                 int
	orderID                  *string
	state                    string
	agentID, agentName       *string
	enqueuedAt               time.Time
	assignedAt, closedAt     *time.Time
	closeReason              *string
}

const requestCols = `id, org_id, conversation_id, customer_id, customer_name, topic, skills, priority, order_id, state,
	agent_id, agent_name, enqueued_at, assigned_at, closed_at, close_reason`

func scanRequest(row pgx.Row) (request, error) {
	var r request
	err := row.Scan(&r.id, &r.org, &r.conversationID, &r.customerID, &r.customerName, &r.topic, &r.skills, &r.priority,
		&r.orderID, &r.state, &r.agentID, &r.agentName, &r.enqueuedAt, &r.assignedAt, &r.closedAt, &r.closeReason)
	return r, schema.OneRow(err)
}

// requestTables is the domain's access to support_requests for one
// execution: reads record their keys (schema.DB.Record), writes run in
// the mutation's transaction.
type requestTables struct{ *schema.DB }

// recordOrg notes a read of the org's requests: any change of one re-runs
// the query (positions, loads and handle times all move together).
func (t requestTables) recordOrg(org string) {
	t.Record(schema.Dep{Table: "support_requests", Column: "org_id", Value: org})
}

// latest reads the conversation's open request, else its latest closed
// one (schema.ErrNoRow: none).
func (t requestTables) latest(ctx context.Context, convID string) (request, error) {
	t.Record(schema.Dep{Table: "support_requests", Column: "conversation_id", Value: convID})
	return scanRequest(t.Querier().QueryRow(ctx, `SELECT `+requestCols+` FROM support_requests WHERE conversation_id = $1
		ORDER BY state = 'closed', enqueued_at DESC, id DESC LIMIT 1`, convID))
}

// openForUpdate reads and locks the conversation's open request (queued
// or assigned); schema.ErrNoRow: none.
func (t requestTables) openForUpdate(ctx context.Context, org, convID string) (request, error) {
	return scanRequest(t.Querier().QueryRow(ctx, `SELECT `+requestCols+` FROM support_requests
		WHERE org_id = $1 AND conversation_id = $2 AND state <> 'closed' FOR UPDATE`, org, convID))
}

// positions reads the org's queue in order: each queued request's place,
// from 1, by id (by priority, then enqueued_at, then id).
func (t requestTables) positions(ctx context.Context, org string) (map[string]int, error) {
	t.recordOrg(org)
	rows, err := t.Querier().Query(ctx, `SELECT id FROM support_requests WHERE org_id = $1 AND state = 'queued'
		ORDER BY priority DESC, enqueued_at, id`, org)
	if err != nil {
		return nil, fmt.Errorf("read queue positions: %w", err)
	}
	out := map[string]int{}
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { out[id] = len(out) + 1; return nil })
	if err != nil {
		return nil, fmt.Errorf("read queue positions: %w", err)
	}
	return out, nil
}

// queueRow is a queued request with its conversation's latest message.
type queueRow struct {
	request
	preview       *string
	lastMessageAt *time.Time
}

// queued reads the org's queue in order, at most limit requests, and how
// many wait in all.
func (t requestTables) queued(ctx context.Context, org string, limit int) ([]queueRow, int, error) {
	t.recordOrg(org)
	var total int
	if err := t.Querier().QueryRow(ctx, `SELECT count(*) FROM support_requests WHERE org_id = $1 AND state = 'queued'`, org).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count queue: %w", err)
	}
	rows, err := t.Querier().Query(ctx, `SELECT r.id, r.org_id, r.conversation_id, r.customer_id, r.customer_name, r.topic, r.skills,
			r.priority, r.order_id, r.state, r.agent_id, r.agent_name, r.enqueued_at, r.assigned_at, r.closed_at, r.close_reason,
			c.last_message_preview, c.last_message_at
		FROM support_requests r JOIN conversations c ON c.id = r.conversation_id
		WHERE r.org_id = $1 AND r.state = 'queued' ORDER BY r.priority DESC, r.enqueued_at, r.id LIMIT $2`, org, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("read queue: %w", err)
	}
	var out []queueRow
	var q queueRow
	_, err = pgx.ForEachRow(rows, []any{&q.id, &q.org, &q.conversationID, &q.customerID, &q.customerName, &q.topic, &q.skills,
		&q.priority, &q.orderID, &q.state, &q.agentID, &q.agentName, &q.enqueuedAt, &q.assignedAt, &q.closedAt, &q.closeReason,
		&q.preview, &q.lastMessageAt}, func() error {
		out = append(out, q)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read queue: %w", err)
	}
	for _, q := range out {
		t.Record(schema.Dep{Table: "conversations", Column: "id", Value: q.conversationID, Watch: "last_message_preview,last_message_at"})
	}
	return out, total, nil
}

// loads counts each agent's assigned (open) chats in org.
func (t requestTables) loads(ctx context.Context, org string) (map[string]int, error) {
	t.recordOrg(org)
	rows, err := t.Querier().Query(ctx, `SELECT agent_id, count(*)::int FROM support_requests
		WHERE org_id = $1 AND state = 'assigned' GROUP BY agent_id`, org)
	if err != nil {
		return nil, fmt.Errorf("read agents' loads: %w", err)
	}
	out := map[string]int{}
	var agent string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&agent, &n}, func() error { out[agent] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("read agents' loads: %w", err)
	}
	return out, nil
}

// load counts one agent's assigned chats (mutations: the transaction sees
// every concurrent pick it must not ignore, or fails to serialize).
func (t requestTables) load(ctx context.Context, org, agent string) (int, error) {
	var n int
	err := t.Querier().QueryRow(ctx, `SELECT count(*) FROM support_requests WHERE org_id = $1 AND state = 'assigned' AND agent_id = $2`,
		org, agent).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read agent's load: %w", err)
	}
	return n, nil
}

// handleTime averages, over the org's latest window closed chats that an
// agent held, the time from assignment to close; n is how many there were.
func (t requestTables) handleTime(ctx context.Context, org string, window int) (avg time.Duration, n int, err error) {
	t.recordOrg(org)
	var secs *float64
	err = t.Querier().QueryRow(ctx, `SELECT count(*)::int, avg(extract(epoch FROM closed_at - assigned_at))::float8 FROM (
			SELECT closed_at, assigned_at FROM support_requests WHERE org_id = $1 AND state = 'closed' AND assigned_at IS NOT NULL
			ORDER BY closed_at DESC LIMIT $2) x`, org, window).Scan(&n, &secs)
	if err != nil {
		return 0, 0, fmt.Errorf("read handle time: %w", err)
	}
	if secs != nil {
		avg = time.Duration(*secs * float64(time.Second))
	}
	return avg, n, nil
}

// insert queues a new request.
func (t requestTables) insert(ctx context.Context, r request) error {
	_, err := t.Querier().Exec(ctx, `INSERT INTO support_requests (id, org_id, conversation_id, customer_id, customer_name, topic,
		skills, priority, order_id, state, enqueued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10)`,
		r.id, r.org, r.conversationID, r.customerID, r.customerName, r.topic, r.skills, r.priority, r.orderID, r.enqueuedAt)
	if err != nil {
		return fmt.Errorf("queue request: %w", err)
	}
	return nil
}

// pick takes, in one statement, the org's best queued request agent may
// handle: every skill it needs among the agent's (their profile's; none
// without one), while the agent's assigned requests are fewer than their
// capacity (defaultCapacity without a profile); locked, skipping those
// another transaction holds. schema.ErrNoRow: none (next and the reasons
// say why). pickNext runs it first, so that its transaction's snapshot is
// taken as it runs: a request another pick took and committed before is
// seen taken, rather than failing this transaction to serialize.
func (t requestTables) pick(ctx context.Context, org, agent string, defaultCapacity int) (request, error) {
	return scanRequest(t.Querier().QueryRow(ctx, `WITH me AS (
			SELECT coalesce(a.skills, '{}') AS skills, coalesce(a.capacity, $3) AS capacity
			FROM (SELECT 1) one LEFT JOIN support_agents a ON a.org_id = $1 AND a.user_id = $2
		), load AS (
			SELECT count(*) AS n FROM support_requests WHERE org_id = $1 AND state = 'assigned' AND agent_id = $2
		)
		SELECT r.id, r.org_id, r.conversation_id, r.customer_id, r.customer_name, r.topic, r.skills, r.priority, r.order_id,
			r.state, r.agent_id, r.agent_name, r.enqueued_at, r.assigned_at, r.closed_at, r.close_reason
		FROM support_requests r, me, load
		WHERE r.org_id = $1 AND r.state = 'queued' AND r.skills <@ me.skills AND load.n < me.capacity
		ORDER BY r.priority DESC, r.enqueued_at, r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED`, org, agent, defaultCapacity))
}

// unmatched reports whether the org has a queued request that needs a
// skill outside skills. (Those next skipped because a concurrent pick
// holds them are being taken: they do not count.)
func (t requestTables) unmatched(ctx context.Context, org string, skills []string) (bool, error) {
	var ok bool
	err := t.Querier().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM support_requests WHERE org_id = $1 AND state = 'queued'
		AND NOT skills <@ $2::text[])`, org, skills).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read queue: %w", err)
	}
	return ok, nil
}

// assign gives a request to an agent.
func (t requestTables) assign(ctx context.Context, id, agent, agentName string, at time.Time) error {
	_, err := t.Querier().Exec(ctx, `UPDATE support_requests SET state = 'assigned', agent_id = $2, agent_name = $3,
		assigned_at = coalesce(assigned_at, $4) WHERE id = $1`, id, agent, agentName, at)
	if err != nil {
		return fmt.Errorf("assign request: %w", err)
	}
	return nil
}

// requeue puts a request back in the queue with skills, at its place.
func (t requestTables) requeue(ctx context.Context, id string, skills []string) error {
	_, err := t.Querier().Exec(ctx, `UPDATE support_requests SET state = 'queued', agent_id = NULL, agent_name = NULL, skills = $2
		WHERE id = $1`, id, skills)
	if err != nil {
		return fmt.Errorf("requeue request: %w", err)
	}
	return nil
}

// close closes a request.
func (t requestTables) close(ctx context.Context, id string, reason *string, at time.Time) error {
	_, err := t.Querier().Exec(ctx, `UPDATE support_requests SET state = 'closed', closed_at = $2, close_reason = $3 WHERE id = $1`,
		id, at, reason)
	if err != nil {
		return fmt.Errorf("close request: %w", err)
	}
	return nil
}

// noRow reports whether err is schema.ErrNoRow.
func noRow(err error) bool { return errors.Is(err, schema.ErrNoRow) }
