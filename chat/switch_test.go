package chat_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

func chatEnabled(t *testing.T, e *env, id *functions.Identity, args map[string]any) bool {
	t.Helper()
	return must[chat.ChatStatus](t)(e.query(id, "isChatEnabled", args)).Enabled
}

func TestChatSwitch(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	support := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{})).ConversationID
	msg := e.send(john, conv, "Hello")
	require.True(t, chatEnabled(t, e, john, map[string]any{}))

	// Off for the whole (default) org: every mutation of a customer or of
	// staff says so; queries keep working; admins still moderate.
	e.exec(`UPDATE chat_settings SET chat_enabled = false WHERE org_id = ''`)
	require.False(t, chatEnabled(t, e, john, map[string]any{}))
	require.False(t, chatEnabled(t, e, nobody, map[string]any{}))
	calls := []struct {
		id   *functions.Identity
		fn   string
		args map[string]any
	}{
		{john, "sendMessage", map[string]any{"conversationId": conv, "content": "hi", "messageType": "text"}},
		{staff, "sendMessage", map[string]any{"conversationId": conv, "content": "hi", "messageType": "text"}},
		{john, "createOrGetConversation", map[string]any{}},
		{john, "createOrGetConversation", map[string]any{"orderId": schema.DemoOrderID, "storeId": schema.DemoStoreID}},
		{john, "generateUploadUrl", map[string]any{}},
		{john, "editMessage", map[string]any{"messageId": msg, "content": "Hello!"}},
		{john, "deleteMessage", map[string]any{"messageId": msg}},
		{staff, "markMessagesAsRead", map[string]any{"conversationId": conv}},
		{john, "updateTypingStatus", map[string]any{"conversationId": conv, "isTyping": true}},
		{john, "archiveConversation", map[string]any{"conversationId": conv}},
		{staff, "closeConversation", map[string]any{"conversationId": conv}},
		{john, "createGroupConversation", map[string]any{"participantIds": []string{schema.DemoStaffID}}},
	}
	for _, c := range calls {
		_, err := e.mutate(c.id, c.fn, c.args)
		requireCode(t, err, 403, "Chat is disabled")
	}
	// An outsider still learns nothing.
	_, err := e.mutate(jane, "sendMessage", map[string]any{"conversationId": conv, "content": "hi", "messageType": "text"})
	requireCode(t, err, 404, "Conversation not found")
	page := must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv}))
	require.Equal(t, msg, page.Messages[0].ID)
	must[string](t)(e.mutate(admin, "sendMessage", map[string]any{"conversationId": support, "content": "We are here", "messageType": "text"}))
	must[any](t)(e.mutate(admin, "blockConversation", map[string]any{"conversationId": conv}))
	must[any](t)(e.mutate(admin, "unblockConversation", map[string]any{"conversationId": conv}))

	// An org with its own settings row keeps its own switch.
	seedAcme(e)
	e.exec(`INSERT INTO chat_settings (org_id, chat_enabled) VALUES ('acme', true)`)
	require.True(t, chatEnabled(t, e, acmeCustomer, map[string]any{}))
	must[chat.ConversationRef](t)(e.mutate(acmeCustomer, "createOrGetConversation", map[string]any{}))
	e.exec(`UPDATE chat_settings SET chat_enabled = true WHERE org_id = ''`)

	// Off for one store: its conversations refuse, support does not.
	e.exec(`UPDATE stores SET chat_enabled = false WHERE id = $1`, schema.DemoStoreID)
	require.True(t, chatEnabled(t, e, john, map[string]any{}))
	require.False(t, chatEnabled(t, e, john, map[string]any{"storeId": schema.DemoStoreID}))
	require.True(t, chatEnabled(t, e, john, map[string]any{"storeId": schema.DemoClosedStoreID}))
	for _, id := range []*functions.Identity{john, staff} {
		_, err := e.mutate(id, "sendMessage", map[string]any{"conversationId": conv, "content": "hi", "messageType": "text"})
		requireCode(t, err, 403, "Chat is disabled")
	}
	_, err = e.mutate(john, "createOrGetConversation", map[string]any{"orderId": schema.DemoOrderID, "storeId": schema.DemoStoreID})
	requireCode(t, err, 403, "Chat is disabled")
	e.send(john, support, "Still here")
	// Nor can a group with the store's staff go around the switch.
	_, err = e.mutate(john, "createGroupConversation", map[string]any{"participantIds": []string{schema.DemoStaffID}})
	requireCode(t, err, 403, "Chat is disabled")
	_, err = e.mutate(staff, "createGroupConversation", map[string]any{"participantIds": []string{schema.DemoStaff2ID}})
	requireCode(t, err, 403, "Chat is disabled")
	can := must[chat.CanChat](t)(e.query(john, "canChatWithStore", map[string]any{"storeId": schema.DemoStoreID}))
	require.False(t, can.CanChat)
	require.Equal(t, chat.ReasonChatDisabled, *can.Reason)
	_, err = e.query(john, "isChatEnabled", map[string]any{"storeId": "store-nope"})
	requireCode(t, err, 404, "Store not found")
	_, err = e.query(john, "isChatEnabled", map[string]any{"storeId": "store-acme"})
	requireCode(t, err, 404, "Store not found")
}

func TestConversationSubject(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	set := func(id *functions.Identity, subject any) error {
		_, err := e.mutate(id, "setConversationSubject", map[string]any{"conversationId": conv, "subject": subject})
		return err
	}
	subjectOf := func() *string {
		return must[chat.ConversationDoc](t)(e.query(john, "getConversation", map[string]any{"conversationId": conv})).Subject
	}
	require.Nil(t, subjectOf())
	require.NoError(t, set(john, "  Late delivery  "))
	require.Equal(t, "Late delivery", *subjectOf())
	require.Equal(t, "John Doe changed the subject to “Late delivery”", newest(t, e, conv).Content)
	require.NoError(t, set(staff, "Late delivery"), "the same subject is a no-op")
	require.Equal(t, "John Doe changed the subject to “Late delivery”", newest(t, e, conv).Content)
	require.NoError(t, set(admin, ""))
	require.Nil(t, subjectOf())
	require.Equal(t, "Parley Support cleared the subject", newest(t, e, conv).Content)
	requireCode(t, set(john, strings.Repeat("s", 201)), 400, "subject must be at most 200 characters, got 201")
	requireCode(t, set(jane, "mine now"), 404, "Conversation not found")
}
