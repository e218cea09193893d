package chat_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// requireNoNull fails if the JSON result has a null anywhere: the generated
// TypeScript types (functions/tsgen) say T[] and Record<…> for result slices
// and maps, never "| null", so a nil one must be encoded as [] or {}.
func requireNoNull(t *testing.T, call string, raw json.RawMessage) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(raw, &v), call)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			t.Errorf("%s: %s is null in %s", call, path, raw)
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		}
	}
	walk("result", v)
}

// TestEmptyResultsHaveNoNullArrays runs the real handlers where there is
// nothing to list: every array in their results is [], never null.
func TestEmptyResultsHaveNoNullArrays(t *testing.T) {
	e := newEnv(t)
	// A customer with no orders and no conversations.
	fresh := &functions.Identity{Subject: "cust-empty-1", Role: functions.RoleCustomer, Name: "Emma Empty"}

	check := func(call string) func(json.RawMessage, error) json.RawMessage {
		return func(raw json.RawMessage, err error) json.RawMessage {
			t.Helper()
			require.NoError(t, err, call)
			requireNoNull(t, call, raw)
			return raw
		}
	}
	raw := check("canChatWithStore")(e.query(fresh, "canChatWithStore", map[string]any{"storeId": schema.DemoStoreID}))
	require.JSONEq(t, `[]`, string(mustField(t, raw, "orderIds")))
	require.JSONEq(t, `[]`, string(check("getConversations")(e.query(fresh, "getConversations", map[string]any{}))))
	require.JSONEq(t, `[]`, string(check("getConversations archived")(e.query(staff, "getConversations", map[string]any{"status": "archived"}))))
	require.JSONEq(t, `0`, string(check("getUnreadCount")(e.query(fresh, "getUnreadCount", map[string]any{}))))

	// A new, empty support conversation.
	ref := must[chat.ConversationRef](t)(e.mutate(fresh, "createOrGetConversation", map[string]any{}))
	conv := map[string]any{"conversationId": ref.ConversationID}
	require.JSONEq(t, `[]`, string(check("getTypingIndicators")(e.query(fresh, "getTypingIndicators", conv))))
	raw = check("getMessages")(e.query(fresh, "getMessages", conv))
	require.JSONEq(t, `[]`, string(mustField(t, raw, "messages")))
	raw = check("getMessagesPaginated")(e.query(fresh, "getMessagesPaginated", map[string]any{
		"conversationId": ref.ConversationID, "paginationOpts": map[string]any{"numItems": 10, "cursor": nil}}))
	require.JSONEq(t, `[]`, string(mustField(t, raw, "page")))
	check("getConversation")(e.query(fresh, "getConversation", conv))
	raw = check("markMessagesAsRead")(e.mutate(fresh, "markMessagesAsRead", conv))
	require.JSONEq(t, `{"markedCount":0,"messageIds":[]}`, string(raw))
	raw = check("markMessagesAsRead listed")(e.mutate(fresh, "markMessagesAsRead",
		map[string]any{"conversationId": ref.ConversationID, "messageIds": []string{}}))
	require.JSONEq(t, `{"markedCount":0,"messageIds":[]}`, string(raw))
	check("getChatSettings")(e.query(nobody, "getChatSettings", map[string]any{}))
}

func mustField(t *testing.T, raw json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	f, ok := m[name]
	require.True(t, ok, "no %s in %s", name, raw)
	return f
}
