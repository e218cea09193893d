package assistant

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/schema"
)

// DemoAssistantName is the name of `parley dev`'s built-in assistant.
const DemoAssistantName = "Parley Assistant"

// demoFAQ is `parley dev`'s knowledge base: what a marketplace's support
// is asked most.
var demoFAQ = []KnowledgeEntry{
	{"How long does shipping take?", "Most orders arrive within 3 to 5 business days; you can follow yours from your orders page."},
	{"How do I return an item or get a refund?", "Returns are free within 30 days: open the order and choose Return. Refunds reach your card 5 to 10 days after the store receives the item."},
	{"Can I change or cancel my order?", "You can change or cancel an order until the store marks it shipped: open the order and choose Cancel or Edit."},
	{"What payment methods do you accept?", "We accept credit and debit cards, Apple Pay, Google Pay and PayPal."},
	{"How do I contact a store?", "Open the order and choose Message the store to chat with its staff directly."},
	{"Do you deliver on weekends?", "Stores deliver on Saturdays in most cities; Sunday delivery depends on the store."},
}

// SeedDemo gives the default org `parley dev`'s built-in assistant with
// its demo FAQ, unless the org has an assistant already.
func SeedDemo(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM assistants WHERE org_id = ''`).Scan(&n); err != nil {
			return fmt.Errorf("seed demo assistant: %w", err)
		}
		if n > 0 {
			return nil
		}
		id, now := schema.NewID("asst"), time.Now()
		if _, err := tx.Exec(ctx, `INSERT INTO assistants (id, org_id, name, greeting, instructions, provider, max_failures, created_at, updated_at)
			VALUES ($1, '', $2, $3, '', 'builtin', 1, $4, $4)`, id, DemoAssistantName,
			"Hi! I'm the Parley Assistant. Ask me about your orders, shipping or returns — or ask for a person at any time.", now); err != nil {
			return fmt.Errorf("seed demo assistant: %w", err)
		}
		for i, k := range demoFAQ {
			if _, err := tx.Exec(ctx, `INSERT INTO assistant_faq (id, assistant_id, question, answer, position) VALUES ($1, $2, $3, $4, $5)`,
				schema.NewID("faq"), id, k.Question, k.Answer, i); err != nil {
				return fmt.Errorf("seed demo assistant: %w", err)
			}
		}
		return nil
	})
}
