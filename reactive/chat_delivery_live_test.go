package reactive_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// TestLiveDeliveryStatus: the sender's thread shows its message sent,
// then delivered when the store's client acknowledges it, then read.
func TestLiveDeliveryStatus(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	type page struct {
		Messages []struct {
			ID     string `json:"_id"`
			Status string `json:"status"`
		} `json:"messages"`
	}
	thread := subscribeWait(t, ctx, jc, "shared/chat:getMessages", map[string]any{"conversationId": schema.DemoConversationID, "limit": 5})
	msg, _, err := sendText(ctx, jc, schema.DemoConversationID, "Is it on its way?")
	require.NoError(t, err)
	statusIs := func(want string) func(page) error {
		return func(p page) error {
			for _, m := range p.Messages {
				if m.ID == msg && m.Status == want {
					return nil
				}
			}
			return fmt.Errorf("%s not %s: %+v", msg, want, p.Messages)
		}
	}
	waitValue(t, thread, statusIs("sent"))
	mutate(t, ctx, sc, "markDelivered", map[string]any{"conversationId": schema.DemoConversationID, "upToMessageId": msg})
	waitValue(t, thread, statusIs("delivered"))
	mutate(t, ctx, sc, "markMessagesAsRead", map[string]any{"conversationId": schema.DemoConversationID})
	waitValue(t, thread, statusIs("read"))
}

// TestLivePresence: a participant is online in getParticipants, live,
// while a session of theirs is open, and offline when it closes; their
// calls keep lastSeenAt.
func TestLivePresence(t *testing.T) {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.Chat = parleytest.NoLimits
		cfg.ActivityInterval = 2 * time.Second
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	type participant struct {
		UserID     string   `json:"userId"`
		IsOnline   bool     `json:"isOnline"`
		LastSeenAt *float64 `json:"lastSeenAt"`
	}
	staffIs := func(online bool) func([]participant) error {
		return func(ps []participant) error {
			for _, p := range ps {
				if p.UserID == schema.DemoStaffID && p.IsOnline == online && p.LastSeenAt != nil {
					return nil
				}
			}
			return fmt.Errorf("staff not online=%v: %+v", online, ps)
		}
	}
	parts := subscribeWait(t, ctx, jc, "shared/chat:getParticipants", map[string]any{"conversationId": schema.DemoConversationID})

	staff := parleytest.PizzaStaff
	sc := s.Dial(t, staff, syncclient.Options{})
	// Staff take part once they answer.
	_, _, err := sendText(ctx, sc, schema.DemoConversationID, "On its way")
	require.NoError(t, err)
	waitValue(t, parts, staffIs(true))
	require.NoError(t, sc.Close())
	waitValue(t, parts, staffIs(false))

	// Back, and staying: an open session keeps its user seen.
	sc = s.Dial(t, staff, syncclient.Options{})
	waitValue(t, parts, staffIs(true))
	var before float64
	require.NoError(t, s.DB.QueryRow(ctx, `SELECT extract(epoch FROM last_seen_at) * 1000 FROM user_activity WHERE user_id = $1`,
		schema.DemoStaffID).Scan(&before))
	// Past an interval the open session is refreshed.
	require.Eventually(t, func() bool {
		var after float64
		err := s.DB.QueryRow(ctx, `SELECT extract(epoch FROM last_seen_at) * 1000 FROM user_activity WHERE user_id = $1`,
			schema.DemoStaffID).Scan(&after)
		return err == nil && after > before
	}, 10*time.Second, 100*time.Millisecond, "an open session keeps its user seen")
	require.NoError(t, sc.Close())
}
