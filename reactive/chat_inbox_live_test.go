package reactive_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// inboxPage is getConversationsPaginated's result.
type inboxPage struct {
	Page           []liveConv `json:"page"`
	IsDone         bool       `json:"isDone"`
	ContinueCursor string     `json:"continueCursor"`
}

// inboxPageArgs are getConversationsPaginated's arguments as
// usePaginatedQuery sends them, with filters.
func inboxPageArgs(numItems int, cursor *string, filters map[string]any) map[string]any {
	args := map[string]any{"paginationOpts": map[string]any{"numItems": numItems, "cursor": cursor, "id": 1}}
	for k, v := range filters {
		args[k] = v
	}
	return args
}

// TestLiveInboxFilters: a store's unread-only list gains the conversation
// a customer writes in (through the API or in SQL) and loses it when a
// colleague reads it; an archived-only list follows archiving.
func TestLiveInboxFilters(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	kc := s.Dial(t, functions.Identity{Subject: schema.DemoStaff2ID, Role: functions.RoleStore, Name: "Pizza Palace Kitchen",
		StoreID: schema.DemoStoreID}, syncclient.Options{})
	unread := subscribeWait(t, ctx, sc, "shared/chat:getConversations", map[string]any{"unreadOnly": true})
	unreadPage := subscribeWait(t, ctx, sc, "shared/chat:getConversationsPaginated", inboxPageArgs(10, nil, map[string]any{"unreadOnly": true}))
	johnUnread := subscribeWait(t, ctx, jc, "shared/chat:getConversations", map[string]any{"unreadOnly": true, "kind": "customer_to_store"})
	require.Empty(t, currentValue[[]liveConv](t, unread), "the demo messages are read")

	_, _, err := sendText(ctx, jc, schema.DemoConversationID, "Is my pizza ready?")
	require.NoError(t, err)
	isDemo := func(l []liveConv) error {
		if len(l) != 1 || l[0].ID != schema.DemoConversationID || l[0].UnreadCountRecipient != 1 {
			return fmt.Errorf("unread list %v", l)
		}
		return nil
	}
	waitValue(t, unread, isDemo)
	waitValue(t, unreadPage, func(p inboxPage) error { return isDemo(p.Page) })
	require.Empty(t, currentValue[[]liveConv](t, johnUnread), "John's own message is not unread for him")

	// The kitchen reads it: gone from the store's lists; the answer is
	// unread for John.
	mutate(t, ctx, kc, "markMessagesAsRead", map[string]any{"conversationId": schema.DemoConversationID})
	_, _, err = sendText(ctx, kc, schema.DemoConversationID, "Almost")
	require.NoError(t, err)
	empty := func(l []liveConv) error {
		if len(l) != 0 {
			return fmt.Errorf("unread list %v", l)
		}
		return nil
	}
	waitValue(t, unread, empty)
	waitValue(t, unreadPage, func(p inboxPage) error { return empty(p.Page) })
	waitValue(t, johnUnread, func(l []liveConv) error {
		if len(l) != 1 || l[0].ID != schema.DemoConversationID || l[0].UnreadCountCustomer != 1 {
			return fmt.Errorf("John's unread list %v", l)
		}
		return nil
	})

	// A shop backend writes a customer's message in SQL: the counter's
	// trigger puts the conversation in the unread lists.
	sqlExec(t, ctx, s, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
		VALUES ('msg-sql-inbox', $1, $2, 'customer', 'text', 'From the shop backend')`, schema.DemoConversationID, schema.DemoCustomerID)
	waitValue(t, unread, isDemo)

	// Archived by the store: out of the active unread list, into the
	// archived one.
	archived := subscribeWait(t, ctx, sc, "shared/chat:getConversations", map[string]any{"status": "archived", "unreadOnly": true})
	require.Empty(t, currentValue[[]liveConv](t, archived))
	mutate(t, ctx, sc, "archiveConversation", map[string]any{"conversationId": schema.DemoConversationID})
	waitValue(t, unread, empty)
	waitValue(t, archived, isDemo)
}

// TestLiveInboxPages: a store's inbox in pages of two, as
// usePaginatedQuery keeps it: a conversation of the last page with a new
// message moves into the first page, the middle page keeps exactly what
// it had, and the pages' ends (their journals) do not move.
func TestLiveInboxPages(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	// Five more conversations, older than the demo one.
	sqlExec(t, ctx, s, `INSERT INTO users (id, name, role) SELECT 'live-' || i, 'Customer ' || i, 'customer' FROM generate_series(1, 5) i`)
	sqlExec(t, ctx, s, `INSERT INTO conversations (id, conversation_type, customer_id, store_id, last_message_at, created_at)
		SELECT 'conv-live-' || i, 'customer_to_store', 'live-' || i, $1, timestamptz '2021-06-01' - i * interval '1 minute', timestamptz '2021-01-01'
		FROM generate_series(1, 5) i`, schema.DemoStoreID)
	const path = "shared/chat:getConversationsPaginated"

	var subs []*syncclient.Subscription
	var ends []string
	var cursor *string
	for {
		sub := subscribeWait(t, ctx, sc, path, inboxPageArgs(2, cursor, nil))
		u := currentOf(t, sub)
		p := liveValue[inboxPage](t, u)
		require.NotNil(t, u.Journal)
		require.Equal(t, p.ContinueCursor, *u.Journal, "the journal pins the page's end")
		subs, ends = append(subs, sub), append(ends, p.ContinueCursor)
		if p.IsDone {
			break
		}
		cursor = &p.ContinueCursor
	}
	require.Len(t, subs, 3)
	want := [][]string{{schema.DemoConversationID, "conv-live-1"}, {"conv-live-2", "conv-live-3"}, {"conv-live-4", "conv-live-5"}}
	waitInboxPages(t, subs, ends, want)

	_, _, err := sendText(ctx, sc, "conv-live-5", "Your table is ready")
	require.NoError(t, err)
	waitInboxPages(t, subs, ends, [][]string{{"conv-live-5", schema.DemoConversationID, "conv-live-1"}, want[1], {"conv-live-4"}})
	for i, sub := range subs {
		require.Zero(t, sub.Stats().Unchanged, "page %d was sent an unchanged result", i+1)
	}
}

// waitInboxPages waits until each page shows exactly its conversations
// and keeps its end.
func waitInboxPages(t *testing.T, subs []*syncclient.Subscription, ends []string, want [][]string) {
	t.Helper()
	pgtest.Eventually(t, liveWait, func() error {
		for i, sub := range subs {
			u, ok := sub.Current()
			if !ok || u.Failed {
				return fmt.Errorf("page %d: no result (%s)", i+1, u.ErrorMessage)
			}
			p := liveValue[inboxPage](t, u)
			if ids := convIDs(p.Page); !slices.Equal(ids, want[i]) {
				return fmt.Errorf("page %d holds %v, want %v", i+1, ids, want[i])
			}
			if p.ContinueCursor != ends[i] || u.Journal == nil || *u.Journal != ends[i] {
				return fmt.Errorf("page %d ends at %q (journal %v), want %q", i+1, p.ContinueCursor, u.Journal, ends[i])
			}
		}
		return nil
	})
}
