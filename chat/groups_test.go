package chat_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

var kitchen = &functions.Identity{Subject: schema.DemoStaff2ID, Role: functions.RoleStore, StoreID: schema.DemoStoreID}

func groupsOf(t *testing.T, e *env, id *functions.Identity) map[string]chat.ConversationDoc {
	t.Helper()
	docs := must[[]chat.ConversationDoc](t)(e.query(id, "getGroupConversations", map[string]any{}))
	out := make(map[string]chat.ConversationDoc, len(docs))
	for _, d := range docs {
		out[d.ID] = d
	}
	return out
}

func TestCreateGroupConversationChecksItsArguments(t *testing.T) {
	e := newEnv(t)
	create := func(id *functions.Identity, args map[string]any) error {
		_, err := e.mutate(id, "createGroupConversation", args)
		return err
	}
	many := make([]string, chat.DefaultMaxGroupSize)
	for i := range many {
		many[i] = fmt.Sprintf("user-%d", i)
	}
	long := make([]rune, 101)
	for i := range long {
		long[i] = 'é'
	}
	tests := []struct {
		name   string
		id     *functions.Identity
		args   map[string]any
		status int
		msg    string
	}{
		{"no one", john, map[string]any{"participantIds": []string{}}, 400, "participantIds must name at least one user besides you"},
		{"only the caller", john, map[string]any{"participantIds": []string{schema.DemoCustomerID}}, 400, "participantIds must name at least one user besides you"},
		{"an empty id", john, map[string]any{"participantIds": []string{""}}, 400, "participantIds must not contain an empty id"},
		{"too many", admin, map[string]any{"participantIds": many}, 400, "A group may have at most 20 participants (you included), got 21"},
		{"a long title", john, map[string]any{"participantIds": []string{schema.DemoStaffID}, "title": string(long)}, 400, "title must be at most 100 characters, got 101"},
		{"a missing argument", john, map[string]any{}, 400, ""},
		{"no identity", nobody, map[string]any{"participantIds": []string{schema.DemoStaffID}}, 401, "Not authenticated"},
		// A customer adds only staff of a store they may message.
		{"customer adds a customer", john, map[string]any{"participantIds": []string{schema.DemoOtherCustomerID}}, 404, "User not found: " + schema.DemoOtherCustomerID},
		{"customer adds an admin", john, map[string]any{"participantIds": []string{schema.DemoAdminID}}, 404, "User not found: " + schema.DemoAdminID},
		{"customer adds staff of a store with only a cancelled order", john, map[string]any{"participantIds": []string{schema.DemoClosedStaffID}}, 404, "User not found: " + schema.DemoClosedStaffID},
		{"customer without orders adds staff", jane, map[string]any{"participantIds": []string{schema.DemoStaffID}}, 404, "User not found: " + schema.DemoStaffID},
		// Staff add only colleagues.
		{"staff adds a customer", staff, map[string]any{"participantIds": []string{schema.DemoCustomerID}}, 404, "User not found: " + schema.DemoCustomerID},
		{"staff adds another store's staff", staff, map[string]any{"participantIds": []string{schema.DemoClosedStaffID}}, 404, "User not found: " + schema.DemoClosedStaffID},
		{"one bad id spoils the group", staff, map[string]any{"participantIds": []string{schema.DemoStaff2ID, "user-nope"}}, 404, "User not found: user-nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireCode(t, create(tt.id, tt.args), tt.status, tt.msg)
		})
	}
	// Nothing was written by the refused calls.
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM conversations WHERE conversation_type = 'group'`).Scan(&n))
	require.Zero(t, n)

	t.Run("a store closed to messages", func(t *testing.T) {
		e.exec(`UPDATE stores SET direct_messaging_enabled = false WHERE id = $1`, schema.DemoStoreID)
		t.Cleanup(func() { e.exec(`UPDATE stores SET direct_messaging_enabled = true WHERE id = $1`, schema.DemoStoreID) })
		requireCode(t, create(john, map[string]any{"participantIds": []string{schema.DemoStaffID}}), 403, chat.ReasonStoreMessagingDisabled)
	})
}

func TestGroupConversation(t *testing.T) {
	e := newEnv(t)
	ref := must[chat.ConversationRef](t)(e.mutate(john, "createGroupConversation", map[string]any{
		"participantIds": []string{schema.DemoStaffID, schema.DemoStaff2ID, schema.DemoStaffID}, "title": "  Party order  "}))
	require.Equal(t, chat.Group, ref.ConversationType)
	conv := ref.ConversationID

	// Everyone in it lists it, with its people; nobody else does, and no
	// one-to-one list has it.
	for _, id := range []*functions.Identity{john, staff, kitchen} {
		g, ok := groupsOf(t, e, id)[conv]
		require.True(t, ok, "%s lists the group", id.Subject)
		require.Equal(t, "Party order", *g.Title)
		require.Equal(t, schema.DemoCustomerID, *g.CreatedBy)
		require.Empty(t, g.CustomerID)
		require.Equal(t, []chat.ParticipantDoc{
			{UserID: schema.DemoCustomerID, Name: "John Doe", Role: "customer"},
			{UserID: schema.DemoStaffID, Name: "Pizza Palace Support", Role: "store"},
			{UserID: schema.DemoStaff2ID, Name: "Pizza Palace Kitchen", Role: "store"},
		}, g.Participants)
		require.Equal(t, "John Doe created this group", *g.LastMessagePreview)
		for _, d := range must[[]chat.ConversationDoc](t)(e.query(id, "getConversations", map[string]any{})) {
			require.NotEqual(t, conv, d.ID, "getConversations lists one-to-one conversations")
		}
	}
	for _, id := range []*functions.Identity{jane, burger, admin} {
		require.NotContains(t, groupsOf(t, e, id), conv)
	}
	detail := must[chat.ConversationDoc](t)(e.query(admin, "getConversation", map[string]any{"conversationId": conv}))
	require.Len(t, detail.Participants, 3)

	// Unread counts are each member's own: the creation notice (a system
	// message of John's) is unread for the staff; nobody counts their own.
	unread := func(id *functions.Identity) int { return *groupsOf(t, e, id)[conv].UnreadCount }
	require.Equal(t, 0, unread(john))
	require.Equal(t, 1, unread(staff))
	m1 := e.send(john, conv, "Ten pizzas for Friday")
	e.send(kitchen, conv, "Which toppings?")
	require.Equal(t, 1, unread(john))
	require.Equal(t, 3, unread(staff))
	require.Equal(t, 2, unread(kitchen))

	// Reading up to a message covers it and what came before; reading all
	// covers the rest, and never goes back.
	res := must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv, "messageIds": []string{m1}}))
	require.Equal(t, 2, res.MarkedCount)
	require.Contains(t, res.MessageIDs, m1)
	require.Equal(t, 1, unread(staff))
	res = must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Equal(t, 1, res.MarkedCount)
	res = must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv, "messageIds": []string{m1}}))
	require.Zero(t, res.MarkedCount)
	require.Equal(t, 0, unread(staff))
	require.Equal(t, 2, unread(kitchen), "one member's reading is not another's")

	// A deleted message is no longer unread.
	must[any](t)(e.mutate(john, "deleteMessage", map[string]any{"messageId": m1}))
	require.Equal(t, 1, unread(kitchen))

	// An admin moderates without joining: a notice gets through, but the
	// admin is not a member and cannot speak.
	must[string](t)(e.mutate(admin, "sendMessage", map[string]any{"conversationId": conv, "content": "Be nice", "messageType": "system"}))
	_, err := e.mutate(admin, "sendMessage", map[string]any{"conversationId": conv, "content": "hi", "messageType": "text"})
	requireCode(t, err, 403, "Unauthorized to send message to this conversation")
	require.NotContains(t, groupsOf(t, e, admin), conv)

	// The creator closes it: members' lists move it to "closed".
	must[any](t)(e.mutate(john, "closeConversation", map[string]any{"conversationId": conv, "reason": "Ordered"}))
	_, err = e.mutate(kitchen, "sendMessage", map[string]any{"conversationId": conv, "content": "wait", "messageType": "text"})
	requireCode(t, err, 403, "Conversation is closed")
	require.NotContains(t, groupsOf(t, e, kitchen), conv)
	closed := must[[]chat.ConversationDoc](t)(e.query(kitchen, "getGroupConversations", map[string]any{"status": "closed"}))
	require.Len(t, closed, 1)
	require.Equal(t, "John Doe closed this conversation: Ordered", *closed[0].LastMessagePreview)
}

func TestAdminGroupMayHoldAnyone(t *testing.T) {
	e := newEnv(t)
	ref := must[chat.ConversationRef](t)(e.mutate(admin, "createGroupConversation", map[string]any{
		"participantIds": []string{schema.DemoCustomerID, schema.DemoClosedStaffID, schema.DemoAdmin2ID}}))
	g := groupsOf(t, e, john)[ref.ConversationID]
	require.Nil(t, g.Title)
	require.Len(t, g.Participants, 4)
	// As a member, the admin speaks in it.
	e.send(admin, ref.ConversationID, "Let us sort this out together")
	require.Equal(t, 2, *groupsOf(t, e, burger)[ref.ConversationID].UnreadCount)
}

// A message committed after a reader moved past the latest one is newer
// than that position, even when the sender's clock is behind: messages
// take times after their conversation's latest, and a read position is the
// latest message's time, not the reader's clock.
func TestGroupReadPositionFollowsCommitOrder(t *testing.T) {
	e := newEnv(t)
	conv := must[chat.ConversationRef](t)(e.mutate(john, "createGroupConversation",
		map[string]any{"participantIds": []string{schema.DemoStaffID}})).ConversationID
	// The latest message was sent by a node whose clock runs an hour ahead.
	e.exec(`UPDATE messages SET created_at = now() + interval '1 hour' WHERE conversation_id = $1`, conv)
	e.exec(`UPDATE conversations SET last_message_at = now() + interval '1 hour' WHERE id = $1`, conv)
	must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Equal(t, 0, *groupsOf(t, e, staff)[conv].UnreadCount)

	// John's node is on time: his message still sorts after the latest, so
	// it is unread for the staff member, and reading covers it.
	m := e.send(john, conv, "Are you there?")
	var after bool
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT m.created_at > now() + interval '59 minutes' AND m.created_at = c.last_message_at
		FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1`, m).Scan(&after))
	require.True(t, after, "the new message is after the conversation's latest, and is its latest")
	require.Equal(t, 1, *groupsOf(t, e, staff)[conv].UnreadCount)
	res := must[chat.MarkReadResult](t)(e.mutate(staff, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Equal(t, []string{m}, res.MessageIDs)
	require.Equal(t, 0, *groupsOf(t, e, staff)[conv].UnreadCount)
	newestFirst := must[chat.MessagePage](t)(e.query(staff, "getMessages", map[string]any{"conversationId": conv, "limit": 1}))
	require.Equal(t, m, newestFirst.Messages[0].ID, "the thread lists it last, as it was committed")
}
