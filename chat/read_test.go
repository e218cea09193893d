package chat_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/schema"
)

func TestTablesRecordDependencies(t *testing.T) {
	ctx := context.Background()
	_, pool := parleytest.DemoDB(t)

	deps := &schema.Deps{}
	db := chat.Tables{DB: schema.NewDB(pool, deps)}
	_, err := db.Conversation(ctx, "conv-x")
	require.ErrorIs(t, err, schema.ErrNoRow)
	_, err = db.Messages(ctx, "conv-x", chat.MessageRange{Limit: 10})
	require.NoError(t, err)
	_, err = db.Settings(ctx, "")
	require.NoError(t, err)
	_, err = db.Inbox(ctx, chat.ConversationFilter{StoreID: schema.DemoClosedStoreID})
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
	rows, err := chat.Tables{DB: schema.NewDB(pool, deps)}.Inbox(ctx, chat.ConversationFilter{CustomerID: schema.DemoCustomerID, Status: "active"})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, schema.DemoConversationID, rows[0].ID)
	require.Equal(t, "Pizza Palace", *rows[0].StoreName)
	require.Equal(t, "John Doe", rows[0].CustomerName)
	require.Equal(t, chat.Unread{}, rows[0].Unread, "both demo messages are read")
	require.ElementsMatch(t, []schema.Dep{
		{Table: "conversations", Column: "customer_id", Value: schema.DemoCustomerID},
		{Table: "users", Column: "id", Value: schema.DemoCustomerID},
		{Table: "stores", Column: "id", Value: schema.DemoStoreID},
	}, deps.List())

	// Filters keep the list's key as its dependency (every change of the
	// key's rows re-runs it, so a conversation entering or leaving a filter
	// does); an order filter depends on the order's conversations instead.
	deps = &schema.Deps{}
	rows, err = chat.Tables{DB: schema.NewDB(pool, deps)}.Inbox(ctx, chat.ConversationFilter{StoreID: schema.DemoStoreID, Status: "active",
		Kind: chat.CustomerToStore, WithStore: schema.DemoStoreID, UnreadBy: chat.SideRecipient})
	require.NoError(t, err)
	require.Empty(t, rows, "the demo messages are read")
	require.ElementsMatch(t, []schema.Dep{{Table: "conversations", Column: "store_id", Value: schema.DemoStoreID}}, deps.List())
	deps = &schema.Deps{}
	rows, err = chat.Tables{DB: schema.NewDB(pool, deps)}.Inbox(ctx, chat.ConversationFilter{StoreID: schema.DemoStoreID, OrderID: schema.DemoOrderID})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.ElementsMatch(t, []schema.Dep{
		{Table: "conversations", Column: "order_id", Value: schema.DemoOrderID},
		{Table: "users", Column: "id", Value: schema.DemoCustomerID},
		{Table: "stores", Column: "id", Value: schema.DemoStoreID},
	}, deps.List())

	// Reads without a Deps record nothing and still work (mutations).
	conv, err := chat.Tables{DB: schema.NewDB(pool, nil)}.ConversationForUpdate(ctx, schema.DemoConversationID)
	require.NoError(t, err)
	require.Equal(t, schema.DemoCustomerID, conv.CustomerID)
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

	want := func(limit int) []chat.Message {
		rows, err := pool.Query(ctx, `SELECT m.id, m.conversation_id, m.sender_id, m.sender_type, coalesce(u.name, ''), m.message_type,
			m.content, m.image_file_id, m.is_read, m.read_at, m.is_deleted, m.created_at
			FROM messages m LEFT JOIN users u ON u.id = m.sender_id WHERE m.conversation_id = $1
			ORDER BY m.created_at DESC, m.id DESC LIMIT $2`, schema.DemoConversationID, limit)
		require.NoError(t, err)
		msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.Message, error) {
			var m chat.Message
			err := r.Scan(&m.ID, &m.ConversationID, &m.SenderID, &m.SenderType, &m.SenderName, &m.MessageType,
				&m.Content, &m.ImageFileID, &m.IsRead, &m.ReadAt, &m.IsDeleted, &m.CreatedAt)
			return m, err
		})
		require.NoError(t, err)
		return msgs
	}
	db := chat.Tables{DB: schema.NewDB(pool, &schema.Deps{})}
	for _, limit := range []int{1, 20, 100, 1001} { // 1001: beyond what a page allocates up front
		got, err := db.Messages(ctx, schema.DemoConversationID, chat.MessageRange{Limit: limit})
		require.NoError(t, err)
		exp := want(limit)
		require.Equal(t, exp, got, "limit %d", limit)
		require.Len(t, got, min(limit, len(exp)))
	}
	// A page appended to keeps the rows it held.
	used, err := db.Messages(ctx, schema.DemoConversationID, chat.MessageRange{Limit: 100})
	require.NoError(t, err)
	got, err := db.AppendMessages(ctx, used[:1], schema.DemoConversationID, chat.MessageRange{Limit: 20})
	require.NoError(t, err)
	require.Equal(t, append([]chat.Message{want(1)[0]}, want(20)...), got)
	names := map[string]bool{}
	for _, m := range want(1001) {
		names[m.SenderName] = true
	}
	require.Len(t, names, 3, "the page has three distinct sender names, one of them empty: %v", names)
}
