package dataset

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/functions"
)

// SearchGroup is the search scenario's data set: Messages messages in
// Convs conversations of one store, PerCustomer conversations to a
// customer (each about an order of its own), written over the 30 days
// before the seed, half by the customer and half by the store's one staff
// member, every one already read. Every id starts with Prefix, which
// starts with IDPrefix. Nobody writes to it during a run.
//
// Message i (1-based) is in conversation (i-1) % Convs + 1. Its content
// is 4 to 14 words drawn from Vocabulary with a Zipf-like law (word r of
// the list, 1-based, with probability log(1+1/r)/log(len)), from a hash
// of i, so that every seed of the same size writes the same text; every
// thousandth message (i % 1000 == 7) also carries one of RareWords, in
// turn, so each of those is in Messages/10,000 messages.
type SearchGroup struct {
	Prefix      string
	Messages    int
	Convs       int
	PerCustomer int
}

// ConvID is the id of conversation i (0-based).
func (g SearchGroup) ConvID(i int) string { return fmt.Sprintf("%sconv%d", g.Prefix, i+1) }

// Customer is the customer of conversations k*PerCustomer … (k+1)*PerCustomer-1.
func (g SearchGroup) Customer(k int) functions.Identity {
	return functions.Identity{Subject: fmt.Sprintf("%scust%d", g.Prefix, k+1), Role: functions.RoleCustomer,
		Name: fmt.Sprintf("Bench Searcher %d", k+1)}
}

// Admin is an administrator of the default org, who may search every
// conversation.
func (g SearchGroup) Admin() functions.Identity {
	return functions.Identity{Subject: g.Prefix + "admin", Role: functions.RoleAdmin, Name: "Bench Search Admin"}
}

// Vocabulary is the words of the search group's messages, the most
// frequent first: the first ones are in about a third of the messages,
// the last ones in a few in a thousand.
var Vocabulary = strings.Fields(`
the i order my you is to it and a for please thanks delivery can when we your not was
have this of hi hello on there at be with what now today will just how soon sorry ok
refund where store time still did get item arrived yes no help minutes driver tomorrow
delayed package could some thank they would about any me back address here call one more
check which all know from has been need pizza tracking update wrong missing cold phone
number card payment charged twice receipt cancel change pickup ready waiting long hour
late again fine great good perfect sure problem issue sent received box open closed
menu price total discount coupon code invoice email account password login app website
size color extra sauce cheese burger fries drink water coffee tea salad sandwich chicken
vegetarian vegan allergy nuts gluten spicy mild hot warm fresh broken damaged leaking
spilled return exchange replace replacement photo picture attached screenshot manager
support agent chat message reply answer question kindly asap urgent appreciate understand
confirm confirmed confirmation schedule window morning afternoon evening night weekend
monday tuesday wednesday thursday friday saturday sunday street floor apartment building
door gate buzzer parking lobby neighbor courier shipment warehouse stock available
unavailable substitute instead option choice prefer recommend special note instructions
`)

// RareWords are the search group's rare words: each is in one message in
// ten thousand.
var RareWords = strings.Fields(`marmalade zeppelin quokka xylophone kumquat periwinkle tangerine gondola narwhal saffron`)

// searchSetupSQL creates a search group's people and conversations; $1
// prefix, $2 conversations, $3 per customer. Every statement is
// idempotent.
var searchSetupSQL = []string{
	`INSERT INTO stores (id, name) VALUES ($1 || 'store', 'Bench Search Store') ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO users (id, name, role) VALUES ($1 || 'staff', 'Bench Search Staff', 'store') ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO store_staff (store_id, user_id) VALUES ($1 || 'store', $1 || 'staff') ON CONFLICT DO NOTHING`,
	`INSERT INTO users (id, name, role)
	 SELECT $1 || 'cust' || k, 'Bench Searcher ' || k, 'customer' FROM generate_series(1, ($2::int + $3::int - 1) / $3::int) k
	 ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO orders (id, customer_id, store_id, total_amount, status)
	 SELECT $1 || 'order' || i, $1 || 'cust' || ((i - 1) / $3::int + 1), $1 || 'store', 10, 'delivered'
	 FROM generate_series(1, $2::int) i
	 ON CONFLICT (id) DO NOTHING`,
	`INSERT INTO conversations (id, conversation_type, customer_id, store_id, order_id, last_message_at, last_message_preview)
	 SELECT $1 || 'conv' || i, 'customer_to_store', $1 || 'cust' || ((i - 1) / $3::int + 1), $1 || 'store', $1 || 'order' || i,
	        now() - interval '1 hour', 'search'
	 FROM generate_series(1, $2::int) i
	 ON CONFLICT DO NOTHING`,
	`INSERT INTO conversation_participants (conversation_id, user_id, role)
	 SELECT $1 || 'conv' || i, $1 || 'cust' || ((i - 1) / $3::int + 1), 'customer' FROM generate_series(1, $2::int) i
	 UNION ALL
	 SELECT $1 || 'conv' || i, $1 || 'staff', 'store' FROM generate_series(1, $2::int) i
	 ON CONFLICT DO NOTHING`,
}

// searchMessagesSQL inserts messages $5 … $6 of a search group; $1
// prefix, $2 conversations, $3 per customer, $4 messages, $7 the
// vocabulary, $8 the rare words, $9 when the newest message was written.
// A word's rank is floor(len^u) for u uniform in [0, 1), taken from
// hashint8 of the message and the word's position.
const searchMessagesSQL = `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, is_read, created_at)
	SELECT $1 || 'm' || i, $1 || 'conv' || ((i - 1) % $2::int + 1),
	       CASE WHEN i % 2 = 0 THEN $1 || 'cust' || (((i - 1) % $2::int) / $3::int + 1) ELSE $1 || 'staff' END,
	       CASE WHEN i % 2 = 0 THEN 'customer' ELSE 'store' END,
	       'text',
	       (SELECT string_agg(($7::text[])[floor(power(cardinality($7::text[]),
	                  (hashint8(i::bigint * 16 + k) + 2147483648::float8) / 4294967296::float8))::int], ' ')
	        FROM generate_series(1, 4 + i % 11) k)
	       || CASE WHEN i % 1000 = 7 THEN ' ' || ($8::text[])[(i / 1000) % cardinality($8::text[]) + 1] ELSE '' END,
	       true, $9::timestamptz - (($4::int - i) * (2592000.0 / $4::int)) * interval '1 second'
	FROM generate_series($5::int, $6::int) i
	ON CONFLICT (id) DO NOTHING`

// searchResetSQL deletes a search group's messages and conversations,
// before a seed of another size; $1 prefix.
var searchResetSQL = []string{
	`DELETE FROM messages WHERE conversation_id LIKE $1 || 'conv%'`,
	`DELETE FROM typing_state WHERE conversation_id LIKE $1 || 'conv%'`,
	`DELETE FROM conversation_participants WHERE conversation_id LIKE $1 || 'conv%'`,
	`DELETE FROM conversations WHERE id LIKE $1 || 'conv%'`,
	`DELETE FROM orders WHERE id LIKE $1 || 'order%'`,
}

// searchChunk is the messages one statement of SeedSearch inserts.
const searchChunk = 50000

// SeedSearch creates g's rows unless they are there already: when g's
// conversations hold exactly g.Messages messages and g.Convs
// conversations exist, it returns (false, nil) at once. Otherwise it
// deletes whatever an earlier seed of the group left, creates the
// conversations, and inserts the messages searchChunk at a time, one
// transaction each, calling progress (if not nil) after each; then it
// vacuums, analyzes and checkpoints (see analyze) and returns true.
func SeedSearch(ctx context.Context, pool *pgxpool.Pool, g SearchGroup, progress func(done, total int)) (seeded bool, err error) {
	if !strings.HasPrefix(g.Prefix, IDPrefix) {
		return false, fmt.Errorf("seed: prefix %q does not start with %q", g.Prefix, IDPrefix)
	}
	var convs, msgs int
	err = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM conversations WHERE id LIKE $1 || 'conv%'),
		(SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.id LIKE $1 || 'conv%')`,
		g.Prefix).Scan(&convs, &msgs)
	if err != nil {
		return false, fmt.Errorf("count %s: %w", g.Prefix, err)
	}
	if convs == g.Convs && msgs == g.Messages {
		return false, nil
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range searchResetSQL {
			if _, err := tx.Exec(ctx, q, g.Prefix); err != nil {
				return fmt.Errorf("reset %s: %w", g.Prefix, err)
			}
		}
		for _, q := range searchSetupSQL {
			if _, err := tx.Exec(ctx, q, params(q, g.Prefix, g.Convs, g.PerCustomer)...); err != nil {
				return fmt.Errorf("seed %s: %w", g.Prefix, err)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	newest := time.Now().Add(-time.Hour)
	for from := 1; from <= g.Messages; from += searchChunk {
		to := min(from+searchChunk-1, g.Messages)
		if _, err := pool.Exec(ctx, searchMessagesSQL, g.Prefix, g.Convs, g.PerCustomer, g.Messages, from, to,
			Vocabulary, RareWords, newest); err != nil {
			return false, fmt.Errorf("seed %s messages %d-%d: %w", g.Prefix, from, to, err)
		}
		if progress != nil {
			progress(to, g.Messages)
		}
	}
	return true, analyze(ctx, pool)
}
