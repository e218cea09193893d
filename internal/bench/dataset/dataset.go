package dataset

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/functions"
)

// IDPrefix starts the id of every row the bench seeds and of every
// session id it connects with; the messages it inserts by SQL carry it
// after "msg" (InsertMessage).
const IDPrefix = "bench"

// Group is a scenario's data set: Convs store conversations, conversation
// i (1-based in SQL) between customer i and store i, whose staff are
// staff i_1 … i_Staff. Every id starts with Prefix, which starts with
// IDPrefix. Each conversation holds History messages from before the run,
// so that pages are full from the start.
type Group struct {
	Prefix  string
	Convs   int
	Staff   int
	History int
	Padding int // bytes added to each history message
}

// ConvID is the id of conversation i (0-based).
func (g Group) ConvID(i int) string { return fmt.Sprintf("%sconv%d", g.Prefix, i+1) }

// Customer is the customer of conversation i (0-based).
func (g Group) Customer(i int) functions.Identity {
	return functions.Identity{Subject: fmt.Sprintf("%scust%d", g.Prefix, i+1), Role: functions.RoleCustomer,
		Name: fmt.Sprintf("Bench Customer %d", i+1)}
}

// StaffMember is member j (0-based) of store i's staff.
func (g Group) StaffMember(i, j int) functions.Identity {
	return functions.Identity{Subject: fmt.Sprintf("%sstaff%d_%d", g.Prefix, i+1, j+1), Role: functions.RoleStore,
		Name: fmt.Sprintf("Bench Staff %d.%d", i+1, j+1), StoreID: fmt.Sprintf("%sstore%d", g.Prefix, i+1)}
}

// seedSQL creates a group's rows; $1 prefix, $2 conversations, $3 staff
// per store, $4 history messages per conversation, $5 padding. Every
// statement is idempotent.
var seedSQL = []string{
	`INSERT INTO users (id, name, role)
	 SELECT $1 || 'cust' || i, 'Bench Customer ' || i, 'customer' FROM generate_series(1, $2::int) i
	 ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO stores (id, name) SELECT $1 || 'store' || i, 'Bench Store ' || i FROM generate_series(1, $2::int) i
	 ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO users (id, name, role)
	 SELECT $1 || 'staff' || i || '_' || j, 'Bench Staff ' || i || '.' || j, 'store'
	 FROM generate_series(1, $2::int) i, generate_series(1, $3::int) j
	 ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO store_staff (store_id, user_id)
	 SELECT $1 || 'store' || i, $1 || 'staff' || i || '_' || j FROM generate_series(1, $2::int) i, generate_series(1, $3::int) j
	 ON CONFLICT DO NOTHING`,
	`INSERT INTO orders (id, customer_id, store_id, total_amount, status)
	 SELECT $1 || 'order' || i, $1 || 'cust' || i, $1 || 'store' || i, 10, 'delivered' FROM generate_series(1, $2::int) i
	 ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO conversations (id, conversation_type, customer_id, store_id, order_id, last_message_at, last_message_preview)
	 SELECT $1 || 'conv' || i, 'customer_to_store', $1 || 'cust' || i, $1 || 'store' || i, $1 || 'order' || i,
	        now() - interval '1 minute', 'history'
	 FROM generate_series(1, $2::int) i
	 ON CONFLICT DO NOTHING`,
	`INSERT INTO conversation_participants (conversation_id, user_id, role)
	 SELECT $1 || 'conv' || i, $1 || 'cust' || i, 'customer' FROM generate_series(1, $2::int) i
	 UNION ALL
	 SELECT $1 || 'conv' || i, $1 || 'staff' || i || '_' || j, 'store'
	 FROM generate_series(1, $2::int) i, generate_series(1, $3::int) j
	 ON CONFLICT DO NOTHING`,
	`INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, is_read, created_at)
	 SELECT $1 || 'hist' || i || '_' || k, $1 || 'conv' || i,
	        CASE WHEN k % 2 = 0 THEN $1 || 'cust' || i ELSE $1 || 'staff' || i || '_' || least($3::int, 1) END,
	        CASE WHEN k % 2 = 0 THEN 'customer' ELSE 'store' END,
	        'text', 'history ' || k || repeat(' ', least($5::int, 1)) || repeat('h', $5::int), true,
	        now() - interval '1 hour' + k * interval '1 second'
	 FROM generate_series(1, $2::int) i, generate_series(1, $4::int) k
	 ON CONFLICT (id) DO NOTHING`,
}

// resetSQL undoes what an earlier run wrote into a group: its messages
// (not the history), typing state, archived or blocked conversations, and
// the bench sessions' mutation replay records. $1 prefix.
var resetSQL = []string{
	`DELETE FROM messages WHERE conversation_id LIKE $1 || 'conv%' AND id NOT LIKE $1 || 'hist%'`,
	`DELETE FROM typing_state WHERE conversation_id LIKE $1 || 'conv%'`,
	`UPDATE conversations SET status = 'active', is_blocked = false
	 WHERE id LIKE $1 || 'conv%' AND (status <> 'active' OR is_blocked)`,
}

// resetReplaysSQL deletes the replay records of the bench's sessions.
const resetReplaysSQL = `DELETE FROM mutation_log WHERE session_id LIKE '` + IDPrefix + `-%'`

// Seed resets and creates g's rows in one transaction, then vacuums,
// analyzes and checkpoints (see analyze).
func Seed(ctx context.Context, pool *pgxpool.Pool, g Group) error {
	if !strings.HasPrefix(g.Prefix, IDPrefix) {
		return fmt.Errorf("seed: prefix %q does not start with %q", g.Prefix, IDPrefix)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range resetSQL {
			if _, err := tx.Exec(ctx, q, g.Prefix); err != nil {
				return fmt.Errorf("reset %s: %w", g.Prefix, err)
			}
		}
		if _, err := tx.Exec(ctx, resetReplaysSQL); err != nil {
			return fmt.Errorf("reset %s: %w", g.Prefix, err)
		}
		for _, q := range seedSQL {
			if _, err := tx.Exec(ctx, q, params(q, g.Prefix, g.Convs, g.Staff, g.History, g.Padding)...); err != nil {
				return fmt.Errorf("seed %s: %w", g.Prefix, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return analyze(ctx, pool)
}

var paramRE = regexp.MustCompile(`\$([0-9]+)`)

// params returns the first n of args, n being the highest $n in q: a
// statement takes exactly the parameters it names.
func params(q string, args ...any) []any {
	n := 0
	for _, m := range paramRE.FindAllStringSubmatch(q, -1) {
		k, _ := strconv.Atoi(m[1])
		n = max(n, k)
	}
	return args[:min(n, len(args))]
}

// IdleGroup is scenario c's idle conversations: Convs conversations of one
// store, PerCustomer to a customer (each about an order of its own), each
// with one old message. Nobody writes to them. Every id starts with
// Prefix, which starts with IDPrefix.
type IdleGroup struct {
	Prefix      string
	Convs       int
	PerCustomer int
}

// ConvID is the id of idle conversation i (0-based).
func (g IdleGroup) ConvID(i int) string { return fmt.Sprintf("%sconv%d", g.Prefix, i+1) }

// Customer is the customer of conversations k*PerCustomer … (k+1)*PerCustomer-1.
func (g IdleGroup) Customer(k int) functions.Identity {
	return functions.Identity{Subject: fmt.Sprintf("%scust%d", g.Prefix, k+1), Role: functions.RoleCustomer,
		Name: fmt.Sprintf("Bench Idle %d", k+1)}
}

// idleSQL creates an idle group; $1 prefix, $2 conversations, $3 per
// customer.
var idleSQL = []string{
	`INSERT INTO stores (id, name) VALUES ($1 || 'store', 'Bench Idle Store') ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO users (id, name, role)
	 SELECT $1 || 'cust' || k, 'Bench Idle ' || k, 'customer' FROM generate_series(1, ($2::int + $3::int - 1) / $3::int) k
	 ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO orders (id, customer_id, store_id, total_amount, status)
	 SELECT $1 || 'order' || i, $1 || 'cust' || ((i - 1) / $3::int + 1), $1 || 'store', 10, 'delivered'
	 FROM generate_series(1, $2::int) i
	 ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO conversations (id, conversation_type, customer_id, store_id, order_id, last_message_at, last_message_preview)
	 SELECT $1 || 'conv' || i, 'customer_to_store', $1 || 'cust' || ((i - 1) / $3::int + 1), $1 || 'store', $1 || 'order' || i,
	        now() - interval '1 day', 'idle'
	 FROM generate_series(1, $2::int) i
	 ON CONFLICT DO NOTHING`,
	`INSERT INTO conversation_participants (conversation_id, user_id, role)
	 SELECT $1 || 'conv' || i, $1 || 'cust' || ((i - 1) / $3::int + 1), 'customer' FROM generate_series(1, $2::int) i
	 ON CONFLICT DO NOTHING`,
	`INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, is_read, created_at)
	 SELECT $1 || 'hist' || i, $1 || 'conv' || i, $1 || 'cust' || ((i - 1) / $3::int + 1), 'customer', 'text', 'idle', true,
	        now() - interval '1 day'
	 FROM generate_series(1, $2::int) i
	 ON CONFLICT (id) DO NOTHING`,
}

// SeedIdle creates g's rows, where missing, in one transaction, then
// vacuums, analyzes and checkpoints (see analyze). It resets nothing:
// nobody writes to idle conversations.
func SeedIdle(ctx context.Context, pool *pgxpool.Pool, g IdleGroup) error {
	if !strings.HasPrefix(g.Prefix, IDPrefix) {
		return fmt.Errorf("seed: prefix %q does not start with %q", g.Prefix, IDPrefix)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range idleSQL {
			if _, err := tx.Exec(ctx, q, params(q, g.Prefix, g.Convs, g.PerCustomer)...); err != nil {
				return fmt.Errorf("seed %s: %w", g.Prefix, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return analyze(ctx, pool)
}

// analyze vacuums and refreshes the planner's statistics of the tables
// seeds fill: a scenario measures a database in its steady state, not the
// minute before autovacuum notices thousands of new rows (a fresh server's
// first scenario would otherwise run on plans made for the demo data, and
// autovacuum's pass over the new rows would fall inside its window). It
// then checkpoints, so that writing out the seed's pages is not left to a
// checkpoint that falls inside the measurement window either. A role that
// may not checkpoint (neither superuser nor pg_checkpoint) skips that step.
func analyze(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) users, stores, store_staff, orders, conversations, conversation_participants, messages,
		typing_state, mutation_log`); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	if _, err := pool.Exec(ctx, `CHECKPOINT`); err != nil {
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
			return nil
		}
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// insertMessageSQL is sendMessage's effect written directly: the message
// and the conversation's latest-message fields, one implicit transaction.
// $1 id, $2 conversation, $3 sender, $4 sender type, $5 content.
const insertMessageSQL = `WITH m AS (
	INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
	VALUES ($1, $2, $3, $4, 'text', $5) RETURNING conversation_id, created_at, content)
UPDATE conversations c SET last_message_at = m.created_at, last_message_preview = left(m.content, 100),
	status = CASE WHEN c.status = 'archived' THEN 'active' ELSE c.status END
FROM m WHERE c.id = m.conversation_id`

// InsertMessage writes message seq of run to conversation convID from
// sender by direct SQL (insertMessageSQL), as one implicit transaction:
// when it returns nil, the commit has returned. The message's id is
// "msg" + IDPrefix + run + seq.
func InsertMessage(ctx context.Context, pool *pgxpool.Pool, run string, seq uint64, convID string, sender functions.Identity, content string) error {
	_, err := pool.Exec(ctx, insertMessageSQL, fmt.Sprintf("msg%s%s%d", IDPrefix, run, seq),
		convID, sender.Subject, string(sender.Role), content)
	return err
}

// Durability reads the settings that decide what a commit costs.
func Durability(ctx context.Context, pool *pgxpool.Pool) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range []string{"fsync", "synchronous_commit", "wal_level", "full_page_writes", "wal_sync_method", "commit_delay"} {
		var v string
		if err := pool.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
			return nil, fmt.Errorf("show %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}
