package chat_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// statuses maps a conversation's newest messages to their delivery state,
// as id sees them.
func statuses(t *testing.T, e *env, id *functions.Identity, conv string) map[string]chat.MessageDoc {
	t.Helper()
	page := must[chat.MessagePage](t)(e.query(id, "getMessages", map[string]any{"conversationId": conv, "limit": 100}))
	out := map[string]chat.MessageDoc{}
	for _, m := range page.Messages {
		out[m.ID] = m
	}
	return out
}

func deliver(e *env, id *functions.Identity, conv, msg string) (json.RawMessage, error) {
	return e.mutate(id, "markDelivered", map[string]any{"conversationId": conv, "upToMessageId": msg})
}

func TestDeliveryStatusOneToOne(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	first := e.send(john, conv, "Is it ready?")
	second := e.send(john, conv, "Hello?")
	for _, id := range []string{first, second} {
		require.Equal(t, chat.StatusSent, statuses(t, e, john, conv)[id].Status)
	}

	// John's own clients acknowledging his messages change nothing: the
	// other side has not received them.
	must[chat.Delivered](t)(deliver(e, john, conv, second))
	require.Equal(t, chat.StatusSent, statuses(t, e, john, conv)[second].Status)

	// A client of the store receives up to the first: only it is delivered.
	d := must[chat.Delivered](t)(deliver(e, staff, conv, first))
	require.True(t, d.Moved)
	st := statuses(t, e, john, conv)
	require.Equal(t, chat.StatusDelivered, st[first].Status)
	require.Equal(t, chat.StatusSent, st[second].Status)
	require.Equal(t, st[first].CreationTime, d.DeliveredUpTo)
	// The same (or an older) acknowledgement again writes nothing.
	require.False(t, must[chat.Delivered](t)(deliver(e, staff, conv, first)).Moved)

	// Another staff member of the store receiving the second covers it:
	// the store side has it.
	require.True(t, must[chat.Delivered](t)(deliver(e, kitchen, conv, second)).Moved)
	require.Equal(t, chat.StatusDelivered, statuses(t, e, john, conv)[second].Status)

	// Read is read, whatever was acknowledged; the store sees the same
	// states (the body is shared).
	must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv, "messageIds": []string{first}}))
	require.Equal(t, chat.StatusRead, statuses(t, e, staff, conv)[first].Status)
	require.Equal(t, chat.StatusDelivered, statuses(t, e, staff, conv)[second].Status)

	// The store's reply: sent until John's client has it.
	reply := e.send(staff, conv, "Out for delivery")
	require.Equal(t, chat.StatusSent, statuses(t, e, john, conv)[reply].Status)
	must[chat.Delivered](t)(deliver(e, john, conv, reply))
	require.Equal(t, chat.StatusDelivered, statuses(t, e, john, conv)[reply].Status)

	// getMessagesPaginated carries the same states.
	pg := must[chat.PaginatedMessages](t)(e.query(john, "getMessagesPaginated",
		map[string]any{"conversationId": conv, "paginationOpts": map[string]any{"numItems": 10, "cursor": nil}}))
	got := map[string]string{}
	for _, m := range pg.Page {
		got[m.ID] = m.Status
	}
	require.Equal(t, map[string]string{first: chat.StatusRead, second: chat.StatusDelivered, reply: chat.StatusDelivered}, got)

	// Notices and deleted messages have no state.
	must[any](t)(e.mutate(admin, "sendMessage", map[string]any{"conversationId": conv, "content": "Note", "messageType": "system"}))
	must[any](t)(e.mutate(john, "deleteMessage", map[string]any{"messageId": second}))
	for _, m := range statuses(t, e, john, conv) {
		if m.MessageType == "system" || m.IsDeleted {
			require.Empty(t, m.Status, m.ID)
		} else {
			require.NotEmpty(t, m.Status, m.ID)
		}
	}
}

func TestMarkDeliveredRules(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	msg := e.send(john, conv, "Where is my order?")
	other := e.storeConversation()
	otherMsg := e.send(john, other, "Another order")

	cases := []struct {
		name   string
		id     *functions.Identity
		conv   string
		msg    string
		status int
		text   string
	}{
		{"no identity", nobody, conv, msg, 401, ""},
		{"another customer", jane, conv, msg, 404, "Conversation not found"},
		{"staff of another store", burger, conv, msg, 404, "Conversation not found"},
		{"an admin moderating", admin, conv, msg, 403, chat.ErrNotRecipient.Message},
		{"no message", staff, conv, "", 400, "upToMessageId is required"},
		{"a message of another conversation", staff, conv, otherMsg, 404, "Message not found"},
		{"a message that does not exist", staff, conv, "msg-nope", 404, "Message not found"},
		{"another org", johnAcme, conv, msg, 404, "Conversation not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := deliver(e, c.id, c.conv, c.msg)
			requireCode(t, err, c.status, c.text)
		})
	}
	require.Equal(t, chat.StatusSent, statuses(t, e, john, conv)[msg].Status, "no failed call delivered anything")
}

func TestDeliveryStatusInGroups(t *testing.T) {
	e := newEnv(t)
	ref := must[chat.ConversationRef](t)(e.mutate(john, "createGroupConversation", map[string]any{
		"participantIds": []string{schema.DemoStaffID, schema.DemoStaff2ID}}))
	conv := ref.ConversationID
	msg := e.send(john, conv, "Party at eight")
	m := statuses(t, e, john, conv)[msg]
	require.Equal(t, chat.StatusSent, m.Status)
	require.Empty(t, m.DeliveredTo)

	must[chat.Delivered](t)(deliver(e, staff, conv, msg))
	m = statuses(t, e, john, conv)[msg]
	require.Equal(t, chat.StatusSent, m.Status, "one of two others has it")
	require.Equal(t, []string{schema.DemoStaffID}, m.DeliveredTo)

	// Kitchen reads without acknowledging first: read implies delivered.
	must[chat.MarkReadResult](t)(e.mutate(kitchen, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	m = statuses(t, e, kitchen, conv)[msg]
	require.Equal(t, chat.StatusDelivered, m.Status)
	require.ElementsMatch(t, []string{schema.DemoStaffID, schema.DemoStaff2ID}, m.DeliveredTo)
	require.Equal(t, []string{schema.DemoStaff2ID}, m.ReadBy)

	must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Equal(t, chat.StatusRead, statuses(t, e, john, conv)[msg].Status)

	// An admin who is not a member is not a recipient.
	_, err := deliver(e, admin, conv, msg)
	requireCode(t, err, 403, chat.ErrNotRecipient.Message)
}

// receiptOf is m's receipt for userID.
func receiptOf(t *testing.T, m chat.MessageDoc, userID string) chat.ReceiptDoc {
	t.Helper()
	for _, r := range m.Receipts {
		if r.UserID == userID {
			return r
		}
	}
	t.Fatalf("message %s has no receipt for %s: %+v", m.ID, userID, m.Receipts)
	return chat.ReceiptDoc{}
}

// millis is a time as the wire has it.
func millis(at time.Time) float64 { return float64(at.UnixMicro()) / 1000 }

// In a group each message says when it reached each other participant
// and when they read it: the time of the acknowledgement or read that
// first covered it, which later ones do not move.
func TestDeliveryTimesInGroups(t *testing.T) {
	e := newEnv(t)
	ref := must[chat.ConversationRef](t)(e.mutate(john, "createGroupConversation", map[string]any{
		"participantIds": []string{schema.DemoStaffID, schema.DemoStaff2ID}}))
	conv := ref.ConversationID
	first := e.send(john, conv, "Party at eight")
	m := statuses(t, e, john, conv)[first]
	require.Len(t, m.Receipts, 2, "one per other participant")
	require.Equal(t, chat.ReceiptDoc{UserID: schema.DemoStaffID}, receiptOf(t, m, schema.DemoStaffID), "not yet delivered")

	before := time.Now()
	must[chat.Delivered](t)(deliver(e, staff, conv, first))
	after := time.Now()
	second := e.send(john, conv, "Bring cake")
	must[chat.Delivered](t)(deliver(e, staff, conv, second))
	laterAck := time.Now()

	ms := statuses(t, e, john, conv)
	r1, r2 := receiptOf(t, ms[first], schema.DemoStaffID), receiptOf(t, ms[second], schema.DemoStaffID)
	require.NotNil(t, r1.DeliveredAt)
	require.InDelta(t, (millis(before)+millis(after))/2, *r1.DeliveredAt, (millis(after)-millis(before))/2+1,
		"the first acknowledgement's time, not the later one's")
	require.Greater(t, *r2.DeliveredAt, *r1.DeliveredAt)
	require.LessOrEqual(t, *r2.DeliveredAt, millis(laterAck)+1)
	require.Nil(t, r1.ReadAt)

	// Kitchen reads only the first (by id), then everything: read implies
	// delivered, at the read's time.
	must[chat.MarkReadResult](t)(e.mutate(kitchen, "markMessagesAsRead", map[string]any{"conversationId": conv, "messageIds": []string{first}}))
	must[chat.MarkReadResult](t)(e.mutate(kitchen, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	ms = statuses(t, e, john, conv)
	k1, k2 := receiptOf(t, ms[first], schema.DemoStaff2ID), receiptOf(t, ms[second], schema.DemoStaff2ID)
	require.NotNil(t, k1.ReadAt)
	require.NotNil(t, k2.ReadAt)
	require.Less(t, *k1.ReadAt, *k2.ReadAt, "each at the read that covered it")
	require.Equal(t, *k1.ReadAt, *k1.DeliveredAt)
	require.Equal(t, *k2.ReadAt, *k2.DeliveredAt)
	// The sender has no receipt of their own; the others' messages list John.
	for _, m := range ms {
		for _, r := range m.Receipts {
			require.NotEqual(t, m.SenderID, r.UserID)
		}
	}
	reply := e.send(kitchen, conv, "Will do")
	require.Len(t, statuses(t, e, john, conv)[reply].Receipts, 2, "John and the other staff member")
}

func TestGetParticipants(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	parts := func(id *functions.Identity) []chat.ParticipantInfo {
		return must[[]chat.ParticipantInfo](t)(e.query(id, "getParticipants", map[string]any{"conversationId": conv}))
	}
	ps := parts(john)
	require.Len(t, ps, 1, "the customer joins at creation")
	require.Equal(t, schema.DemoCustomerID, ps[0].UserID)
	require.Equal(t, "customer", ps[0].Role)
	require.False(t, ps[0].IsOnline)
	require.Nil(t, ps[0].LastSeenAt)

	msg := e.send(john, conv, "Hi")
	must[chat.Delivered](t)(deliver(e, kitchen, conv, msg)) // staff join when they first receive
	must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	ps = parts(staff)
	require.Equal(t, []string{schema.DemoCustomerID, schema.DemoStaff2ID, schema.DemoStaffID},
		[]string{ps[0].UserID, ps[1].UserID, ps[2].UserID})
	require.Equal(t, "Pizza Palace Kitchen", ps[1].Name)
	require.NotNil(t, ps[1].LastDeliveredAt)
	require.Nil(t, ps[1].LastReadAt)
	require.NotNil(t, ps[2].LastReadAt)

	// Activity: online while online_until is ahead; last seen as written.
	seen := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	_, err := e.pool.Exec(t.Context(), `INSERT INTO user_activity (user_id, last_seen_at, online_until) VALUES
		($1, $3, now() + interval '1 minute'), ($2, $3, $3)`, schema.DemoStaffID, schema.DemoStaff2ID, seen)
	require.NoError(t, err)
	ps = parts(admin) // admins see every conversation
	require.True(t, ps[2].IsOnline)
	require.False(t, ps[1].IsOnline)
	require.Equal(t, float64(seen.UnixMilli()), *ps[1].LastSeenAt)

	// Outsiders learn nothing.
	for _, id := range []*functions.Identity{jane, burger, johnAcme} {
		_, err := e.query(id, "getParticipants", map[string]any{"conversationId": conv})
		requireCode(t, err, 404, "Conversation not found")
	}
	_, err = e.query(nobody, "getParticipants", map[string]any{"conversationId": conv})
	requireCode(t, err, 401, "")
}
