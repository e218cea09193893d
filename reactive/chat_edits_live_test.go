package reactive_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// TestLiveEdits: an edit reaches the other side's thread and the
// message's history as it commits.
func TestLiveEdits(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	msg, _, err := sendText(ctx, jc, schema.DemoConversationID, "Two pizzas")
	require.NoError(t, err)

	type page struct {
		Messages []struct {
			ID       string   `json:"_id"`
			Content  string   `json:"content"`
			EditedAt *float64 `json:"editedAt"`
		} `json:"messages"`
	}
	type hist struct {
		Versions []struct {
			Content string `json:"content"`
		} `json:"versions"`
	}
	thread := subscribeWait(t, ctx, sc, "shared/chat:getMessages", map[string]any{"conversationId": schema.DemoConversationID, "limit": 5})
	versions := subscribeWait(t, ctx, sc, "shared/chat:getMessageHistory", map[string]any{"messageId": msg})
	require.Len(t, currentValue[hist](t, versions).Versions, 1)

	mutate(t, ctx, jc, "editMessage", map[string]any{"messageId": msg, "content": "Three pizzas"})
	waitValue(t, thread, func(p page) error {
		for _, m := range p.Messages {
			if m.ID == msg && m.Content == "Three pizzas" && m.EditedAt != nil {
				return nil
			}
		}
		return fmt.Errorf("edit not shown: %+v", p.Messages)
	})
	waitValue(t, versions, func(h hist) error {
		if len(h.Versions) != 2 || h.Versions[0].Content != "Two pizzas" || h.Versions[1].Content != "Three pizzas" {
			return fmt.Errorf("history %+v", h.Versions)
		}
		return nil
	})
}

// TestLiveSearch: a search's results take in a new message that matches,
// and let go of one deleted.
func TestLiveSearch(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	type result struct {
		Messages []struct {
			ID string `json:"_id"`
		} `json:"messages"`
	}
	found := subscribeWait(t, ctx, jc, "shared/chat:searchMessages", map[string]any{"query": "calzone"})
	require.Empty(t, currentValue[result](t, found).Messages)

	msg, _, err := sendText(ctx, sc, schema.DemoConversationID, "Would you like a calzone too?")
	require.NoError(t, err)
	waitValue(t, found, func(r result) error {
		if len(r.Messages) != 1 || r.Messages[0].ID != msg {
			return fmt.Errorf("results %+v", r.Messages)
		}
		return nil
	})
	mutate(t, ctx, sc, "deleteMessage", map[string]any{"messageId": msg})
	waitValue(t, found, func(r result) error {
		if len(r.Messages) != 0 {
			return fmt.Errorf("results %+v", r.Messages)
		}
		return nil
	})
}
