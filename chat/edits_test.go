package chat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/schema"
)

func history(t *testing.T, e *env, msgID string) []chat.VersionDoc {
	t.Helper()
	h := must[chat.MessageHistory](t)(e.query(john, "getMessageHistory", map[string]any{"messageId": msgID}))
	require.Equal(t, msgID, h.MessageID)
	return h.Versions
}

func newest(t *testing.T, e *env, conv string) chat.MessageDoc {
	t.Helper()
	page := must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv, "limit": 1}))
	require.NotEmpty(t, page.Messages)
	return page.Messages[0]
}

func TestEditMessage(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	msg := e.send(john, conv, "Two pizzas, please")
	edit := func(content string) error {
		_, err := e.mutate(john, "editMessage", map[string]any{"messageId": msg, "content": content})
		return err
	}
	require.Nil(t, newest(t, e, conv).EditedAt)
	require.Len(t, history(t, e, msg), 1)

	require.NoError(t, edit("  Three pizzas, please  "))
	m := newest(t, e, conv)
	require.Equal(t, "Three pizzas, please", m.Content)
	require.NotNil(t, m.EditedAt)
	require.GreaterOrEqual(t, *m.EditedAt, m.CreationTime)
	conversation := must[chat.ConversationDoc](t)(e.query(john, "getConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, "Three pizzas, please", *conversation.LastMessagePreview, "the latest message's preview follows")

	require.NoError(t, edit("Three pizzas, please"), "unchanged content is a no-op")
	require.NoError(t, edit("Four pizzas, please"))
	vs := history(t, e, msg)
	require.Len(t, vs, 3)
	require.Equal(t, []string{"Two pizzas, please", "Three pizzas, please", "Four pizzas, please"},
		[]string{vs[0].Content, vs[1].Content, vs[2].Content})
	for i, v := range vs {
		require.Equal(t, i+1, v.Version)
	}
	require.Equal(t, m.CreationTime, vs[0].WrittenAt, "version 1 was written when the message was sent")
	require.Equal(t, *vs[0].ReplacedAt, vs[1].WrittenAt)
	require.Nil(t, vs[2].ReplacedAt, "the current version is not replaced")
	// The store's staff see the history too.
	require.Len(t, must[chat.MessageHistory](t)(e.query(staff, "getMessageHistory", map[string]any{"messageId": msg})).Versions, 3)

	// Bad input and rules.
	requireCode(t, edit(""), 400, "Message content must not be empty")
	requireCode(t, edit(strings.Repeat("x", chat.MaxContentChars+1)), 400, "Message content exceeds 4000 characters (got 4001)")
	_, err := e.mutate(staff, "editMessage", map[string]any{"messageId": msg, "content": "No pizzas"})
	requireCode(t, err, 403, "Only the sender can edit this message")
	_, err = e.mutate(jane, "editMessage", map[string]any{"messageId": msg, "content": "No pizzas"})
	requireCode(t, err, 404, "Message not found")
	_, err = e.mutate(john, "editMessage", map[string]any{"messageId": schema.DemoMessageID, "content": "Thanks!"})
	requireCode(t, err, 403, "Messages can only be edited within 15 minutes of sending")

	// A blocked conversation takes no edits; then, deleted, the message
	// takes none either, and its history is as hidden as its content.
	must[any](t)(e.mutate(admin, "blockConversation", map[string]any{"conversationId": conv}))
	requireCode(t, edit("Five pizzas"), 403, "Conversation is blocked")
	must[any](t)(e.mutate(admin, "unblockConversation", map[string]any{"conversationId": conv}))
	must[any](t)(e.mutate(john, "deleteMessage", map[string]any{"messageId": msg}))
	requireCode(t, edit("Five pizzas"), 409, "A deleted message cannot be edited")
	require.Empty(t, history(t, e, msg))
}

func TestEditMessageRules(t *testing.T) {
	e := newEnv(t)
	support := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{})).ConversationID
	// An admin edits their own message at any time; a notice is history.
	reply := e.send(admin, support, "We are on it")
	e.exec(`UPDATE messages SET created_at = now() - interval '2 days' WHERE id = $1`, reply)
	must[any](t)(e.mutate(admin, "editMessage", map[string]any{"messageId": reply, "content": "We are on it: refund sent"}))
	notice := must[string](t)(e.mutate(admin, "sendMessage", map[string]any{"conversationId": support, "content": "Be kind", "messageType": "system"}))
	_, err := e.mutate(admin, "editMessage", map[string]any{"messageId": notice, "content": "Be nice"})
	requireCode(t, err, 400, "A system message cannot be edited")

	// The window is configurable.
	r := newRegistry(chat.Config{MessagesPerSecond: -1, EditWindow: time.Hour})
	old := e.send(john, support, "Hello?")
	e.exec(`UPDATE messages SET created_at = now() - interval '30 minutes' WHERE id = $1`, old)
	_, err = e.mutateIn(r, john, "editMessage", map[string]any{"messageId": old, "content": "Hello!"})
	require.NoError(t, err)
	e.exec(`UPDATE messages SET created_at = now() - interval '61 minutes' WHERE id = $1`, old)
	_, err = e.mutateIn(r, john, "editMessage", map[string]any{"messageId": old, "content": "Hello!!"})
	requireCode(t, err, 403, "Messages can only be edited within 1 hour of sending")
}

func TestMeetingMessage(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	start := time.Now().Add(24 * time.Hour).Truncate(time.Minute).UnixMilli()
	meeting := func(over map[string]any) map[string]any {
		m := map[string]any{"title": "Catering tasting", "startsAt": start, "durationMinutes": 45, "joinUrl": "https://meet.example/pizza-42"}
		for k, v := range over {
			m[k] = v
		}
		return map[string]any{"conversationId": conv, "content": "", "messageType": "meeting", "meeting": m}
	}
	id := must[string](t)(e.mutate(staff, "sendMessage", func() map[string]any {
		a := meeting(nil)
		a["content"] = "Bring your appetite"
		return a
	}()))
	m := newest(t, e, conv)
	require.Equal(t, id, m.ID)
	require.Equal(t, "meeting", m.MessageType)
	require.Equal(t, &chat.Meeting{Title: "Catering tasting", StartsAt: float64(start), DurationMinutes: 45, JoinURL: "https://meet.example/pizza-42"}, m.Meeting)
	conversation := must[chat.ConversationDoc](t)(e.query(john, "getConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, "Bring your appetite", *conversation.LastMessagePreview)
	// Its caption cleared by an edit, the preview is the meeting's again;
	// search finds it with its meeting.
	must[any](t)(e.mutate(staff, "editMessage", map[string]any{"messageId": id, "content": ""}))
	conversation = must[chat.ConversationDoc](t)(e.query(john, "getConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, "Meeting: Catering tasting", *conversation.LastMessagePreview)
	found := must[chat.SearchResult](t)(e.query(john, "searchMessages", map[string]any{"query": "appetite", "conversationId": conv}))
	require.Empty(t, found.Messages, "the caption is gone")
	vs := must[chat.MessageHistory](t)(e.query(john, "getMessageHistory", map[string]any{"messageId": id})).Versions
	require.Len(t, vs, 2)
	require.Greater(t, vs[1].WrittenAt, vs[0].WrittenAt, "versions follow one another in time")

	tests := []struct {
		name string
		args map[string]any
		msg  string
	}{
		{"no meeting", map[string]any{"conversationId": conv, "content": "", "messageType": "meeting"}, `meeting is required when messageType is "meeting"`},
		{"meeting on text", map[string]any{"conversationId": conv, "content": "hi", "messageType": "text", "meeting": meeting(nil)["meeting"]}, `meeting is only allowed when messageType is "meeting"`},
		{"empty title", meeting(map[string]any{"title": "  "}), "meeting.title must not be empty"},
		{"long title", meeting(map[string]any{"title": strings.Repeat("t", 201)}), "meeting.title must be at most 200 characters, got 201"},
		{"in the past", meeting(map[string]any{"startsAt": time.Now().Add(-2 * time.Hour).UnixMilli()}), "meeting.startsAt must be between an hour ago and a year from now"},
		{"too far ahead", meeting(map[string]any{"startsAt": time.Now().Add(400 * 24 * time.Hour).UnixMilli()}), "meeting.startsAt must be between an hour ago and a year from now"},
		{"fractional start", meeting(map[string]any{"startsAt": float64(start) + 0.5}), "meeting.startsAt must be a whole number of milliseconds since the epoch"},
		{"zero minutes", meeting(map[string]any{"durationMinutes": 0}), "meeting.durationMinutes must be between 1 and 1440, got 0"},
		{"a day and a minute", meeting(map[string]any{"durationMinutes": 1441}), "meeting.durationMinutes must be between 1 and 1440, got 1441"},
		{"javascript url", meeting(map[string]any{"joinUrl": "javascript:alert(1)"}), "meeting.joinUrl must be an absolute http or https URL without credentials"},
		{"relative url", meeting(map[string]any{"joinUrl": "/join/42"}), "meeting.joinUrl must be an absolute http or https URL without credentials"},
		{"url with credentials", meeting(map[string]any{"joinUrl": "https://u:p@meet.example/x"}), "meeting.joinUrl must be an absolute http or https URL without credentials"},
		{"long url", meeting(map[string]any{"joinUrl": "https://meet.example/" + strings.Repeat("a", 2048)}), "meeting.joinUrl must be at most 2048 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.mutate(staff, "sendMessage", tt.args)
			requireCode(t, err, 400, tt.msg)
		})
	}
}
