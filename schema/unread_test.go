package schema_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/schema"
)

// requireCountersTrue compares every conversation's unread counters with
// a count of its messages: a customer's, and in a store ↔ support thread
// support's and notices, count in unread_recipient; the others' in
// unread_customer.
func requireCountersTrue(t *testing.T, pool *pgxpool.Pool, step string) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `WITH m AS (
			SELECT m.conversation_id, CASE WHEN c.conversation_type = 'store_to_admin' THEN m.sender_type <> 'store' ELSE m.sender_type = 'customer' END AS asking
			FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE NOT m.is_read AND NOT m.is_deleted)
		SELECT c.id, c.unread_customer, c.unread_recipient,
			(SELECT count(*) FROM m WHERE m.conversation_id = c.id AND NOT m.asking),
			(SELECT count(*) FROM m WHERE m.conversation_id = c.id AND m.asking)
		FROM conversations c ORDER BY c.id`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var (
			id                     string
			customer, recipient    int
			wantCust, wantRecipent int64
		)
		require.NoError(t, rows.Scan(&id, &customer, &recipient, &wantCust, &wantRecipent))
		require.Equal(t, [2]int64{wantCust, wantRecipent}, [2]int64{int64(customer), int64(recipient)},
			"after %s: conversation %s's counters (customer side, recipient side)", step, id)
	}
	require.NoError(t, rows.Err())
}

// The unread counters on conversations follow every kind of write to
// messages, by any program: single and bulk inserts, reads, soft deletes,
// deletes, a sender or conversation changed by SQL, and TRUNCATE, in
// conversations with a customer and in a store ↔ support thread.
func TestUnreadCountersFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	_, pool := parleytest.DemoDB(t)
	_, err := pool.Exec(ctx, `INSERT INTO conversations (id, conversation_type, customer_id) VALUES ('convB', 'customer_to_admin', $1)`,
		schema.DemoCustomerID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO conversations (id, conversation_type, store_id) VALUES ('convS', 'store_to_admin', $1)`,
		schema.DemoStoreID)
	require.NoError(t, err)
	convs := []string{schema.DemoConversationID, "convB", "convS"}
	senders := []string{"customer", "store", "admin", "system"}
	requireCountersTrue(t, pool, "migration and demo data")

	rng := rand.New(rand.NewPCG(7, 11))
	n := 0
	steps := []struct {
		name string
		sql  func() (string, []any)
	}{
		{"insert one", func() (string, []any) {
			n++
			return `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, is_read)
				VALUES ($1, $2, $3, $4, 'text', 'x', $5)`,
				[]any{fmt.Sprintf("m%d", n), convs[rng.IntN(len(convs))], schema.DemoCustomerID, senders[rng.IntN(4)], rng.IntN(4) == 0}
		}},
		{"insert many", func() (string, []any) {
			n++
			return `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
				SELECT $1 || '-' || i, CASE i % 3 WHEN 0 THEN $2 WHEN 1 THEN 'convB' ELSE 'convS' END, $3,
					CASE WHEN i % 3 = 0 THEN 'customer' ELSE 'store' END, 'text', 'bulk'
				FROM generate_series(1, 5) i`, []any{fmt.Sprintf("bulk%d", n), schema.DemoConversationID, schema.DemoCustomerID}
		}},
		{"insert with the conversation's update, one statement (sendMessage's shape)", func() (string, []any) {
			n++
			return `WITH posted AS (INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
					VALUES ($1, $2, $3, $4, 'text', 'x')),
				latest AS (UPDATE conversations SET last_message_at = now(), last_message_preview = 'x' WHERE id = $2)
				SELECT`, []any{fmt.Sprintf("cte%d", n), convs[rng.IntN(len(convs))], schema.DemoCustomerID, senders[rng.IntN(4)]}
		}},
		{"read all of a side", func() (string, []any) {
			return `UPDATE messages SET is_read = true, read_at = now() WHERE conversation_id = $1 AND sender_type = 'customer' AND NOT is_read`,
				[]any{convs[rng.IntN(len(convs))]}
		}},
		{"unread some", func() (string, []any) {
			return `UPDATE messages SET is_read = false WHERE id IN (SELECT id FROM messages ORDER BY random() LIMIT 3)`, nil
		}},
		{"soft delete", func() (string, []any) {
			return `UPDATE messages SET is_deleted = NOT is_deleted WHERE id IN (SELECT id FROM messages ORDER BY random() LIMIT 2)`, nil
		}},
		{"change sender", func() (string, []any) {
			return `UPDATE messages SET sender_type = CASE WHEN sender_type = 'customer' THEN 'store' ELSE 'customer' END
				WHERE id IN (SELECT id FROM messages ORDER BY random() LIMIT 2)`, nil
		}},
		{"move to the other conversation", func() (string, []any) {
			return `UPDATE messages SET conversation_id = CASE conversation_id WHEN 'convB' THEN 'convS' WHEN 'convS' THEN $1 ELSE 'convB' END
				WHERE id IN (SELECT id FROM messages ORDER BY random() LIMIT 2)`, []any{schema.DemoConversationID}
		}},
		{"edit content", func() (string, []any) {
			return `UPDATE messages SET content = content || '!' WHERE id IN (SELECT id FROM messages ORDER BY random() LIMIT 3)`, nil
		}},
		{"delete", func() (string, []any) {
			return `DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY random() LIMIT 2)`, nil
		}},
	}
	for i := 0; i < 200; i++ {
		step := steps[rng.IntN(len(steps))]
		q, args := step.sql()
		_, err := pool.Exec(ctx, q, args...)
		require.NoError(t, err, step.name)
		requireCountersTrue(t, pool, fmt.Sprintf("step %d (%s)", i, step.name))
	}

	_, err = pool.Exec(ctx, `TRUNCATE messages CASCADE`)
	require.NoError(t, err)
	requireCountersTrue(t, pool, "TRUNCATE")
}
