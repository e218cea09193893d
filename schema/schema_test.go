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
	require.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}, applied)
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
	require.Equal(t, []string{"assistant_chats", "assistant_faq", "assistant_runs", "assistants", "chat_settings", "conversation_participants", "conversations", "events", "files", "message_edits", "messages",
		"notification_settings", "orders", "receipt_marks", "store_staff", "stores", "support_agents", "support_requests", "typing_state", "user_activity", "user_emails", "users",
		"webhook_deliveries", "webhooks"}, tables)

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
	_, err := db.User(ctx, "user-x")
	require.ErrorIs(t, err, schema.ErrNoRow)
	_, err = db.Store(ctx, schema.DemoStoreID)
	require.NoError(t, err)
	o, err := db.Order(ctx, schema.DemoOrderID)
	require.NoError(t, err)
	require.Equal(t, schema.DemoStoreID, o.StoreID)
	orders, err := db.CustomerOrdersAtStore(ctx, schema.DemoCustomerID, schema.DemoStoreID)
	require.NoError(t, err)
	require.NotEmpty(t, orders)
	_, err = db.Settings(ctx, "")
	require.NoError(t, err)
	db.Record(schema.Dep{Table: "messages", Column: "conversation_id", Value: "conv-x", Watch: "content"})
	require.ElementsMatch(t, []schema.Dep{
		{Table: "users", Column: "id", Value: "user-x"},
		{Table: "stores", Column: "id", Value: schema.DemoStoreID},
		{Table: "orders", Column: "id", Value: schema.DemoOrderID},
		{Table: "orders", Column: "customer_id", Value: schema.DemoCustomerID},
		{Table: "chat_settings", Column: schema.WholeTable},
		{Table: "messages", Column: "conversation_id", Value: "conv-x", Watch: "content"},
	}, deps.List(), "a missed read is found even when it returned nothing")

	// Reads without a Deps record nothing and still work (mutations).
	nodeps := schema.NewDB(pool, nil)
	nodeps.Record(schema.Dep{Table: "users", Column: "id", Value: "u"})
	s, err := nodeps.Settings(ctx, "")
	require.NoError(t, err)
	require.Equal(t, 5, s.MaxImageSizeMB)
	require.Equal(t, []string{"image/jpeg", "image/png", "image/gif", "image/webp"}, s.AllowedImageTypes)
}
