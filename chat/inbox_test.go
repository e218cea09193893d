package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

func docIDs(docs []chat.ConversationDoc) []string {
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids
}

// pageOpts are getConversationsPaginated's arguments: paginationOpts as
// usePaginatedQuery sends them, and the filters.
func pageOpts(numItems int, cursor, endCursor *string, filters map[string]any) map[string]any {
	opts := map[string]any{"numItems": numItems, "cursor": cursor, "id": 1}
	if endCursor != nil {
		opts["endCursor"] = *endCursor
	}
	args := map[string]any{"paginationOpts": opts}
	for k, v := range filters {
		args[k] = v
	}
	return args
}

// inboxPage runs getConversationsPaginated as id, with the journal an
// earlier run of the same subscription left ("" for a first run), and
// returns the page and the journal this run leaves.
func (e *env) inboxPage(id *functions.Identity, args map[string]any, journal string) (chat.PaginatedConversations, string) {
	e.t.Helper()
	f, err := chatReg.Lookup("shared/chat:getConversationsPaginated")
	require.NoError(e.t, err)
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	v, err := f.DecodeArgs(raw)
	require.NoError(e.t, err)
	out, err := f.RunQuery(context.Background(), e.pool, id, v, time.Now(), journal)
	require.NoError(e.t, err)
	raw, err = json.Marshal(out.Value)
	require.NoError(e.t, err)
	var p chat.PaginatedConversations
	require.NoError(e.t, json.Unmarshal(raw, &p))
	return p, out.Journal
}

// TestInboxFilters: each filter narrows the caller's own list, in its
// order, and the paginated list agrees; a filter outside what the caller
// may see lists nothing.
func TestInboxFilters(t *testing.T) {
	e := newEnv(t)
	demo := schema.DemoConversationID // John ↔ Pizza Palace, about his first order
	second := e.storeConversation()   // John ↔ Pizza Palace, about his second
	support := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{})).ConversationID
	// John's cancelled Burger Barn order: a support conversation about it,
	// with no store.
	aboutOrder := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation",
		map[string]any{"orderId": schema.DemoClosedOrderID, "storeId": schema.DemoClosedStoreID}))
	require.Equal(t, chat.CustomerToAdmin, aboutOrder.ConversationType)
	janeSupport := must[chat.ConversationRef](t)(e.mutate(jane, "createOrGetConversation", map[string]any{})).ConversationID
	// Unread: John has the store's answer in second; the store has John's
	// message in demo; support has John's in support.
	e.send(staff, second, "Your second order ships today")
	e.send(john, demo, "One more question")
	e.send(john, support, "I need help")

	tests := []struct {
		name string
		id   *functions.Identity
		args map[string]any
		want []string // in any order; the list's order is checked against the unfiltered one
	}{
		{"customer, all", john, map[string]any{}, []string{demo, second, support, aboutOrder.ConversationID}},
		{"customer, store conversations", john, map[string]any{"kind": "customer_to_store"}, []string{demo, second}},
		{"customer, support conversations", john, map[string]any{"kind": "customer_to_admin"}, []string{support, aboutOrder.ConversationID}},
		{"customer, an order", john, map[string]any{"orderId": schema.DemoOrder2ID}, []string{second}},
		{"customer, an order in support", john, map[string]any{"orderId": schema.DemoClosedOrderID}, []string{aboutOrder.ConversationID}},
		{"customer, a store", john, map[string]any{"storeId": schema.DemoStoreID}, []string{demo, second}},
		{"customer, a store only support talked about", john, map[string]any{"storeId": schema.DemoClosedStoreID}, nil},
		{"customer, unread", john, map[string]any{"unreadOnly": true}, []string{second}},
		{"customer, unreadOnly false", john, map[string]any{"unreadOnly": false}, []string{demo, second, support, aboutOrder.ConversationID}},
		{"customer, combined", john, map[string]any{"kind": "customer_to_store", "storeId": schema.DemoStoreID, "orderId": schema.DemoOrderID}, []string{demo}},
		{"customer, combined to nothing", john, map[string]any{"kind": "customer_to_admin", "storeId": schema.DemoStoreID}, nil},
		{"customer, another's order", jane, map[string]any{"orderId": schema.DemoOrder2ID}, nil},
		{"customer, another org", johnAcme, map[string]any{"storeId": schema.DemoStoreID}, nil},
		{"store, all", staff, map[string]any{}, []string{demo, second}},
		{"store, its own storeId", staff, map[string]any{"storeId": schema.DemoStoreID}, []string{demo, second}},
		{"store, another store's storeId", staff, map[string]any{"storeId": schema.DemoClosedStoreID}, nil},
		{"store, support kind", staff, map[string]any{"kind": "customer_to_admin"}, nil},
		{"store, an order", staff, map[string]any{"orderId": schema.DemoOrder2ID}, []string{second}},
		{"store, an order support has", staff, map[string]any{"orderId": schema.DemoClosedOrderID}, nil},
		{"store, unread", staff, map[string]any{"unreadOnly": true}, []string{demo}},
		{"another store, the order", burger, map[string]any{"orderId": schema.DemoOrderID}, nil},
		{"admin, all", admin, map[string]any{}, []string{support, aboutOrder.ConversationID, janeSupport}},
		{"admin, store kind", admin, map[string]any{"kind": "customer_to_store"}, nil},
		{"admin, a store", admin, map[string]any{"storeId": schema.DemoStoreID}, nil},
		{"admin, an order", admin, map[string]any{"orderId": schema.DemoClosedOrderID}, []string{aboutOrder.ConversationID}},
		{"admin, unread", admin, map[string]any{"unreadOnly": true}, []string{support}},
		{"admin, another org", acmeAdmin, map[string]any{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{t: t, pool: e.pool}
			got := docIDs(must[[]chat.ConversationDoc](t)(e.query(tt.id, "getConversations", tt.args)))
			require.ElementsMatch(t, tt.want, got)
			// In the unfiltered list's order.
			all := docIDs(must[[]chat.ConversationDoc](t)(e.query(tt.id, "getConversations", map[string]any{})))
			require.Equal(t, slices.DeleteFunc(all, func(id string) bool { return !slices.Contains(got, id) }), got)
			// The paginated list says the same.
			p, _ := e.inboxPage(tt.id, pageOpts(100, nil, nil, tt.args), "")
			require.Equal(t, got, docIDs(p.Page))
			require.True(t, p.IsDone)
		})
	}

	t.Run("status with filters", func(t *testing.T) {
		e := &env{t: t, pool: e.pool}
		must[any](t)(e.mutate(staff, "archiveConversation", map[string]any{"conversationId": second}))
		list := func(args map[string]any) []string {
			return docIDs(must[[]chat.ConversationDoc](t)(e.query(john, "getConversations", args)))
		}
		require.Equal(t, []string{second}, list(map[string]any{"status": "archived", "kind": "customer_to_store"}))
		require.Equal(t, []string{second}, list(map[string]any{"status": "archived", "unreadOnly": true}))
		require.Empty(t, list(map[string]any{"status": "archived", "kind": "customer_to_admin"}))
		require.Empty(t, list(map[string]any{"unreadOnly": true}), "the unread conversation is archived")
		require.Equal(t, []string{demo}, list(map[string]any{"status": "active", "storeId": schema.DemoStoreID, "limit": 1}))
	})
}

// TestInboxFilterArguments: each malformed filter is a 400 naming it, in
// both lists; no identity is 401 first.
func TestInboxFilterArguments(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		id   *functions.Identity
		args map[string]any
		code int
		msg  string
	}{
		{"kind", john, map[string]any{"kind": "x"}, 400, `kind must be "customer_to_store", "customer_to_admin" or "store_to_admin", got "x"`},
		{"kind group", john, map[string]any{"kind": "group"}, 400, `kind must be "customer_to_store", "customer_to_admin" or "store_to_admin", got "group"`},
		{"kind not a string", john, map[string]any{"kind": 5}, 400, `Argument "kind" must be a string, got a number`},
		{"orderId empty", staff, map[string]any{"orderId": ""}, 400, "orderId must not be empty"},
		{"orderId not a string", staff, map[string]any{"orderId": []string{"a"}}, 400, `Argument "orderId" must be a string, got an array`},
		{"storeId empty", admin, map[string]any{"storeId": ""}, 400, "storeId must not be empty"},
		{"storeId not a string", admin, map[string]any{"storeId": true}, 400, `Argument "storeId" must be a string, got a boolean`},
		{"unreadOnly not a boolean", john, map[string]any{"unreadOnly": "yes"}, 400, `Argument "unreadOnly" must be a boolean, got a string`},
		{"status", john, map[string]any{"status": "deleted"}, 400, `status must be "active", "archived" or "closed", got "deleted"`},
		{"an unknown filter", john, map[string]any{"sort": "oldest"}, 400, `Unknown argument "sort"`},
		{"no identity", nobody, map[string]any{"kind": "x"}, 401, "Not authenticated"},
		// null is absent
		{"nulls", john, map[string]any{"kind": nil, "orderId": nil, "storeId": nil, "unreadOnly": nil, "status": nil}, 0, ""},
	}
	for _, tt := range tests {
		for _, fn := range []string{"getConversations", "getConversationsPaginated"} {
			t.Run(fn+"/"+tt.name, func(t *testing.T) {
				e := &env{t: t, pool: e.pool}
				args := tt.args
				if fn == "getConversationsPaginated" {
					args = pageOpts(10, nil, nil, tt.args)
				}
				_, err := e.query(tt.id, fn, args)
				if tt.code == 0 {
					require.NoError(t, err)
					return
				}
				requireCode(t, err, tt.code, tt.msg)
			})
		}
	}

	t.Run("paginationOpts", func(t *testing.T) {
		e := &env{t: t, pool: e.pool}
		page := func(opts map[string]any) error {
			_, err := e.query(staff, "getConversationsPaginated", map[string]any{"paginationOpts": opts})
			return err
		}
		requireCode(t, page(map[string]any{"numItems": 0}), 400, "paginationOpts.numItems must be between 1 and 100, got 0")
		requireCode(t, page(map[string]any{"numItems": 101}), 400, "paginationOpts.numItems must be between 1 and 100, got 101")
		for _, opts := range []map[string]any{
			{"numItems": 10, "cursor": "not a cursor!"},
			{"numItems": 10, "cursor": "aGVsbG8"}, // base64, but no cursor
			{"numItems": 10, "cursor": nil, "endCursor": "not a cursor!"},
		} {
			we := wireError(t, page(opts))
			require.Equal(t, 400, we.Status)
			require.Equal(t, "InvalidCursor", we.Data["paginationError"], "usePaginatedQuery starts over: %v", opts)
		}
		require.NoError(t, page(map[string]any{"numItems": 10, "cursor": nil, "endCursor": nil, "id": 3, "maximumRowsRead": 1000, "maximumBytesRead": 1e5}))
		end := "_end"
		p, _ := e.inboxPage(staff, pageOpts(10, &end, nil, nil), "")
		require.Empty(t, p.Page)
		require.NotNil(t, p.Page)
		require.True(t, p.IsDone)
	})
}

// bulkInbox gives Pizza Palace n more conversations, each with its own
// customer, the first the newest (one minute apart, older than the demo
// conversation's messages), as a shop backend's import would.
func (e *env) bulkInbox(prefix string, n int) []string {
	e.t.Helper()
	e.exec(`INSERT INTO users (id, name, role) SELECT $1 || i, 'Customer ' || i, 'customer' FROM generate_series(1, $2) i`, prefix, n)
	e.exec(`INSERT INTO conversations (id, conversation_type, customer_id, store_id, last_message_at, last_message_preview, created_at)
		SELECT $1 || lpad(i::text, 4, '0'), 'customer_to_store', $1 || i, $3,
			timestamptz '2021-06-01' - i * interval '1 minute', 'Hello ' || i, timestamptz '2021-01-01'
		FROM generate_series(1, $2) i`, prefix, n, schema.DemoStoreID)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d", prefix, i+1)
	}
	return ids
}

// inboxPages is a pagination as usePaginatedQuery keeps it: per page, its
// cursor and the end its first run fixed (its journal).
type inboxPages struct {
	e       *env
	id      *functions.Identity
	n       int
	filters map[string]any
	cursors []*string
	ends    []string
}

// load runs the pages until one is done, as loadMore would.
func (ps *inboxPages) load() [][]string {
	var cursor *string
	for {
		p, journal := ps.e.inboxPage(ps.id, pageOpts(ps.n, cursor, nil, ps.filters), "")
		require.Equal(ps.e.t, p.ContinueCursor, journal, "the journal pins the page's end")
		ps.cursors, ps.ends = append(ps.cursors, cursor), append(ps.ends, journal)
		if p.IsDone {
			return ps.rerun()
		}
		cursor = &p.ContinueCursor
	}
}

// rerun runs every page again with its journal, as the engine does when
// what it read changes, and returns each page's conversations.
func (ps *inboxPages) rerun() [][]string {
	out := make([][]string, len(ps.ends))
	for i := range ps.ends {
		p, journal := ps.e.inboxPage(ps.id, pageOpts(ps.n, ps.cursors[i], nil, ps.filters), ps.ends[i])
		require.Equal(ps.e.t, ps.ends[i], journal, "page %d keeps its end", i+1)
		require.Equal(ps.e.t, ps.ends[i], p.ContinueCursor)
		require.Equal(ps.e.t, i == len(ps.ends)-1, p.IsDone, "page %d", i+1)
		out[i] = docIDs(p.Page)
	}
	return out
}

// requireGapless checks that pages together are the caller's whole list,
// in order, with no conversation twice.
func requireGapless(t *testing.T, e *env, id *functions.Identity, filters map[string]any, pages [][]string) {
	t.Helper()
	full := must[[]chat.ConversationDoc](t)(e.query(id, "getConversations", map[string]any{"limit": 100}))
	var ids []string
	for _, d := range full {
		if filters["unreadOnly"] != true || d.UnreadCountRecipient > 0 {
			ids = append(ids, d.ID)
		}
	}
	require.Equal(t, ids, slices.Concat(pages...))
}

// TestInboxPages: getConversationsPaginated pages through a long inbox;
// pinned pages keep their bounds while a conversation with a new message
// moves from its page into the first; a grown page offers a split whose
// halves are exactly the page.
func TestInboxPages(t *testing.T) {
	e := newEnv(t)
	bulk := e.bulkInbox("bulk-", 24) // with the demo conversation, 25
	ps := &inboxPages{e: e, id: staff, n: 10}
	pages := ps.load()
	require.Equal(t, [][]string{
		append([]string{schema.DemoConversationID}, bulk[:9]...),
		bulk[9:19],
		bulk[19:],
	}, pages)
	requireGapless(t, e, staff, nil, pages)

	// A message in page 3's first conversation moves it to the top of
	// page 1; page 2 keeps its ten.
	moved := bulk[19]
	e.send(staff, moved, "Your order is ready")
	pages = ps.rerun()
	require.Equal(t, []int{11, 10, 4}, []int{len(pages[0]), len(pages[1]), len(pages[2])})
	require.Equal(t, moved, pages[0][0])
	require.Equal(t, bulk[9:19], pages[1])
	requireGapless(t, e, staff, nil, pages)

	// A conversation leaving the list (archived) leaves its page only.
	must[any](t)(e.mutate(staff, "archiveConversation", map[string]any{"conversationId": bulk[12]}))
	pages = ps.rerun()
	require.Equal(t, []int{11, 9, 4}, []int{len(pages[0]), len(pages[1]), len(pages[2])})
	requireGapless(t, e, staff, nil, pages)

	// Every conversation of page 2 and one of page 3 get messages: page 1
	// holds 21 > 2×10 and offers a split whose halves are exactly the page;
	// page 2 is empty but not the end.
	for _, c := range append(slices.Clone(pages[1]), pages[2][0]) {
		e.send(staff, c, "News")
	}
	pages = ps.rerun()
	require.Equal(t, []int{21, 0, 3}, []int{len(pages[0]), len(pages[1]), len(pages[2])})
	requireGapless(t, e, staff, nil, pages)
	first, _ := e.inboxPage(staff, pageOpts(10, nil, nil, nil), ps.ends[0])
	require.NotNil(t, first.SplitCursor, "a page of 21 > 2×10 offers a split")
	require.Equal(t, "SplitRecommended", *first.PageStatus)
	split := *first.SplitCursor
	a, aj := e.inboxPage(staff, pageOpts(10, nil, &split, nil), "")
	b, bj := e.inboxPage(staff, pageOpts(10, &split, &ps.ends[0], nil), "")
	require.Equal(t, split, aj)
	require.Equal(t, ps.ends[0], bj)
	require.Len(t, a.Page, 10)
	require.Equal(t, docIDs(first.Page), append(docIDs(a.Page), docIDs(b.Page)...))
	require.Nil(t, a.SplitCursor)
	require.Nil(t, b.SplitCursor)
}

// TestInboxPagesUnreadOnly: an unread-only pagination loses a
// conversation its side reads and gains one with a new unread message.
func TestInboxPagesUnreadOnly(t *testing.T) {
	e := newEnv(t)
	bulk := e.bulkInbox("bulk-", 9)
	// Three customers write: unread for the store.
	for _, i := range []int{1, 4, 7} {
		e.exec(`INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, created_at)
			VALUES ($1, $2, $3, 'customer', 'text', 'Where is it?', timestamptz '2021-06-01' - $4 * interval '1 minute')`,
			fmt.Sprintf("msg-bulk-%d", i), bulk[i], fmt.Sprintf("bulk-%d", i+1), i+1)
	}
	unread := map[string]any{"unreadOnly": true}
	ps := &inboxPages{e: e, id: staff, n: 2, filters: unread}
	pages := ps.load()
	require.Equal(t, [][]string{{bulk[1], bulk[4]}, {bulk[7]}}, pages)

	must[any](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": bulk[4]}))
	pages = ps.rerun()
	require.Equal(t, [][]string{{bulk[1]}, {bulk[7]}}, pages)

	// Kitchen staff share the store's list: John writes, and the demo
	// conversation (the newest) joins page 1.
	e.send(john, schema.DemoConversationID, "Is it ready?")
	pages = ps.rerun()
	require.Equal(t, [][]string{{schema.DemoConversationID, bulk[1]}, {bulk[7]}}, pages)
	requireGapless(t, e, kitchen, unread, pages)
}
