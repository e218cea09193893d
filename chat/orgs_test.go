package chat_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
)

// The acme org: a store with two staff, a customer with an order there,
// and two admins; and the default org's demo data beside it.
var (
	acmeCustomer = &functions.Identity{Subject: "cust-acme", Role: functions.RoleCustomer, Name: "Ann Acme", Org: "acme"}
	acmeStaff    = &functions.Identity{Subject: "staff-acme", Role: functions.RoleStore, StoreID: "store-acme", Org: "acme"}
	acmeAdmin2   = &functions.Identity{Subject: "admin-acme-2", Role: functions.RoleAdmin, Name: "Acme Support 2", Org: "acme"}
)

func seedAcme(e *env) {
	e.exec(`INSERT INTO users (id, name, role, org_id) VALUES
		('cust-acme', 'Ann Acme', 'customer', 'acme'), ('staff-acme', 'Acme Desk', 'store', 'acme'),
		('staff-acme-2', 'Acme Stock', 'store', 'acme'),
		('admin-acme', 'Acme Support', 'admin', 'acme'), ('admin-acme-2', 'Acme Support 2', 'admin', 'acme')`)
	e.exec(`INSERT INTO stores (id, name, org_id) VALUES ('store-acme', 'Acme Goods', 'acme')`)
	e.exec(`INSERT INTO store_staff (store_id, user_id) VALUES ('store-acme', 'staff-acme'), ('store-acme', 'staff-acme-2')`)
	e.exec(`INSERT INTO orders (id, customer_id, store_id, total_amount, status) VALUES ('order-acme', 'cust-acme', 'store-acme', 9.99, 'paid')`)
}

func listIDs(t *testing.T, e *env, id *functions.Identity, fn string) []string {
	t.Helper()
	var ids []string
	for _, d := range must[[]chat.ConversationDoc](t)(e.query(id, fn, map[string]any{})) {
		ids = append(ids, d.ID)
	}
	return ids
}

func TestOrgsDoNotCross(t *testing.T) {
	e := newEnv(t)
	seedAcme(e)

	// Ann talks to her store and to her org's support.
	store := must[chat.ConversationRef](t)(e.mutate(acmeCustomer, "createOrGetConversation",
		map[string]any{"orderId": "order-acme", "storeId": "store-acme"}))
	require.Equal(t, chat.CustomerToStore, store.ConversationType)
	support := must[chat.ConversationRef](t)(e.mutate(acmeCustomer, "createOrGetConversation", map[string]any{}))
	e.send(acmeCustomer, support.ConversationID, "Where is my parcel?")
	johnSupport := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{}))

	require.ElementsMatch(t, []string{store.ConversationID}, listIDs(t, e, acmeStaff, "getConversations"))
	require.ElementsMatch(t, []string{support.ConversationID}, listIDs(t, e, acmeAdmin, "getConversations"))
	require.NotContains(t, listIDs(t, e, admin, "getConversations"), support.ConversationID)
	require.Contains(t, listIDs(t, e, admin, "getConversations"), johnSupport.ConversationID)
	require.Equal(t, 1, must[int](t)(e.query(acmeAdmin, "getUnreadCount", map[string]any{})))

	// Each side's admin finds the other's conversation nowhere.
	_, err := e.query(admin, "getMessages", map[string]any{"conversationId": support.ConversationID})
	requireCode(t, err, 404, "Conversation not found")
	_, err = e.mutate(acmeAdmin, "sendMessage", map[string]any{"conversationId": johnSupport.ConversationID, "content": "hi", "messageType": "text"})
	requireCode(t, err, 404, "Conversation not found")

	// The default org's customers cannot reach acme's store, nor acme's
	// customer the default org's.
	_, err = e.query(john, "canChatWithStore", map[string]any{"storeId": "store-acme"})
	requireCode(t, err, 404, "Store not found")
	_, err = e.mutate(jane, "createOrGetConversation", map[string]any{"storeId": "store-acme"})
	requireCode(t, err, 404, "Store not found")
	can := must[chat.CanChat](t)(e.query(acmeCustomer, "canChatWithStore", map[string]any{"storeId": "store-acme"}))
	require.True(t, can.CanChat)

	// Transfers and groups stay within the org.
	_, err = e.mutate(acmeAdmin, "transferConversation", map[string]any{"conversationId": support.ConversationID, "toAdminId": "admin123456789"})
	requireCode(t, err, 404, "Admin not found")
	must[any](t)(e.mutate(acmeAdmin, "transferConversation", map[string]any{"conversationId": support.ConversationID, "toAdminId": "admin-acme-2"}))
	require.Contains(t, listIDs(t, e, acmeAdmin2, "getConversations"), support.ConversationID)
	_, err = e.mutate(acmeStaff, "createGroupConversation", map[string]any{"participantIds": []string{"user222222222"}})
	requireCode(t, err, 404, "User not found: user222222222")
	group := must[chat.ConversationRef](t)(e.mutate(acmeStaff, "createGroupConversation", map[string]any{"participantIds": []string{"staff-acme-2"}}))
	_, err = e.mutate(admin, "blockConversation", map[string]any{"conversationId": group.ConversationID})
	requireCode(t, err, 404, "Conversation not found")
	must[any](t)(e.mutate(acmeAdmin, "blockConversation", map[string]any{"conversationId": group.ConversationID}))

	// A conversation made in one org is not found from the other even by
	// the same subject (John's token for acme).
	_, err = e.query(johnAcme, "getConversation", map[string]any{"conversationId": johnSupport.ConversationID})
	requireCode(t, err, 404, "Conversation not found")
	acmeJohn := must[chat.ConversationRef](t)(e.mutate(johnAcme, "createOrGetConversation", map[string]any{}))
	require.NotEqual(t, johnSupport.ConversationID, acmeJohn.ConversationID, "one support conversation per org")
	require.Equal(t, []string{acmeJohn.ConversationID}, listIDs(t, e, johnAcme, "getConversations"))
}

func TestOrgSettings(t *testing.T) {
	e := newEnv(t)
	seedAcme(e)
	// Without a row of its own, an org has the default settings.
	require.True(t, must[chat.ChatSettings](t)(e.query(acmeCustomer, "getChatSettings", map[string]any{})).AdminSupportEnabled)

	e.exec(`INSERT INTO chat_settings (org_id, admin_support_enabled, direct_messaging_enabled) VALUES ('acme', false, false)`)
	acme := must[chat.ChatSettings](t)(e.query(acmeCustomer, "getChatSettings", map[string]any{}))
	require.False(t, acme.AdminSupportEnabled)
	require.False(t, acme.DirectMessagingEnabled)
	for _, id := range []*functions.Identity{john, nobody} {
		require.True(t, must[chat.ChatSettings](t)(e.query(id, "getChatSettings", map[string]any{})).AdminSupportEnabled)
	}

	_, err := e.mutate(acmeCustomer, "createOrGetConversation", map[string]any{})
	requireCode(t, err, 403, "Support chat is disabled")
	can := must[chat.CanChat](t)(e.query(acmeCustomer, "canChatWithStore", map[string]any{"storeId": "store-acme"}))
	require.False(t, can.CanChat)
	require.Equal(t, chat.ReasonDirectMessagingDisabled, *can.Reason)
	// The default org is untouched.
	must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{}))
}
