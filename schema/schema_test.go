package schema_test

import (
	"context"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/schema"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestMigrateAndPublication(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDB(t))
	require.NoError(t, err)
	defer pool.Close()

	applied, err := schema.Migrate(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3, 4, 5}, applied)
	applied, err = schema.Migrate(ctx, pool)
	require.NoError(t, err)
	require.Empty(t, applied, "a second run applies nothing")
	require.NoError(t, schema.SeedDemo(ctx, pool))
	require.NoError(t, schema.SeedDemo(ctx, pool), "seeding is idempotent")

	// Every table a query may read is published with full old rows; the
	// mutation log is not published.
	rows, err := pool.Query(ctx, `SELECT c.relname, c.relreplident::text FROM pg_publication_tables p
		JOIN pg_class c ON c.relname = p.tablename WHERE p.pubname = $1`, schema.Publication)
	require.NoError(t, err)
	published := map[string]string{}
	var name, ident string
	_, err = pgx.ForEachRow(rows, []any{&name, &ident}, func() error { published[name] = ident; return nil })
	require.NoError(t, err)
	tables := make([]string, 0, len(published))
	for tbl, id := range published {
		tables = append(tables, tbl)
		require.Equal(t, "f", id, "%s needs REPLICA IDENTITY FULL", tbl)
	}
	sort.Strings(tables)
	require.Equal(t, []string{"chat_settings", "conversation_participants", "conversations", "files", "messages",
		"orders", "store_staff", "stores", "typing_state", "users"}, tables)

	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE customer_id = $1`, schema.DemoCustomerID).Scan(&n))
	require.Equal(t, 3, n)
	var total float64
	var status string
	require.NoError(t, pool.QueryRow(ctx, `SELECT total_amount::float8, status FROM orders WHERE id = $1`, schema.DemoOrderID).Scan(&total, &status))
	require.Equal(t, 25.50, total)
	require.Equal(t, "delivered", status)
}

func TestHelpersRecordDependencies(t *testing.T) {
	ctx := context.Background()
	_, pool := parleytest.DemoDB(t)

	deps := &schema.Deps{}
	db := schema.NewDB(pool, deps)
	_, err := db.Conversation(ctx, "conv-x")
	require.ErrorIs(t, err, schema.ErrNoRow)
	_, err = db.Messages(ctx, "conv-x", schema.MessageRange{Limit: 10})
	require.NoError(t, err)
	_, err = db.Settings(ctx)
	require.NoError(t, err)
	_, err = db.Inbox(ctx, schema.ConversationFilter{StoreID: schema.DemoClosedStoreID})
	require.NoError(t, err)
	require.ElementsMatch(t, []schema.Dep{
		{Table: "conversations", Column: "id", Value: "conv-x"},
		{Table: "messages", Column: "conversation_id", Value: "conv-x"},
		{Table: "chat_settings", Column: schema.WholeTable},
		{Table: "conversations", Column: "store_id", Value: schema.DemoClosedStoreID},
	}, deps.List(), "a missed read is found even when it returned nothing")

	// An inbox depends on its conversations (whose rows carry the unread
	// counters) and on each listed conversation's customer and store.
	deps = &schema.Deps{}
	rows, err := schema.NewDB(pool, deps).Inbox(ctx, schema.ConversationFilter{CustomerID: schema.DemoCustomerID, Status: "active"})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, schema.DemoConversationID, rows[0].ID)
	require.Equal(t, "Pizza Palace", *rows[0].StoreName)
	require.Equal(t, "John Doe", rows[0].CustomerName)
	require.Equal(t, schema.Unread{}, rows[0].Unread, "both demo messages are read")
	require.ElementsMatch(t, []schema.Dep{
		{Table: "conversations", Column: "customer_id", Value: schema.DemoCustomerID},
		{Table: "users", Column: "id", Value: schema.DemoCustomerID},
		{Table: "stores", Column: "id", Value: schema.DemoStoreID},
	}, deps.List())

	// Reads without a Deps record nothing and still work (mutations).
	s, err := schema.NewDB(pool, nil).Settings(ctx)
	require.NoError(t, err)
	require.Equal(t, 5, s.MaxImageSizeMB)
	require.Equal(t, []string{"image/jpeg", "image/png", "image/gif", "image/webp"}, s.AllowedImageTypes)
}

// A page of messages holds every row's own values: its senders, types and
// names are read into strings shared within the page, which must not mix
// rows up. The expected page is read with plain scans.
func TestMessagesPageHoldsEachRowsValues(t *testing.T) {
	ctx := context.Background()
	_, pool := parleytest.DemoDB(t)
	// Two senders with names, one without a user row, types and read
	// states mixed; created in order so the page order is known.
	_, err := pool.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, is_read, read_at, created_at)
		SELECT 'pg' || lpad(i::text, 3, '0'), $1,
			(ARRAY[$2, $3, 'ghost'])[i % 3 + 1], (ARRAY['customer', 'store', 'system'])[i % 3 + 1],
			(ARRAY['text', 'system', 'transfer', 'text'])[i % 4 + 1], 'message ' || i,
			i % 2 = 0, CASE WHEN i % 2 = 0 THEN now() END, now() + i * interval '1 second'
		FROM generate_series(1, 120) i`, schema.DemoConversationID, schema.DemoCustomerID, schema.DemoStaffID)
	require.NoError(t, err)

	want := func(limit int) []schema.Message {
		rows, err := pool.Query(ctx, `SELECT m.id, m.conversation_id, m.sender_id, m.sender_type, coalesce(u.name, ''), m.message_type,
			m.content, m.image_file_id, m.is_read, m.read_at, m.is_deleted, m.created_at
			FROM messages m LEFT JOIN users u ON u.id = m.sender_id WHERE m.conversation_id = $1
			ORDER BY m.created_at DESC, m.id DESC LIMIT $2`, schema.DemoConversationID, limit)
		require.NoError(t, err)
		msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (schema.Message, error) {
			var m schema.Message
			err := r.Scan(&m.ID, &m.ConversationID, &m.SenderID, &m.SenderType, &m.SenderName, &m.MessageType,
				&m.Content, &m.ImageFileID, &m.IsRead, &m.ReadAt, &m.IsDeleted, &m.CreatedAt)
			return m, err
		})
		require.NoError(t, err)
		return msgs
	}
	db := schema.NewDB(pool, &schema.Deps{})
	for _, limit := range []int{1, 20, 100, 1001} { // 1001: beyond what a page allocates up front
		got, err := db.Messages(ctx, schema.DemoConversationID, schema.MessageRange{Limit: limit})
		require.NoError(t, err)
		exp := want(limit)
		require.Equal(t, exp, got, "limit %d", limit)
		require.Len(t, got, min(limit, len(exp)))
	}
	// A page appended to keeps the rows it held.
	used, err := db.Messages(ctx, schema.DemoConversationID, schema.MessageRange{Limit: 100})
	require.NoError(t, err)
	got, err := db.AppendMessages(ctx, used[:1], schema.DemoConversationID, schema.MessageRange{Limit: 20})
	require.NoError(t, err)
	require.Equal(t, append([]schema.Message{want(1)[0]}, want(20)...), got)
	names := map[string]bool{}
	for _, m := range want(1001) {
		names[m.SenderName] = true
	}
	require.Len(t, names, 3, "the page has three distinct sender names, one of them empty: %v", names)
}
