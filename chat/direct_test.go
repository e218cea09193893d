package chat_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

func openDirect(e *env, id *functions.Identity, userID string) (json.RawMessage, error) {
	return e.mutate(id, "getOrCreateDirectChannel", map[string]any{"userId": userID})
}

func directsOf(t *testing.T, e *env, id *functions.Identity) map[string]chat.ConversationDoc {
	t.Helper()
	out := map[string]chat.ConversationDoc{}
	for _, d := range must[[]chat.ConversationDoc](t)(e.query(id, "getDirectChannels", map[string]any{})) {
		out[d.ID] = d
	}
	return out
}

func TestDirectChannel(t *testing.T) {
	e := newEnv(t)
	ref := must[chat.ConversationRef](t)(openDirect(e, john, schema.DemoAdminID))
	require.Equal(t, chat.Direct, ref.ConversationType)
	conv := ref.ConversationID
	// One per pair, whichever of the two asks.
	require.Equal(t, conv, must[chat.ConversationRef](t)(openDirect(e, john, schema.DemoAdminID)).ConversationID)
	require.Equal(t, conv, must[chat.ConversationRef](t)(openDirect(e, admin, schema.DemoCustomerID)).ConversationID)

	d := must[chat.ConversationDoc](t)(e.query(john, "getConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, chat.Direct, d.ConversationType)
	require.Equal(t, "direct:"+schema.DemoAdminID+":"+schema.DemoCustomerID, *d.ChannelKey)
	require.Len(t, d.Participants, 2)
	require.Empty(t, d.CustomerID)

	// The two talk; each lists it with their own unread count.
	e.send(john, conv, "Can you check my refund?")
	e.send(john, conv, "It has been a week")
	require.Equal(t, 2, *directsOf(t, e, admin)[conv].UnreadCount)
	require.Equal(t, 0, *directsOf(t, e, john)[conv].UnreadCount)
	must[chat.MarkReadResult](t)(e.mutate(admin, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Equal(t, 0, *directsOf(t, e, admin)[conv].UnreadCount)
	e.send(admin, conv, "Refunded today")
	require.Equal(t, 1, *directsOf(t, e, john)[conv].UnreadCount)
	require.Equal(t, *directsOf(t, e, john)[conv].ChannelKey, *d.ChannelKey)

	// Nobody else sees it; another admin moderates it without speaking.
	_, err := e.query(jane, "getConversation", map[string]any{"conversationId": conv})
	requireCode(t, err, 404, "Conversation not found")
	_, err = e.query(staff, "getMessages", map[string]any{"conversationId": conv})
	requireCode(t, err, 404, "Conversation not found")
	admin2 := &functions.Identity{Subject: schema.DemoAdmin2ID, Role: functions.RoleAdmin}
	must[chat.MessagePage](t)(e.query(admin2, "getMessages", map[string]any{"conversationId": conv}))
	_, err = e.mutate(admin2, "sendMessage", map[string]any{"conversationId": conv, "content": "Hi", "messageType": "text"})
	requireCode(t, err, 403, "Unauthorized to send message to this conversation")
	require.Empty(t, directsOf(t, e, admin2))
	require.Empty(t, directsOf(t, e, jane))
	// No one-to-one list has it.
	for _, id := range []*functions.Identity{john, admin} {
		for _, c := range must[[]chat.ConversationDoc](t)(e.query(id, "getConversations", map[string]any{})) {
			require.NotEqual(t, conv, c.ID)
		}
	}
	// Either of the two may close it.
	must[any](t)(e.mutate(john, "closeConversation", map[string]any{"conversationId": conv}))
	_, err = e.mutate(admin, "sendMessage", map[string]any{"conversationId": conv, "content": "Hi", "messageType": "text"})
	requireCode(t, err, 403, "Conversation is closed")
	must[any](t)(e.mutate(admin, "reopenConversation", map[string]any{"conversationId": conv}))
}

func TestDirectChannelPairs(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		id     *functions.Identity
		userID string
		status int
		msg    string
	}{
		{"customer to admin", john, schema.DemoAdminID, 200, ""},
		{"customer to staff of a store they may message", john, schema.DemoStaffID, 200, ""},
		{"customer to staff of a store without an active order", john, schema.DemoClosedStaffID, 404, "User not found: " + schema.DemoClosedStaffID},
		{"customer to customer", john, schema.DemoOtherCustomerID, 404, "User not found: " + schema.DemoOtherCustomerID},
		{"staff to a colleague", staff, schema.DemoStaff2ID, 200, ""},
		{"staff to admin", staff, schema.DemoAdminID, 200, ""},
		{"staff to another store's staff", staff, schema.DemoClosedStaffID, 404, "User not found: " + schema.DemoClosedStaffID},
		{"staff to a customer", staff, schema.DemoCustomerID, 404, "User not found: " + schema.DemoCustomerID},
		{"admin to anyone", admin, schema.DemoOtherCustomerID, 200, ""},
		{"admin to admin", admin, schema.DemoAdmin2ID, 200, ""},
		{"a user that does not exist", admin, "user-nope", 404, "User not found: user-nope"},
		{"a user of another org", johnAcme, schema.DemoAdminID, 404, "User not found: " + schema.DemoAdminID},
		{"oneself", john, schema.DemoCustomerID, 400, "userId must be another user than you"},
		{"no user", john, "  ", 400, "userId is required"},
		{"no identity", nobody, schema.DemoAdminID, 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := openDirect(e, c.id, c.userID)
			if c.status == 200 {
				require.Equal(t, chat.Direct, must[chat.ConversationRef](t)(raw, err).ConversationType)
				return
			}
			requireCode(t, err, c.status, c.msg)
		})
	}
	// The chat switch stops customers and staff, not admins.
	e.exec(`UPDATE chat_settings SET chat_enabled = false WHERE org_id = ''`)
	t.Cleanup(func() { e.exec(`UPDATE chat_settings SET chat_enabled = true WHERE org_id = ''`) })
	_, err := openDirect(e, staff, schema.DemoAdmin2ID)
	requireCode(t, err, 403, "Chat is disabled")
	must[chat.ConversationRef](t)(openDirect(e, admin, schema.DemoStaff2ID))
}

func TestDirectChannelConcurrent(t *testing.T) {
	e := newEnv(t)
	const n = 10
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			who, other := john, schema.DemoAdminID
			if i%2 == 1 {
				who, other = admin, schema.DemoCustomerID // the other side asks at the same time
			}
			raw, err := openDirect(e, who, other)
			require.NoError(t, err)
			ids[i] = must[chat.ConversationRef](t)(raw, nil).ConversationID
		})
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	var count int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM conversations WHERE conversation_type = 'direct'`).Scan(&count))
	require.Equal(t, 1, count)
}
