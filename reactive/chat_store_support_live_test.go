package reactive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/syncclient"
)

// TestLiveStoreSupport: a store's thread with support appears in
// support's inbox when the store opens it and writes; each side's unread
// total follows the other side's messages and its own reads.
func TestLiveStoreSupport(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	ac := s.Dial(t, parleytest.Admin, syncclient.Options{})
	type conv struct {
		ID                  string `json:"_id"`
		ConversationType    string `json:"conversationType"`
		UnreadCountCustomer int    `json:"unreadCountCustomer"` // support's, in a store's thread
		LastMessagePreview  string `json:"lastMessagePreview"`
	}
	inbox := subscribeWait(t, ctx, ac, "shared/chat:getConversations", map[string]any{"kind": "store_to_admin"})
	require.Empty(t, currentValue[[]conv](t, inbox))
	adminTotal := subscribeWait(t, ctx, ac, "shared/chat:getUnreadCount", map[string]any{})
	storeTotal := subscribeWait(t, ctx, sc, "shared/chat:getUnreadCount", map[string]any{})
	adminBase, storeBase := currentValue[int](t, adminTotal), currentValue[int](t, storeTotal)
	total := func(n int) func(int) error {
		return func(got int) error {
			if got != n {
				return fmt.Errorf("want %d unread, got %d", n, got)
			}
			return nil
		}
	}

	var ref struct {
		ConversationID   string `json:"conversationId"`
		ConversationType string `json:"conversationType"`
	}
	require.NoError(t, json.Unmarshal(mutate(t, ctx, sc, "createOrGetStoreSupportConversation", map[string]any{}), &ref))
	require.Equal(t, "store_to_admin", ref.ConversationType)
	_, _, err := sendText(ctx, sc, ref.ConversationID, "Our payouts are late")
	require.NoError(t, err)
	waitValue(t, inbox, func(cs []conv) error {
		if len(cs) != 1 || cs[0].ID != ref.ConversationID || cs[0].UnreadCountCustomer != 1 ||
			cs[0].LastMessagePreview != "Our payouts are late" {
			return fmt.Errorf("want %s with the store's message unread: %+v", ref.ConversationID, cs)
		}
		return nil
	})
	waitValue(t, adminTotal, total(adminBase+1))

	mutate(t, ctx, ac, "markMessagesAsRead", map[string]any{"conversationId": ref.ConversationID})
	waitValue(t, adminTotal, total(adminBase))
	_, _, err = sendText(ctx, ac, ref.ConversationID, "Looking into it")
	require.NoError(t, err)
	waitValue(t, storeTotal, total(storeBase+1))
	mutate(t, ctx, sc, "markMessagesAsRead", map[string]any{"conversationId": ref.ConversationID})
	waitValue(t, storeTotal, total(storeBase))
}
