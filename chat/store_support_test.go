package chat_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

func openStoreSupport(t *testing.T, e *env, id *functions.Identity, args map[string]any) string {
	t.Helper()
	ref := must[chat.ConversationRef](t)(e.mutate(id, "createOrGetStoreSupportConversation", args))
	require.Equal(t, chat.StoreToAdmin, ref.ConversationType)
	return ref.ConversationID
}

func inboxOf(t *testing.T, e *env, id *functions.Identity, args map[string]any) map[string]chat.ConversationDoc {
	t.Helper()
	out := map[string]chat.ConversationDoc{}
	for _, d := range must[[]chat.ConversationDoc](t)(e.query(id, "getConversations", args)) {
		out[d.ID] = d
	}
	return out
}

func unreadCount(t *testing.T, e *env, id *functions.Identity) int {
	t.Helper()
	return must[int](t)(e.query(id, "getUnreadCount", map[string]any{}))
}

func TestStoreSupportThread(t *testing.T) {
	e := newEnv(t)
	conv := openStoreSupport(t, e, staff, map[string]any{})
	// One per store (and order): staff and support find the same.
	require.Equal(t, conv, openStoreSupport(t, e, staff, map[string]any{"storeId": schema.DemoStoreID}))
	require.Equal(t, conv, openStoreSupport(t, e, admin, map[string]any{"storeId": schema.DemoStoreID}))
	aboutOrder := openStoreSupport(t, e, staff, map[string]any{"orderId": schema.DemoOrderID})
	require.NotEqual(t, conv, aboutOrder)
	require.Equal(t, aboutOrder, openStoreSupport(t, e, admin, map[string]any{"storeId": schema.DemoStoreID, "orderId": schema.DemoOrderID}))

	d := must[chat.ConversationDoc](t)(e.query(staff, "getConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, chat.StoreToAdmin, d.ConversationType)
	require.Equal(t, schema.DemoStoreID, *d.StoreID)
	require.Empty(t, d.CustomerID)
	require.Nil(t, d.OrderID)

	storeUnread, adminUnread := unreadCount(t, e, staff), unreadCount(t, e, admin)
	// The store asks: support's unread count grows, the store's does not.
	e.send(staff, conv, "Our payouts are late")
	e.send(staff, conv, "Since Monday")
	require.Equal(t, adminUnread+2, unreadCount(t, e, admin))
	require.Equal(t, storeUnread, unreadCount(t, e, staff))
	a := inboxOf(t, e, admin, map[string]any{})[conv]
	require.Equal(t, 2, a.UnreadCountCustomer, "support has not read the store's two (support's column)")
	require.Equal(t, 0, a.UnreadCountRecipient)
	require.Contains(t, inboxOf(t, e, admin, map[string]any{"kind": "store_to_admin", "unreadOnly": true}), conv)
	require.NotContains(t, inboxOf(t, e, staff, map[string]any{"unreadOnly": true}), conv, "the store has read its own")

	// Support reads them and answers: taking the thread, as with a customer's.
	marked := must[chat.MarkReadResult](t)(e.mutate(admin, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Len(t, marked.MessageIDs, 2)
	require.Equal(t, adminUnread, unreadCount(t, e, admin))
	reply := e.send(admin, conv, "Looking into it")
	require.Equal(t, storeUnread+1, unreadCount(t, e, staff), "the answer is unread, the join notice is not")
	joined := must[chat.MessagePage](t)(e.query(staff, "getMessages", map[string]any{"conversationId": conv}))
	require.Equal(t, reply, joined.Messages[0].ID)
	require.Equal(t, "system", joined.Messages[1].MessageType)
	require.Equal(t, "Parley Support joined the conversation", joined.Messages[1].Content, "just before the answer")
	require.Less(t, joined.Messages[1].CreationTime, joined.Messages[0].CreationTime)
	// Only the first answer: the thread is now taken.
	e.send(admin, conv, "Give me a minute")
	again := must[chat.MessagePage](t)(e.query(staff, "getMessages", map[string]any{"conversationId": conv}))
	require.Equal(t, "Looking into it", again.Messages[1].Content)
	must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	reply = e.send(admin, conv, "Still on it")
	s := inboxOf(t, e, staff, map[string]any{"kind": "store_to_admin"})
	require.Len(t, s, 2, "the store's support threads only")
	require.Equal(t, 1, s[conv].UnreadCountRecipient, "the store has not read support's answer (its column, as with customers)")
	require.Equal(t, schema.DemoAdminID, *s[conv].AssignedAdminID)
	require.Contains(t, inboxOf(t, e, staff, map[string]any{"unreadOnly": true}), conv)
	// The store's inbox also still has its customers' conversations.
	require.Contains(t, inboxOf(t, e, staff, map[string]any{}), schema.DemoConversationID)

	// The store's staff read the answer; support sees it read.
	marked = must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Equal(t, []string{reply}, marked.MessageIDs)
	require.Equal(t, storeUnread, unreadCount(t, e, staff))
	page := must[chat.MessagePage](t)(e.query(admin, "getMessages", map[string]any{"conversationId": conv}))
	require.Equal(t, reply, page.Messages[0].ID)
	require.Equal(t, chat.StatusRead, page.Messages[0].Status)

	// A delivery acknowledgement by the store's staff shows on support's
	// next message.
	next := e.send(admin, conv, "Found it: a bank holiday")
	must[any](t)(e.mutate(staff, "markDelivered", map[string]any{"conversationId": conv, "upToMessageId": next}))
	page = must[chat.MessagePage](t)(e.query(admin, "getMessages", map[string]any{"conversationId": conv}))
	require.Equal(t, chat.StatusDelivered, page.Messages[0].Status)

	// Search finds it for the store and for support.
	for _, id := range []*functions.Identity{staff, admin} {
		res := must[chat.SearchResult](t)(e.query(id, "searchMessages", map[string]any{"query": "payouts"}))
		require.Len(t, res.Messages, 1, "as %s", id.Role)
		require.Equal(t, conv, res.Messages[0].ConversationID)
	}

	// Nobody else: customers, another store's staff.
	for _, id := range []*functions.Identity{john, burger} {
		_, err := e.query(id, "getMessages", map[string]any{"conversationId": conv})
		requireCode(t, err, 404, "Conversation not found")
		require.NotContains(t, inboxOf(t, e, id, map[string]any{}), conv)
		res := must[chat.SearchResult](t)(e.query(id, "searchMessages", map[string]any{"query": "payouts"}))
		require.Empty(t, res.Messages)
	}

	// Support transfers it; the store's staff may close it.
	admin2 := &functions.Identity{Subject: schema.DemoAdmin2ID, Role: functions.RoleAdmin}
	must[any](t)(e.mutate(admin, "transferConversation", map[string]any{"conversationId": conv, "toAdminId": schema.DemoAdmin2ID}))
	require.Equal(t, schema.DemoAdmin2ID, *inboxOf(t, e, admin2, map[string]any{})[conv].AssignedAdminID)
	must[any](t)(e.mutate(staff, "closeConversation", map[string]any{"conversationId": conv}))
	_, err := e.mutate(staff, "sendMessage", map[string]any{"conversationId": conv, "content": "Hi", "messageType": "text"})
	requireCode(t, err, 403, "Conversation is closed")
}

func TestStoreSupportArguments(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		id     *functions.Identity
		args   map[string]any
		status int
		msg    string
	}{
		{"customer", john, map[string]any{"storeId": schema.DemoStoreID}, 403,
			"Only a store's staff or support can open a store support conversation"},
		{"another store's staff", burger, map[string]any{"storeId": schema.DemoStoreID}, 404, "Store not found"},
		{"admin without a store", admin, map[string]any{}, 400, "storeId is required: support opens a conversation with a store it names"},
		{"empty storeId", staff, map[string]any{"storeId": ""}, 400, "storeId must not be empty"},
		{"unknown store", admin, map[string]any{"storeId": "store_nope"}, 404, "Store not found"},
		{"empty orderId", staff, map[string]any{"orderId": ""}, 400, "orderId must not be empty"},
		{"another store's order", staff, map[string]any{"orderId": schema.DemoClosedOrderID}, 404, "Order not found"},
		{"unknown order", admin, map[string]any{"storeId": schema.DemoStoreID, "orderId": "order_nope"}, 404, "Order not found"},
		{"storeId of the wrong type", staff, map[string]any{"storeId": 7}, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.mutate(c.id, "createOrGetStoreSupportConversation", c.args)
			if c.msg == "" {
				var fe *functions.Error
				require.ErrorAs(t, err, &fe)
				require.Equal(t, c.status, fe.Status)
				require.Contains(t, fe.Message, "storeId")
				return
			}
			requireCode(t, err, c.status, c.msg)
		})
	}
	_, err := e.mutate(nil, "createOrGetStoreSupportConversation", map[string]any{})
	requireCode(t, err, 401, "Not authenticated")
}

// Support's inbox holds customers' and stores' threads in one order,
// newest activity first, however a limit or a page cuts it.
func TestSupportInboxMergesBothKinds(t *testing.T) {
	e := newEnv(t)
	johns := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{})).ConversationID
	stores := openStoreSupport(t, e, staff, map[string]any{})
	janes := must[chat.ConversationRef](t)(e.mutate(jane, "createOrGetConversation", map[string]any{})).ConversationID
	e.send(john, johns, "Where is my refund?")
	e.send(staff, stores, "Our payouts are late")
	e.send(jane, janes, "Wrong address")
	ids := func(docs []chat.ConversationDoc) []string {
		out := make([]string, len(docs))
		for i, d := range docs {
			out[i] = d.ID
		}
		return out
	}
	all := ids(must[[]chat.ConversationDoc](t)(e.query(admin, "getConversations", map[string]any{})))
	require.Equal(t, []string{janes, stores, johns}, all[:3])
	require.Equal(t, []string{janes, stores},
		ids(must[[]chat.ConversationDoc](t)(e.query(admin, "getConversations", map[string]any{"limit": 2}))))
	e.send(john, johns, "Hello?")
	require.Equal(t, []string{johns, janes},
		ids(must[[]chat.ConversationDoc](t)(e.query(admin, "getConversations", map[string]any{"limit": 2}))))
	first := must[chat.PaginatedConversations](t)(e.query(admin, "getConversationsPaginated",
		map[string]any{"paginationOpts": map[string]any{"numItems": 2, "cursor": nil}}))
	require.Equal(t, []string{johns, janes}, ids(first.Page))
	next := must[chat.PaginatedConversations](t)(e.query(admin, "getConversationsPaginated",
		map[string]any{"paginationOpts": map[string]any{"numItems": 2, "cursor": first.ContinueCursor}}))
	require.Equal(t, stores, next.Page[0].ID)
	require.Equal(t, []string{stores},
		ids(must[[]chat.ConversationDoc](t)(e.query(admin, "getConversations", map[string]any{"kind": "store_to_admin"}))))
	require.Empty(t, must[[]chat.ConversationDoc](t)(e.query(admin, "getConversations", map[string]any{"kind": "customer_to_store"})))
}
