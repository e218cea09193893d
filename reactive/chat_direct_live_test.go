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
	"github.com/parley-chat/parley/schema"
)

// TestLiveDirectChannels: a direct channel opened by one of its two
// people appears in the other's list, and its unread count follows their
// messages and reads.
func TestLiveDirectChannels(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	ac := s.Dial(t, parleytest.Admin, syncclient.Options{})
	type channel struct {
		ID          string `json:"_id"`
		UnreadCount int    `json:"unreadCount"`
		ChannelKey  string `json:"channelKey"`
	}
	list := subscribeWait(t, ctx, ac, "shared/chat:getDirectChannels", map[string]any{})
	require.Empty(t, currentValue[[]channel](t, list))

	var ref struct {
		ConversationID string `json:"conversationId"`
	}
	require.NoError(t, json.Unmarshal(mutate(t, ctx, jc, "getOrCreateDirectChannel", map[string]any{"userId": schema.DemoAdminID}), &ref))
	_, _, err := sendText(ctx, jc, ref.ConversationID, "A quick question")
	require.NoError(t, err)
	unread := func(n int) func([]channel) error {
		return func(cs []channel) error {
			if len(cs) != 1 || cs[0].ID != ref.ConversationID || cs[0].UnreadCount != n {
				return fmt.Errorf("want %s with %d unread: %+v", ref.ConversationID, n, cs)
			}
			return nil
		}
	}
	got := waitValue(t, list, unread(1))
	require.Equal(t, "direct:"+schema.DemoAdminID+":"+schema.DemoCustomerID, got[0].ChannelKey)
	mutate(t, ctx, ac, "markMessagesAsRead", map[string]any{"conversationId": ref.ConversationID})
	waitValue(t, list, unread(0))
}
