package reactive_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// Live tests of the chat API: each change is made by another user or by
// direct SQL (as a shop backend would), and must reach a subscriber
// through the reactive engine, without the subscriber asking again.

// liveWait bounds the wait for a change to reach a subscriber.
const liveWait = 10 * time.Second

// liveValue decodes a subscription result, failing the test on a query
// failure.
func liveValue[T any](t testing.TB, u syncclient.Update) T {
	t.Helper()
	require.False(t, u.Failed, "query failed: %s %v", u.ErrorMessage, u.ErrorData)
	var v T
	require.NoError(t, json.Unmarshal(u.Value, &v))
	return v
}

// currentValue is the subscription's latest result, decoded.
func currentValue[T any](t testing.TB, sub *syncclient.Subscription) T {
	t.Helper()
	return liveValue[T](t, currentOf(t, sub))
}

// waitValue waits until the subscription's latest result satisfies ok and
// returns it.
func waitValue[T any](t testing.TB, sub *syncclient.Subscription, ok func(T) error) T {
	t.Helper()
	var v T
	waitUpdate(t, sub, liveWait, func(u syncclient.Update) error {
		if u.Failed {
			return fmt.Errorf("query failed: %s", u.ErrorMessage)
		}
		var got T
		if err := json.Unmarshal(u.Value, &got); err != nil {
			return err
		}
		if err := ok(got); err != nil {
			return err
		}
		v = got
		return nil
	})
	return v
}

// liveConv is the part of a ConversationDoc these tests look at.
type liveConv struct {
	ID                   string   `json:"_id"`
	Status               string   `json:"status"`
	StoreName            *string  `json:"storeName"`
	IsBlocked            bool     `json:"isBlocked"`
	LastMessageAt        *float64 `json:"lastMessageAt"`
	LastMessagePreview   *string  `json:"lastMessagePreview"`
	UnreadCountCustomer  int      `json:"unreadCountCustomer"`
	UnreadCountRecipient int      `json:"unreadCountRecipient"`
	OrderSummary         *struct {
		ID     string `json:"_id"`
		Status string `json:"status"`
	} `json:"orderSummary"`
}

func (c liveConv) String() string {
	order := "-"
	if c.OrderSummary != nil {
		order = c.OrderSummary.ID + ":" + c.OrderSummary.Status
	}
	return fmt.Sprintf("{%s %s store=%v blocked=%v at=%v preview=%q unread=%d/%d order=%s}", c.ID, c.Status,
		deref(c.StoreName), c.IsBlocked, deref(c.LastMessageAt), fmt.Sprint(deref(c.LastMessagePreview)),
		c.UnreadCountCustomer, c.UnreadCountRecipient, order)
}

func findConv(list []liveConv, id string) (liveConv, bool) {
	for _, c := range list {
		if c.ID == id {
			return c, true
		}
	}
	return liveConv{}, false
}

func convIDs(list []liveConv) []string {
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func mutate(t testing.TB, ctx context.Context, c *syncclient.Client, path string, args any) json.RawMessage {
	t.Helper()
	v, err := c.Mutation(ctx, "shared/chat:"+path, args)
	require.NoError(t, err, path)
	return v
}

func sqlExec(t testing.TB, ctx context.Context, s *parleytest.Server, sql string, args ...any) {
	t.Helper()
	_, err := s.DB.Exec(ctx, sql, args...)
	require.NoError(t, err, sql)
}

// TestLiveConversations: John's conversation lists follow messages from
// the store, new conversations, archiving by the store, and a store
// renamed in SQL.
func TestLiveConversations(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	active := subscribeWait(t, ctx, jc, "shared/chat:getConversations", map[string]any{})
	archived := subscribeWait(t, ctx, jc, "shared/chat:getConversations", map[string]any{"status": "archived"})

	list := currentValue[[]liveConv](t, active)
	require.Equal(t, []string{schema.DemoConversationID}, convIDs(list))
	demo := list[0]
	require.Equal(t, "Thank you for your help!", deref(demo.LastMessagePreview))
	require.Zero(t, demo.UnreadCountCustomer)
	require.Equal(t, "Pizza Palace", deref(demo.StoreName))
	require.Empty(t, currentValue[[]liveConv](t, archived))

	// The store answers: preview, time and John's unread count follow.
	_, _, err := sendText(ctx, sc, schema.DemoConversationID, "Your pizza is on its way")
	require.NoError(t, err)
	waitValue(t, active, func(l []liveConv) error {
		c, ok := findConv(l, schema.DemoConversationID)
		switch {
		case !ok:
			return errors.New("demo conversation missing")
		case deref(c.LastMessagePreview) != "Your pizza is on its way":
			return fmt.Errorf("preview %v", deref(c.LastMessagePreview))
		case c.LastMessageAt == nil || *c.LastMessageAt <= *demo.LastMessageAt:
			return fmt.Errorf("lastMessageAt %v not after %v", deref(c.LastMessageAt), *demo.LastMessageAt)
		case c.UnreadCountCustomer != 1:
			return fmt.Errorf("unreadCountCustomer %d, want 1", c.UnreadCountCustomer)
		}
		return nil
	})

	// A conversation John opens appears first (newest activity).
	conv := openConversation(t, ctx, jc, pizzaArgs())
	require.Equal(t, []string{conv, schema.DemoConversationID}, convIDs(currentValue[[]liveConv](t, active)),
		"createOrGetConversation resolved before John's list shows the new conversation")

	// The store archives it: out of the active list, into the archived one.
	mutate(t, ctx, sc, "archiveConversation", map[string]any{"conversationId": conv})
	waitValue(t, active, func(l []liveConv) error {
		if ids := convIDs(l); !slices.Equal(ids, []string{schema.DemoConversationID}) {
			return fmt.Errorf("active list %v", ids)
		}
		return nil
	})
	waitValue(t, archived, func(l []liveConv) error {
		if len(l) != 1 || l[0].ID != conv || l[0].Status != "archived" {
			return fmt.Errorf("archived list %+v", l)
		}
		return nil
	})

	// The shop backend renames the store.
	sqlExec(t, ctx, s, `UPDATE stores SET name = 'Pizza Palazzo' WHERE id = $1`, schema.DemoStoreID)
	waitValue(t, active, func(l []liveConv) error {
		if len(l) != 1 || deref(l[0].StoreName) != "Pizza Palazzo" {
			return fmt.Errorf("active list %+v", l)
		}
		return nil
	})
	waitValue(t, archived, func(l []liveConv) error {
		if len(l) != 1 || deref(l[0].StoreName) != "Pizza Palazzo" {
			return fmt.Errorf("archived list %+v", l)
		}
		return nil
	})

	// A new message from the store brings the archived conversation back.
	_, _, err = sendText(ctx, sc, conv, "Anything else?")
	require.NoError(t, err)
	waitValue(t, active, func(l []liveConv) error {
		if ids := convIDs(l); !slices.Equal(ids, []string{conv, schema.DemoConversationID}) {
			return fmt.Errorf("active list %v", ids)
		}
		return nil
	})
	waitValue(t, archived, func(l []liveConv) error {
		if len(l) != 0 {
			return fmt.Errorf("archived list %v", convIDs(l))
		}
		return nil
	})
}

// TestLiveConversationDetail: getConversation follows an order refunded by
// the shop backend in SQL and a block by an admin.
func TestLiveConversationDetail(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	ac := s.Dial(t, parleytest.Admin, syncclient.Options{})
	sub := subscribeWait(t, ctx, jc, "shared/chat:getConversation", map[string]any{"conversationId": schema.DemoConversationID})
	c := currentValue[liveConv](t, sub)
	require.NotNil(t, c.OrderSummary)
	require.Equal(t, schema.DemoOrderID, c.OrderSummary.ID)
	require.Equal(t, "delivered", c.OrderSummary.Status)
	require.False(t, c.IsBlocked)

	sqlExec(t, ctx, s, `UPDATE orders SET status = 'refunded' WHERE id = $1`, schema.DemoOrderID)
	waitValue(t, sub, func(c liveConv) error {
		if c.OrderSummary == nil || c.OrderSummary.Status != "refunded" {
			return fmt.Errorf("conversation %v", c)
		}
		return nil
	})

	for _, blocked := range []bool{true, false} {
		path, notice := "blockConversation", "Support blocked this conversation"
		if !blocked {
			path, notice = "unblockConversation", "Support unblocked this conversation"
		}
		mutate(t, ctx, ac, path, map[string]any{"conversationId": schema.DemoConversationID})
		waitValue(t, sub, func(c liveConv) error {
			if c.IsBlocked != blocked || deref(c.LastMessagePreview) != notice {
				return fmt.Errorf("isBlocked %v, preview %v; want %v, %q", c.IsBlocked, deref(c.LastMessagePreview), blocked, notice)
			}
			return nil
		})
	}
}

// TestLiveUnreadCount: each side's total goes up on the other side's
// messages, down when they mark them read, and follows messages written in
// SQL.
func TestLiveUnreadCount(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	janec := s.Dial(t, parleytest.Jane, syncclient.Options{})
	conv := openConversation(t, ctx, jc, pizzaArgs())
	johnUnread := subscribeWait(t, ctx, jc, "shared/chat:getUnreadCount", map[string]any{})
	staffUnread := subscribeWait(t, ctx, sc, "shared/chat:getUnreadCount", map[string]any{})
	janeUnread := subscribeWait(t, ctx, janec, "shared/chat:getUnreadCount", map[string]any{})
	is := func(want int) func(int) error {
		return func(n int) error {
			if n != want {
				return fmt.Errorf("unread %d, want %d", n, want)
			}
			return nil
		}
	}
	require.Zero(t, currentValue[int](t, johnUnread))
	require.Zero(t, currentValue[int](t, staffUnread))

	for i := range 2 {
		_, _, err := sendText(ctx, sc, conv, fmt.Sprintf("from the store %d", i))
		require.NoError(t, err)
	}
	waitValue(t, johnUnread, is(2))
	require.Zero(t, currentValue[int](t, staffUnread), "the store's own messages are not unread for it")

	_, _, err := sendText(ctx, jc, conv, "from John")
	require.NoError(t, err)
	waitValue(t, staffUnread, is(1))
	require.Equal(t, 2, currentValue[int](t, johnUnread), "John's own message is not unread for him")

	mutate(t, ctx, jc, "markMessagesAsRead", map[string]any{"conversationId": conv})
	require.Zero(t, currentValue[int](t, johnUnread), "markMessagesAsRead resolved before John's count shows it")
	mutate(t, ctx, sc, "markMessagesAsRead", map[string]any{"conversationId": conv})
	require.Zero(t, currentValue[int](t, staffUnread), "markMessagesAsRead resolved before the store's count shows it")
	waitValue(t, johnUnread, is(0))

	// Written by a backend in SQL.
	sqlInsertMessage(t, ctx, s, conv, "inserted as the store")
	waitValue(t, johnUnread, is(1))
	customerMsg := schema.NewID("msgsql")
	sqlExec(t, ctx, s, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
		VALUES ($1, $2, $3, 'customer', 'text', 'inserted as John')`, customerMsg, conv, schema.DemoCustomerID)
	waitValue(t, staffUnread, is(1))
	sqlExec(t, ctx, s, `UPDATE messages SET is_deleted = true WHERE id = $1`, customerMsg)
	waitValue(t, staffUnread, is(0))
	require.Equal(t, 1, currentValue[int](t, johnUnread))
	require.Zero(t, currentValue[int](t, janeUnread), "another customer's total never moves")
}

type liveCanChat struct {
	CanChat  bool     `json:"canChat"`
	Reason   *string  `json:"reason"`
	OrderIDs []string `json:"orderIds"`
}

// TestLiveCanChatWithStore: eligibility follows order statuses, the
// store's switch and the global switch, all changed in SQL.
func TestLiveCanChatWithStore(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	pizza := subscribeWait(t, ctx, jc, "shared/chat:canChatWithStore", map[string]any{"storeId": schema.DemoStoreID})
	burger := subscribeWait(t, ctx, jc, "shared/chat:canChatWithStore", map[string]any{"storeId": schema.DemoClosedStoreID})

	noOrders := chat.ReasonNoEligibleOrders
	require.Equal(t, liveCanChat{CanChat: false, Reason: &noOrders, OrderIDs: []string{}}, currentValue[liveCanChat](t, burger),
		"John's only Burger Barn order is cancelled")
	require.Equal(t, liveCanChat{CanChat: true, OrderIDs: []string{schema.DemoOrderID, schema.DemoOrder2ID}},
		currentValue[liveCanChat](t, pizza))

	want := func(w liveCanChat) func(liveCanChat) error {
		return func(got liveCanChat) error {
			if got.CanChat != w.CanChat || deref(got.Reason) != deref(w.Reason) ||
				(w.OrderIDs != nil && !slices.Equal(got.OrderIDs, w.OrderIDs)) || got.OrderIDs == nil {
				return fmt.Errorf("got {%v %v %v}, want {%v %v %v}", got.CanChat, deref(got.Reason), got.OrderIDs,
					w.CanChat, deref(w.Reason), w.OrderIDs)
			}
			return nil
		}
	}
	reason := func(s string) *string { return &s }

	sqlExec(t, ctx, s, `UPDATE orders SET status = 'cancelled' WHERE customer_id = $1 AND store_id = $2`,
		schema.DemoCustomerID, schema.DemoStoreID)
	waitValue(t, pizza, want(liveCanChat{Reason: reason(chat.ReasonNoEligibleOrders), OrderIDs: []string{}}))

	sqlExec(t, ctx, s, `UPDATE orders SET status = 'shipped' WHERE id = $1`, schema.DemoOrder2ID)
	waitValue(t, pizza, want(liveCanChat{CanChat: true, OrderIDs: []string{schema.DemoOrder2ID}}))

	sqlExec(t, ctx, s, `UPDATE stores SET direct_messaging_enabled = false WHERE id = $1`, schema.DemoStoreID)
	waitValue(t, pizza, want(liveCanChat{Reason: reason(chat.ReasonStoreMessagingDisabled)}))
	sqlExec(t, ctx, s, `UPDATE stores SET direct_messaging_enabled = true WHERE id = $1`, schema.DemoStoreID)
	waitValue(t, pizza, want(liveCanChat{CanChat: true, OrderIDs: []string{schema.DemoOrder2ID}}))

	sqlExec(t, ctx, s, `UPDATE chat_settings SET direct_messaging_enabled = false`)
	waitValue(t, pizza, want(liveCanChat{Reason: reason(chat.ReasonDirectMessagingDisabled)}))
	waitValue(t, burger, want(liveCanChat{Reason: reason(chat.ReasonDirectMessagingDisabled), OrderIDs: []string{}}))
	sqlExec(t, ctx, s, `UPDATE chat_settings SET direct_messaging_enabled = true`)
	waitValue(t, pizza, want(liveCanChat{CanChat: true, OrderIDs: []string{schema.DemoOrder2ID}}))

	// Burger Barn reinstates John's order.
	sqlExec(t, ctx, s, `UPDATE orders SET status = 'paid' WHERE id = $1`, schema.DemoClosedOrderID)
	waitValue(t, burger, want(liveCanChat{CanChat: true, OrderIDs: []string{schema.DemoClosedOrderID}}))
}

// TestLiveChatSettings: a settings change in SQL reaches every subscriber,
// anonymous ones included (the query is public).
func TestLiveChatSettings(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type settings struct {
		DirectMessagingEnabled bool     `json:"directMessagingEnabled"`
		MaxImageSizeMB         int      `json:"maxImageSizeMB"`
		AllowedImageTypes      []string `json:"allowedImageTypes"`
		AdminSupportEnabled    bool     `json:"adminSupportEnabled"`
	}
	var subs []*syncclient.Subscription
	for _, id := range []functions.Identity{parleytest.John, parleytest.Anonymous} {
		c := s.Dial(t, id, syncclient.Options{})
		sub := subscribeWait(t, ctx, c, "shared/chat:getChatSettings", map[string]any{})
		require.Equal(t, settings{DirectMessagingEnabled: true, MaxImageSizeMB: 5, AdminSupportEnabled: true,
			AllowedImageTypes: []string{"image/jpeg", "image/png", "image/gif", "image/webp"}}, currentValue[settings](t, sub))
		subs = append(subs, sub)
	}
	sqlExec(t, ctx, s, `UPDATE chat_settings SET max_image_size_mb = 12, updated_at = now()`)
	for i, sub := range subs {
		waitValue(t, sub, func(v settings) error {
			if v.MaxImageSizeMB != 12 {
				return fmt.Errorf("subscriber %d: maxImageSizeMB %d", i, v.MaxImageSizeMB)
			}
			return nil
		})
	}
}

// TestLiveOrgSettings: an org's own settings row, written in SQL, reaches
// that org's subscribers (their token's org claim) and no one else's.
func TestLiveOrgSettings(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type settings struct {
		MaxImageSizeMB      int  `json:"maxImageSizeMB"`
		AdminSupportEnabled bool `json:"adminSupportEnabled"`
	}
	acme := functions.Identity{Subject: "cust-acme", Role: functions.RoleCustomer, Org: "acme"}
	acmeSub := subscribeWait(t, ctx, s.Dial(t, acme, syncclient.Options{}), "shared/chat:getChatSettings", map[string]any{})
	johnSub := subscribeWait(t, ctx, s.Dial(t, parleytest.John, syncclient.Options{}), "shared/chat:getChatSettings", map[string]any{})
	require.Equal(t, settings{MaxImageSizeMB: 5, AdminSupportEnabled: true}, currentValue[settings](t, acmeSub))

	sqlExec(t, ctx, s, `INSERT INTO chat_settings (org_id, max_image_size_mb, admin_support_enabled) VALUES ('acme', 2, false)`)
	waitValue(t, acmeSub, func(v settings) error {
		if v != (settings{MaxImageSizeMB: 2, AdminSupportEnabled: false}) {
			return fmt.Errorf("acme's settings %+v", v)
		}
		return nil
	})
	require.Equal(t, settings{MaxImageSizeMB: 5, AdminSupportEnabled: true}, currentValue[settings](t, johnSub))

	// Acme's customer is refused support over the wire, John is not.
	_, err := s.Dial(t, acme, syncclient.Options{}).Mutation(ctx, "shared/chat:createOrGetConversation", map[string]any{})
	require.ErrorContains(t, err, "Support chat is disabled")
	openConversation(t, ctx, s.Dial(t, parleytest.John, syncclient.Options{}), map[string]any{})
}

type liveTyping struct {
	UserID       string  `json:"userId"`
	UserType     string  `json:"userType"`
	UserName     string  `json:"userName"`
	LastTypingAt float64 `json:"lastTypingAt"`
}

// typingRow is the typing_state row of one user, with its row version.
type typingRow struct {
	XMin     string
	IsTyping bool
	Last     time.Time
}

func readTypingRow(t testing.TB, ctx context.Context, s *parleytest.Server, conv, user string) typingRow {
	t.Helper()
	var r typingRow
	require.NoError(t, s.DB.QueryRow(ctx, `SELECT xmin::text, is_typing, last_typing_at FROM typing_state
		WHERE conversation_id = $1 AND user_id = $2`, conv, user).Scan(&r.XMin, &r.IsTyping, &r.Last))
	return r
}

// TestLiveTypingIndicators: the store's typing shows for John and never for
// the store itself; stopping, sending and the TTL (with nothing written:
// the engine's RefreshAt) each clear it.
func TestLiveTypingIndicators(t *testing.T) {
	const ttl = time.Second
	s := parleytest.StartChat(t, chat.Config{TypingTTL: ttl, MessagesPerSecond: -1, TypingPerSecond: -1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	conv := openConversation(t, ctx, jc, pizzaArgs())
	args := map[string]any{"conversationId": conv}
	johnSees := subscribeWait(t, ctx, jc, "shared/chat:getTypingIndicators", args)
	staffSees := subscribeWait(t, ctx, sc, "shared/chat:getTypingIndicators", args)
	require.Empty(t, currentValue[[]liveTyping](t, johnSees))

	typing := func(on bool) {
		t.Helper()
		mutate(t, ctx, sc, "updateTypingStatus", map[string]any{"conversationId": conv, "isTyping": on})
		// Read-your-writes: the store's own list already reflects the
		// write, and it never lists the store.
		require.Empty(t, currentValue[[]liveTyping](t, staffSees), "the caller is never listed")
	}
	staffTyping := func(l []liveTyping) error {
		if len(l) != 1 || l[0].UserID != schema.DemoStaffID || l[0].UserType != "store" || l[0].UserName != "Pizza Palace Support" {
			return fmt.Errorf("indicators %+v, want the store's", l)
		}
		return nil
	}
	nobody := func(l []liveTyping) error {
		if len(l) != 0 {
			return fmt.Errorf("indicators %+v, want none", l)
		}
		return nil
	}

	// Start and stop.
	typing(true)
	waitValue(t, johnSees, staffTyping)
	typing(false)
	waitValue(t, johnSees, nobody)
	require.False(t, readTypingRow(t, ctx, s, conv, schema.DemoStaffID).IsTyping)

	// Typing again; a repeat within TypingQuiet writes nothing.
	typing(true)
	first := readTypingRow(t, ctx, s, conv, schema.DemoStaffID)
	require.True(t, first.IsTyping)
	typing(true)
	require.Equal(t, first, readTypingRow(t, ctx, s, conv, schema.DemoStaffID), "a repeat within %s wrote", chat.TypingQuiet)
	shown := waitValue(t, johnSees, staffTyping)
	require.Equal(t, float64(first.Last.UnixMicro())/1000, shown[0].LastTypingAt)

	// Nothing else is written: the indicator expires on its own.
	expires := first.Last.Add(ttl)
	waitUpdate(t, johnSees, ttl+5*time.Second, func(u syncclient.Update) error {
		return nobody(liveValue[[]liveTyping](t, u))
	})
	require.False(t, time.Now().Before(expires), "the indicator vanished before it expired at %s", expires)
	require.Equal(t, first, readTypingRow(t, ctx, s, conv, schema.DemoStaffID),
		"typing_state was written while the indicator expired")
	require.Empty(t, currentValue[[]liveTyping](t, staffSees))

	// Sending a message ends the sender's typing.
	typing(true)
	waitValue(t, johnSees, staffTyping)
	_, _, err := sendText(ctx, sc, conv, "Here is your answer")
	require.NoError(t, err)
	require.False(t, readTypingRow(t, ctx, s, conv, schema.DemoStaffID).IsTyping, "sendMessage left the sender typing")
	waitValue(t, johnSees, nobody)
}

// rateLimited checks errorData of a 429 and returns its retryAfterMs.
func rateLimited(t testing.TB, message string, data map[string]any, what string) time.Duration {
	t.Helper()
	require.Equal(t, functions.CodeRateLimited, data["code"], "%s: %v", message, data)
	require.EqualValues(t, 429, data["status"])
	require.Equal(t, message, data["error"])
	require.Contains(t, message, "Too many "+what)
	ms, ok := data["retryAfterMs"].(float64)
	require.True(t, ok, "retryAfterMs %v (%T)", data["retryAfterMs"], data["retryAfterMs"])
	require.Positive(t, ms)
	require.Equal(t, float64(int(ms)), ms, "retryAfterMs is whole milliseconds")
	return time.Duration(ms) * time.Millisecond
}

func requireRateLimited(t testing.TB, err error, what string) time.Duration {
	t.Helper()
	var fe *syncclient.FunctionError
	require.ErrorAs(t, err, &fe)
	return rateLimited(t, fe.Message, fe.Data, what)
}

// waitFor waits, with Eventually, until d has passed since from.
func waitFor(t testing.TB, from time.Time, d time.Duration) {
	t.Helper()
	pgtest.Eventually(t, d+5*time.Second, func() error {
		if left := d - time.Since(from); left > 0 {
			return fmt.Errorf("%s of the retry delay left", left)
		}
		return nil
	})
}

// TestLiveRateLimits: sendMessage and updateTypingStatus are limited per
// user, over the sync protocol and the HTTP API alike, and say when to
// retry. (No wait for a token here: TestLiveRateLimitWaits has it.)
func TestLiveRateLimits(t *testing.T) {
	s := parleytest.StartChat(t, chat.Config{MessagesPerSecond: 1, MessageBurst: 2, TypingPerSecond: 1, TypingBurst: 1, RateLimitWait: -1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	sc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	janec := s.Dial(t, parleytest.Jane, syncclient.Options{})
	conv := openConversation(t, ctx, jc, pizzaArgs())
	janeConv := openConversation(t, ctx, janec, map[string]any{})

	t.Run("sendMessage", func(t *testing.T) {
		for i := range 2 {
			_, _, err := sendText(ctx, jc, conv, fmt.Sprintf("burst %d", i))
			require.NoError(t, err)
		}
		_, _, err := sendText(ctx, jc, conv, "one too many")
		limitedAt := time.Now()
		retry := requireRateLimited(t, err, "messages")
		require.LessOrEqual(t, retry, time.Second)

		// The limit is John's, on every transport; the store is unaffected.
		res, err := call(ctx, s, "mutation", s.Token(t, parleytest.John), "shared/chat:sendMessage",
			map[string]any{"conversationId": conv, "content": "over HTTP", "messageType": "text"})
		require.NoError(t, err)
		require.True(t, res.Failed, "John is limited over HTTP too")
		rateLimited(t, res.ErrorMessage, res.ErrorData, "messages")
		_, _, err = sendText(ctx, sc, conv, "the store is not limited")
		require.NoError(t, err)

		waitFor(t, limitedAt, retry)
		_, _, err = sendText(ctx, jc, conv, "after retryAfterMs")
		require.NoError(t, err)
		var n int
		require.NoError(t, s.DB.QueryRow(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND sender_id = $2`,
			conv, schema.DemoCustomerID).Scan(&n))
		require.Equal(t, 3, n, "rejected sends wrote nothing")
	})

	t.Run("updateTypingStatus", func(t *testing.T) {
		typing := func(c *syncclient.Client, on bool) error {
			_, err := c.Mutation(ctx, "shared/chat:updateTypingStatus", map[string]any{"conversationId": conv, "isTyping": on})
			return err
		}
		require.NoError(t, typing(jc, true))
		err := typing(jc, false)
		limitedAt := time.Now()
		retry := requireRateLimited(t, err, "typing updates")
		require.True(t, readTypingRow(t, ctx, s, conv, schema.DemoCustomerID).IsTyping, "the rejected update wrote")
		require.NoError(t, typing(sc, true), "the store has a limit of its own")
		waitFor(t, limitedAt, retry)
		require.NoError(t, typing(jc, false))
		require.False(t, readTypingRow(t, ctx, s, conv, schema.DemoCustomerID).IsTyping)
	})

	t.Run("HTTP", func(t *testing.T) {
		tok := s.Token(t, parleytest.Jane)
		send := func() (callResult, error) {
			return call(ctx, s, "mutation", tok, "shared/chat:sendMessage",
				map[string]any{"conversationId": janeConv, "content": "hello support", "messageType": "text"})
		}
		for range 2 {
			res, err := send()
			require.NoError(t, err)
			require.False(t, res.Failed, "%s %v", res.ErrorMessage, res.ErrorData)
		}
		res, err := send()
		limitedAt := time.Now()
		require.NoError(t, err)
		require.True(t, res.Failed)
		retry := rateLimited(t, res.ErrorMessage, res.ErrorData, "messages")
		waitFor(t, limitedAt, retry)
		res, err = send()
		require.NoError(t, err)
		require.False(t, res.Failed, "%s %v", res.ErrorMessage, res.ErrorData)
	})
}

// TestLiveRateLimitWaits: a send over the limit whose token is due within
// RateLimitWait waits for it and goes through, in order (a client
// replaying its offline queue loses nothing); past the wait a send is
// refused, saying when to retry, and writes nothing.
func TestLiveRateLimitWaits(t *testing.T) {
	const rate, burst, within = 2, 2, 3 * time.Second
	s := parleytest.StartChat(t, chat.Config{MessagesPerSecond: rate, MessageBurst: burst, RateLimitWait: within, TypingPerSecond: -1})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	t.Run("queued", func(t *testing.T) {
		jc := s.Dial(t, parleytest.John, syncclient.Options{})
		conv := openConversation(t, ctx, jc, pizzaArgs())
		var want []string
		for i := range burst + 4 { // the last waits 2 s for its token
			content := fmt.Sprintf("queued %d", i)
			_, _, err := sendText(ctx, jc, conv, content)
			require.NoError(t, err, "send %d", i)
			want = append(want, content)
		}
		rows, err := s.DB.Query(ctx, `SELECT content FROM messages WHERE conversation_id = $1 AND sender_id = $2 ORDER BY created_at, id`,
			conv, schema.DemoCustomerID)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, want, got)
	})

	t.Run("queries go on meanwhile", func(t *testing.T) {
		// Mutations wait in the session's lane: a query added while six
		// sends wait their turn (3 s at 2 a second) is answered at once.
		kc := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
		conv := schema.DemoConversationID
		var pending []*syncclient.Pending
		for i := range burst + 6 {
			p, err := kc.Send("shared/chat:sendMessage", map[string]any{"conversationId": conv, "content": fmt.Sprint("lane ", i), "messageType": "text"})
			require.NoError(t, err)
			pending = append(pending, p)
		}
		sub, err := kc.Subscribe("shared/chat:getUnreadCount", map[string]any{})
		require.NoError(t, err)
		select {
		case <-sub.Updates():
		case <-ctx.Done():
			t.Fatal("no first result")
		}
		select {
		case <-pending[len(pending)-1].Done():
			t.Fatal("the query was answered only after the sends: it waited behind them")
		default:
		}
		for i, p := range pending {
			_, _, err := p.Wait(ctx)
			require.NoError(t, err, "send %d", i)
		}
	})

	t.Run("beyond the wait", func(t *testing.T) {
		tok := s.Token(t, parleytest.Jane)
		janec := s.Dial(t, parleytest.Jane, syncclient.Options{})
		conv := openConversation(t, ctx, janec, map[string]any{})
		const calls = 30
		results := make([]callResult, calls)
		start := time.Now()
		var g errgroup.Group
		for i := range calls {
			g.Go(func() (err error) {
				results[i], err = call(ctx, s, "mutation", tok, "shared/chat:sendMessage",
					map[string]any{"conversationId": conv, "content": fmt.Sprint("flood ", i), "messageType": "text"})
				return err
			})
		}
		require.NoError(t, g.Wait())
		elapsed := time.Since(start)
		sent := 0
		for _, res := range results {
			if !res.Failed {
				sent++
				continue
			}
			retry := rateLimited(t, res.ErrorMessage, res.ErrorData, "messages")
			require.LessOrEqual(t, retry, time.Second, "a refused call may retry once a queued place frees: 1/rate at most")
		}
		// The burst, the calls the wait holds, and what the rate brought
		// meanwhile; never more.
		most := burst + int(rate*within.Seconds()) + int(rate*elapsed.Seconds()) + 1
		t.Logf("%d of %d sent in %s (at most %d)", sent, calls, elapsed, most)
		require.GreaterOrEqual(t, sent, burst+int(rate*within.Seconds()), "the burst and the queue")
		require.LessOrEqual(t, sent, most)
		var n int
		require.NoError(t, s.DB.QueryRow(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND sender_id = $2`,
			conv, schema.DemoOtherCustomerID).Scan(&n))
		require.Equal(t, sent, n, "refused sends wrote nothing")
	})
}

// TestLiveRefusalsKeepOrder: once a queued send is refused for its rate
// limit, the sends queued behind it on that session are refused alike,
// even when refill would have a token for one of them: none lands before
// the refused one, so a client that sends the refused ones again, in
// order, keeps its order. Once the lane has emptied, sends go through again.
func TestLiveRefusalsKeepOrder(t *testing.T) {
	const burst = 2
	// A token every 20 ms: refusing 98 queued sends one by one takes
	// longer than that, so without the rule some would be granted.
	s := parleytest.StartChat(t, chat.Config{MessagesPerSecond: 50, MessageBurst: burst, RateLimitWait: -1, TypingPerSecond: -1})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.Jane, syncclient.Options{})
	conv := openConversation(t, ctx, jc, map[string]any{})
	var pending []*syncclient.Pending
	for i := range 100 {
		p, err := jc.Send("shared/chat:sendMessage", map[string]any{"conversationId": conv, "content": fmt.Sprint("burst ", i), "messageType": "text"})
		require.NoError(t, err)
		pending = append(pending, p)
	}
	var outcome []string
	var retry time.Duration
	for _, p := range pending {
		_, _, err := p.Wait(ctx)
		if err == nil {
			outcome = append(outcome, "ok")
			continue
		}
		retry = requireRateLimited(t, err, "messages")
		outcome = append(outcome, "limited")
	}
	// The burst and what refill brought while those ran, then refusals
	// only.
	first := slices.Index(outcome, "limited")
	require.GreaterOrEqual(t, first, burst, "%v", outcome)
	require.Less(t, first, 50, "%v", outcome)
	require.NotContains(t, outcome[first:], "ok", "no send behind a refused one was granted: %v", outcome)
	limitedAt := time.Now()
	waitFor(t, limitedAt, retry)
	_, _, err := sendText(ctx, jc, conv, "after the lane emptied")
	require.NoError(t, err)
}
