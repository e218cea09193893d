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

// liveGroup is the part of a group's ConversationDoc these tests look at.
type liveGroup struct {
	ID           string `json:"_id"`
	Title        string `json:"title"`
	UnreadCount  *int   `json:"unreadCount"`
	Participants []struct {
		UserID string `json:"userId"`
	} `json:"participants"`
}

func groupIDs(l []liveGroup) []string {
	ids := make([]string, len(l))
	for i, g := range l {
		ids[i] = g.ID
	}
	return ids
}

func createGroup(t *testing.T, ctx context.Context, c *syncclient.Client, title string, ids ...string) string {
	t.Helper()
	var ref struct {
		ConversationID string `json:"conversationId"`
	}
	require.NoError(t, json.Unmarshal(mutate(t, ctx, c, "createGroupConversation", map[string]any{"participantIds": ids, "title": title}), &ref))
	return ref.ConversationID
}

// TestLiveGroups: a store's staff member sees the groups John starts with
// them appear, their own unread count follow John's messages and their own
// reading, and, on a one-group page, a group with new activity take the
// page's place.
func TestLiveGroups(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	all := subscribeWait(t, ctx, sc, "shared/chat:getGroupConversations", map[string]any{})
	first := subscribeWait(t, ctx, sc, "shared/chat:getGroupConversations", map[string]any{"limit": 1})
	require.Empty(t, currentValue[[]liveGroup](t, all))

	party := createGroup(t, ctx, jc, "Party", schema.DemoStaffID)
	waitValue(t, all, func(l []liveGroup) error {
		if len(l) != 1 || l[0].ID != party || l[0].Title != "Party" || len(l[0].Participants) != 2 || *l[0].UnreadCount != 1 {
			return fmt.Errorf("groups %+v", l)
		}
		return nil
	})
	_, _, err := sendText(ctx, jc, party, "Ten pizzas for Friday")
	require.NoError(t, err)
	waitValue(t, all, func(l []liveGroup) error {
		if len(l) != 1 || *l[0].UnreadCount != 2 {
			return fmt.Errorf("groups %+v", l)
		}
		return nil
	})
	mutate(t, ctx, sc, "markMessagesAsRead", map[string]any{"conversationId": party})
	waitValue(t, all, func(l []liveGroup) error {
		if len(l) != 1 || *l[0].UnreadCount != 0 {
			return fmt.Errorf("groups %+v", l)
		}
		return nil
	})

	// A second group is newer and takes the one-group page; new activity in
	// the first, which is then off that page, brings it back.
	team := createGroup(t, ctx, sc, "Team", schema.DemoStaff2ID)
	waitValue(t, first, func(l []liveGroup) error {
		if ids := groupIDs(l); len(ids) != 1 || ids[0] != team {
			return fmt.Errorf("first page %v", ids)
		}
		return nil
	})
	_, _, err = sendText(ctx, jc, party, "Make it twelve")
	require.NoError(t, err)
	waitValue(t, first, func(l []liveGroup) error {
		if ids := groupIDs(l); len(ids) != 1 || ids[0] != party || *l[0].UnreadCount != 1 {
			return fmt.Errorf("first page %+v", l)
		}
		return nil
	})
	require.Equal(t, []string{party, team}, groupIDs(currentValue[[]liveGroup](t, all)))

	// Archived by a member, the group leaves everyone's active list; a new
	// message brings it back.
	mutate(t, ctx, sc, "archiveConversation", map[string]any{"conversationId": team})
	waitValue(t, all, func(l []liveGroup) error {
		if ids := groupIDs(l); len(ids) != 1 || ids[0] != party {
			return fmt.Errorf("groups %v", ids)
		}
		return nil
	})
	_, _, err = sendText(ctx, sc, team, "Back to work")
	require.NoError(t, err)
	waitValue(t, all, func(l []liveGroup) error {
		if ids := groupIDs(l); len(ids) != 2 || ids[0] != team {
			return fmt.Errorf("groups %v", ids)
		}
		return nil
	})

	// The group's thread is live for its members too.
	msgs := subscribeWait(t, ctx, sc, "shared/chat:getMessages", map[string]any{"conversationId": party})
	_, _, err = sendText(ctx, jc, party, "And a salad")
	require.NoError(t, err)
	waitValue(t, msgs, func(p struct {
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}) error {
		if len(p.Messages) == 0 || p.Messages[0].Content != "And a salad" {
			return fmt.Errorf("newest %+v", p.Messages)
		}
		return nil
	})
}
