package chat_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

func search(t *testing.T, e *env, id *functions.Identity, args map[string]any) chat.SearchResult {
	t.Helper()
	return must[chat.SearchResult](t)(e.query(id, "searchMessages", args))
}

func ids(r chat.SearchResult) []string {
	out := make([]string, len(r.Messages))
	for i, m := range r.Messages {
		out[i] = m.ID
	}
	return out
}

func TestSearchMessages(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	support := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{})).ConversationID
	group := must[chat.ConversationRef](t)(e.mutate(john, "createGroupConversation",
		map[string]any{"participantIds": []string{schema.DemoStaff2ID}})).ConversationID
	once := e.send(john, conv, "Is the Pizza still warm?")
	thrice := e.send(staff, conv, "Pizza, pizza, pizza: all three are on their way")
	inSupport := e.send(john, support, "My pizza order was refunded twice")
	inGroup := e.send(kitchen, group, "The pizza dough is resting")
	janes := must[chat.ConversationRef](t)(e.mutate(jane, "createOrGetConversation", map[string]any{})).ConversationID
	e.send(jane, janes, "I never ordered a pizza")
	deleted := e.send(john, conv, "pizza with pineapple, please")
	must[any](t)(e.mutate(john, "deleteMessage", map[string]any{"messageId": deleted}))

	// Each finds what they may see, best match first; deleted messages
	// never match; case does not matter.
	r := search(t, e, john, map[string]any{"query": "PIZZA"})
	require.Equal(t, thrice, r.Messages[0].ID, "three mentions rank first")
	require.ElementsMatch(t, []string{once, thrice, inSupport, inGroup}, ids(r))
	require.Nil(t, r.Cursor)
	require.ElementsMatch(t, []string{once, thrice}, ids(search(t, e, staff, map[string]any{"query": "pizza"})))
	require.ElementsMatch(t, []string{once, thrice, inGroup}, ids(search(t, e, kitchen, map[string]any{"query": "pizza"})), "a colleague: the store's and their group")
	require.Len(t, search(t, e, admin, map[string]any{"query": "pizza"}).Messages, 5, "admins search their whole org")
	require.Empty(t, search(t, e, acmeAdmin, map[string]any{"query": "pizza"}).Messages, "nothing crosses orgs")
	require.Equal(t, []string{once}, ids(search(t, e, john, map[string]any{"query": "pizza warm", "conversationId": conv})))
	require.Equal(t, []string{inSupport}, ids(search(t, e, john, map[string]any{"query": `"order was refunded"`})))
	require.ElementsMatch(t, []string{thrice, inSupport, inGroup}, ids(search(t, e, john, map[string]any{"query": "pizza -warm"})))

	// Pages follow the ranking without repeats.
	var seen []string
	args := map[string]any{"query": "pizza", "limit": 1}
	for range 10 {
		p := search(t, e, john, args)
		seen = append(seen, ids(p)...)
		if p.Cursor == nil {
			break
		}
		args["cursor"] = *p.Cursor
	}
	require.Equal(t, ids(r), seen)

	// Bad input; the query never reaches the SQL as text.
	require.Empty(t, search(t, e, john, map[string]any{"query": "'; DROP TABLE messages; --"}).Messages)
	require.Empty(t, search(t, e, john, map[string]any{"query": `!!! & | ( " ' :*`}).Messages)
	e.send(john, conv, "still here")
	for _, tt := range []struct {
		args map[string]any
		msg  string
	}{
		{map[string]any{"query": "  "}, "query must not be empty"},
		{map[string]any{"query": strings.Repeat("q", 201)}, "query must be at most 200 characters, got 201"},
		{map[string]any{"query": "pizza", "limit": 0}, "limit must be between 1 and 50, got 0"},
		{map[string]any{"query": "pizza", "cursor": "nope"}, `Invalid cursor "nope"`},
	} {
		_, err := e.query(john, "searchMessages", tt.args)
		requireCode(t, err, 400, tt.msg)
	}
	_, err := e.query(jane, "searchMessages", map[string]any{"query": "pizza", "conversationId": conv})
	requireCode(t, err, 404, "Conversation not found")
}

// A word in more messages than chat.SearchCandidates is ranked among its
// newest that many matches: an older, better match is left out, and any
// newer one is found.
func TestSearchRanksTheNewestCandidates(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	best := e.send(john, conv, "quince quince quince quince")
	e.exec(`UPDATE messages SET created_at = now() - interval '2 hours' WHERE id = $1`, best)
	e.exec(`INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, created_at)
		SELECT 'bulk' || i, $1, $2, 'customer', 'text', 'one quince among many other words here', now() - interval '1 hour' + i * interval '1 ms'
		FROM generate_series(1, $3::int) i`, conv, schema.DemoCustomerID, chat.SearchCandidates)
	r := search(t, e, john, map[string]any{"query": "quince", "limit": 5})
	require.Len(t, r.Messages, 5)
	require.NotContains(t, ids(r), best, "the best match is older than the newest 5,000")
	newest := e.send(john, conv, "quince quince")
	r = search(t, e, john, map[string]any{"query": "quince", "limit": 5})
	require.Equal(t, newest, r.Messages[0].ID, "the best of the newest")
	// Fewer matches than that: every one is ranked.
	e.exec(`DELETE FROM messages WHERE id LIKE 'bulk%'`)
	r = search(t, e, john, map[string]any{"query": "quince", "limit": 5})
	require.Equal(t, []string{best, newest}, ids(r))
}
