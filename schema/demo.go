package schema

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Demo ids: the entities the API document's examples use, so its snippets
// run as written against `parley dev`.
const (
	DemoCustomerID      = "cust123456789"  // John Doe
	DemoOtherCustomerID = "cust555555555"  // Jane Roe, for access tests
	DemoStoreID         = "store123456789" // Pizza Palace, direct messaging on
	DemoStaffID         = "user123456789"  // Pizza Palace Support
	DemoStaff2ID        = "user222222222"  // Pizza Palace Kitchen, a colleague
	DemoOrderID         = "order123456789" // delivered, 25.50
	DemoOrder2ID        = "order987654321" // John's second Pizza Palace order
	DemoClosedStoreID   = "store555555555" // Burger Barn: John's only order is cancelled
	DemoClosedOrderID   = "order555555555"
	DemoClosedStaffID   = "user555555555" // Burger Barn Support
	DemoAdminID         = "admin123456789"
	DemoAdmin2ID        = "admin987654321"
	// The API document's conversation between John and Pizza Palace about
	// his delivered order, and its two messages.
	DemoConversationID = "conv123456789"
	DemoMessageID      = "msg123456789" // John: "Thank you for your help!"
	DemoMessage2ID     = "msg987654321" // Pizza Palace: "You're welcome! …"
	// The API document's image: an upload of John's, not yet attached, so
	// the document's image message can attach it. Package media seeds it
	// (the row comes with its stored image), never expiring.
	DemoFileID = "file123456789"
)

const demoSQL = `
INSERT INTO users (id, name, role, email) VALUES
    ('cust123456789', 'John Doe', 'customer', 'john@example.com'),
    ('cust555555555', 'Jane Roe', 'customer', 'jane@example.com'),
    ('user123456789', 'Pizza Palace Support', 'store', 'support@pizzapalace.example'),
    ('user222222222', 'Pizza Palace Kitchen', 'store', 'kitchen@pizzapalace.example'),
    ('user555555555', 'Burger Barn Support', 'store', 'help@burgerbarn.example'),
    ('admin123456789', 'Parley Support', 'admin', 'support@parley.example'),
    ('admin987654321', 'Alex Admin', 'admin', 'alex@parley.example')
ON CONFLICT (id) DO NOTHING;

INSERT INTO stores (id, name, direct_messaging_enabled) VALUES
    ('store123456789', 'Pizza Palace', true),
    ('store555555555', 'Burger Barn', true)
ON CONFLICT (id) DO NOTHING;

INSERT INTO store_staff (store_id, user_id) VALUES
    ('store123456789', 'user123456789'),
    ('store123456789', 'user222222222'),
    ('store555555555', 'user555555555')
ON CONFLICT DO NOTHING;

INSERT INTO orders (id, customer_id, store_id, total_amount, status, order_date) VALUES
    ('order123456789', 'cust123456789', 'store123456789', 25.50, 'delivered', to_timestamp(1640995000)),
    ('order987654321', 'cust123456789', 'store123456789', 18.00, 'shipped', to_timestamp(1641081400)),
    ('order555555555', 'cust123456789', 'store555555555', 12.75, 'cancelled', to_timestamp(1641167800))
ON CONFLICT (id) DO NOTHING;

INSERT INTO conversations (id, conversation_type, customer_id, store_id, order_id, status,
        last_message_at, last_message_preview, created_at) VALUES
    ('conv123456789', 'customer_to_store', 'cust123456789', 'store123456789', 'order123456789', 'active',
        to_timestamp(1640995800), 'Thank you for your help!', to_timestamp(1640995200))
ON CONFLICT DO NOTHING;

INSERT INTO conversation_participants (conversation_id, user_id, role, joined_at, last_read_at) VALUES
    ('conv123456789', 'cust123456789', 'customer', to_timestamp(1640995200), to_timestamp(1640995750)),
    ('conv123456789', 'user123456789', 'store', to_timestamp(1640995200), to_timestamp(1640995900))
ON CONFLICT DO NOTHING;

INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, is_read, read_at, created_at) VALUES
    ('msg987654321', 'conv123456789', 'user123456789', 'store', 'text',
        'You''re welcome! Is there anything else I can help you with?', true, to_timestamp(1640995750), to_timestamp(1640995700)),
    ('msg123456789', 'conv123456789', 'cust123456789', 'customer', 'text',
        'Thank you for your help!', true, to_timestamp(1640995900), to_timestamp(1640995800))
ON CONFLICT (id) DO NOTHING;
`

// SeedDemo loads the demo data. It is idempotent: existing rows are kept.
func SeedDemo(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, demoSQL); err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	return nil
}
