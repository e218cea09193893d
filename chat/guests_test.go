package chat_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/schema"
)

// newGuest is a fresh guest of org, with its token.
func newGuest(name, org string) (*functions.Identity, string) {
	id := &functions.Identity{Subject: jwtauth.NewGuestSubject(), Role: functions.RoleGuest, Name: name, Org: org}
	return id, guestToken(*id)
}

// supportOf opens (or finds) id's support conversation.
func (e *env) supportOf(id *functions.Identity) string {
	e.t.Helper()
	ref := must[chat.ConversationRef](e.t)(e.mutate(id, "createOrGetConversation", map[string]any{}))
	require.Equal(e.t, chat.CustomerToAdmin, ref.ConversationType)
	return ref.ConversationID
}

// page is a conversation's messages, oldest first, as id reads them.
func (e *env) page(id *functions.Identity, conv string) []chat.MessageDoc {
	e.t.Helper()
	p := must[chat.MessagePage](e.t)(e.query(id, "getMessages", map[string]any{"conversationId": conv, "limit": 100}))
	out := make([]chat.MessageDoc, len(p.Messages))
	for i, m := range p.Messages {
		out[len(out)-1-i] = m
	}
	return out
}

// requireCounters checks a conversation's unread counters against a
// recount of its messages.
func (e *env) requireCounters(conv string) (customer, recipient int) {
	e.t.Helper()
	var wantC, wantR int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT
			count(*) FILTER (WHERE NOT is_read AND NOT is_deleted AND sender_type <> 'customer'),
			count(*) FILTER (WHERE NOT is_read AND NOT is_deleted AND sender_type = 'customer')
		FROM messages WHERE conversation_id = $1`, conv).Scan(&wantC, &wantR))
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT unread_customer, unread_recipient FROM conversations WHERE id = $1`,
		conv).Scan(&customer, &recipient))
	require.Equal(e.t, [2]int{wantC, wantR}, [2]int{customer, recipient}, "unread counters of %s", conv)
	return customer, recipient
}

// A guest chats with support as a customer does: its messages speak for
// the customer side, the counters and read receipts count them so, and
// another guest learns nothing of its conversation.
func TestGuestChatsWithSupport(t *testing.T) {
	e := newEnv(t)
	ada, _ := newGuest("Ada (guest)", "")
	bob, _ := newGuest("", "")
	conv := e.supportOf(ada)
	require.Equal(t, conv, e.supportOf(ada), "the same support conversation each time")

	e.send(ada, conv, "Is the shop open on Sunday?")
	_, recipient := e.requireCounters(conv)
	require.Equal(t, 1, recipient, "support has one unread message")
	require.Equal(t, 1, must[int](t)(e.query(admin, "getUnreadCount", map[string]any{})))
	e.send(admin, conv, "Yes, from 10 to 4.")
	customer, _ := e.requireCounters(conv)
	require.Equal(t, 1, customer)
	require.Equal(t, 1, must[int](t)(e.query(ada, "getUnreadCount", map[string]any{})))
	read := must[chat.MarkReadResult](t)(e.mutate(ada, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Equal(t, 1, read.MarkedCount)
	require.Equal(t, 0, must[int](t)(e.query(ada, "getUnreadCount", map[string]any{})))
	must[any](t)(e.mutate(ada, "updateTypingStatus", map[string]any{"conversationId": conv, "isTyping": true}))
	typing := must[[]chat.TypingIndicator](t)(e.query(admin, "getTypingIndicators", map[string]any{"conversationId": conv}))
	require.Len(t, typing, 1)
	require.Equal(t, chat.TypingIndicator{UserID: ada.Subject, UserType: "customer", UserName: "Ada (guest)", LastTypingAt: typing[0].LastTypingAt}, typing[0])

	msgs := e.page(ada, conv)
	require.Len(t, msgs, 3, "the guest's, support's join notice, support's answer")
	require.Equal(t, ada.Subject, msgs[0].SenderID)
	require.Equal(t, "customer", msgs[0].SenderType)
	require.Equal(t, "Ada (guest)", msgs[0].SenderName)
	doc := must[chat.ConversationDoc](t)(e.query(admin, "getConversation", map[string]any{"conversationId": conv}))
	require.True(t, doc.CustomerIsGuest)
	require.Equal(t, "Ada (guest)", doc.CustomerName)
	var role string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT role FROM conversation_participants
		WHERE conversation_id = $1 AND user_id = $2`, conv, ada.Subject).Scan(&role))
	require.Equal(t, "guest", role)

	// A guest without a name in its token is shown by its subject.
	bobConv := e.supportOf(bob)
	require.NotEqual(t, conv, bobConv)
	e.send(bob, bobConv, "Hello?")
	require.Equal(t, bob.Subject, e.page(bob, bobConv)[0].SenderName)

	// Bob reaches nothing of Ada's: 404, as for a conversation that does
	// not exist.
	for _, call := range []struct {
		fn   string
		args map[string]any
	}{
		{"getMessages", map[string]any{"conversationId": conv}},
		{"getConversation", map[string]any{"conversationId": conv}},
		{"sendMessage", map[string]any{"conversationId": conv, "content": "hi", "messageType": "text"}},
		{"markMessagesAsRead", map[string]any{"conversationId": conv}},
		{"updateTypingStatus", map[string]any{"conversationId": conv, "isTyping": true}},
		{"searchMessages", map[string]any{"query": "Sunday", "conversationId": conv}},
	} {
		_, err := e.call(call.fn, bob, call.args)
		requireCode(t, err, 404, "Conversation not found")
	}
	_, err := e.call("deleteMessage", bob, map[string]any{"messageId": msgs[0].ID})
	requireCode(t, err, 404, "Message not found")
	require.Empty(t, must[chat.SearchResult](t)(e.query(bob, "searchMessages", map[string]any{"query": "Sunday"})).Messages,
		"a guest's search covers its own conversations")
	require.Len(t, must[chat.SearchResult](t)(e.query(ada, "searchMessages", map[string]any{"query": "Sunday"})).Messages, 1)
	list := must[[]chat.ConversationDoc](t)(e.query(bob, "getConversations", map[string]any{}))
	require.Len(t, list, 1)
	require.Equal(t, bobConv, list[0].ID)

	// An admin cannot put a guest in a group.
	_, err = e.mutate(admin, "createGroupConversation", map[string]any{"participantIds": []string{ada.Subject}})
	requireCode(t, err, 403, "Guests cannot be added to a group")
	// Nor open a direct channel with one; a customer does not find one; a
	// guest opens none.
	_, err = e.mutate(admin, "getOrCreateDirectChannel", map[string]any{"userId": ada.Subject})
	requireCode(t, err, 403, "Guests have no direct channels: they chat with support in their support conversation")
	_, err = e.mutate(john, "getOrCreateDirectChannel", map[string]any{"userId": ada.Subject})
	requireCode(t, err, 404, "User not found: "+ada.Subject)
	_, err = e.mutate(ada, "getOrCreateDirectChannel", map[string]any{"userId": schema.DemoAdminID})
	requireCode(t, err, 403, "Guests can only chat with support: sign in to do this")
	require.Empty(t, must[[]chat.ConversationDoc](t)(e.query(ada, "getDirectChannels", map[string]any{})))
	// Its own thread's participants and delivery are its to see and move.
	parts := must[[]chat.ParticipantInfo](t)(e.query(ada, "getParticipants", map[string]any{"conversationId": conv}))
	require.Len(t, parts, 2)
	_, err = e.query(bob, "getParticipants", map[string]any{"conversationId": conv})
	requireCode(t, err, 404, "Conversation not found")
	_, err = e.mutate(bob, "markDelivered", map[string]any{"conversationId": conv, "upToMessageId": msgs[2].ID})
	requireCode(t, err, 404, "Conversation not found")
	must[any](t)(e.mutate(ada, "markDelivered", map[string]any{"conversationId": conv, "upToMessageId": msgs[2].ID}))
	// Nor does a guest name a store or an order.
	_, err = e.mutate(ada, "createOrGetConversation", map[string]any{"storeId": schema.DemoStoreID})
	requireCode(t, err, 403, "Guests can only chat with support: sign in to do this")
}

// claim calls claimGuestThreads as id with token.
func (e *env) claim(id *functions.Identity, token string) chat.ClaimResult {
	e.t.Helper()
	return must[chat.ClaimResult](e.t)(e.mutate(id, "claimGuestThreads", map[string]any{"guestToken": token}))
}

func TestClaimGuestThreads(t *testing.T) {
	ctx := context.Background()

	// A customer without a support conversation takes the guest's over.
	t.Run("hand over", func(t *testing.T) {
		e := newEnv(t)
		ada, token := newGuest("Ada (guest)", "")
		conv := e.supportOf(ada)
		first := e.send(ada, conv, "My parcel is late")
		e.send(admin, conv, "Let me check")
		must[any](t)(e.mutate(ada, "editMessage", map[string]any{"messageId": first, "content": "My parcel is two days late"}))
		e.send(ada, conv, "Thanks")
		must[any](t)(e.mutate(ada, "updateTypingStatus", map[string]any{"conversationId": conv, "isTyping": true}))
		before := e.page(admin, conv)
		beforeC, beforeR := e.requireCounters(conv)

		customer := &functions.Identity{Subject: "cust-ada", Role: functions.RoleCustomer, Name: "Ada Lovelace"}
		got := e.claim(customer, token)
		// The guest's three and support's join notice.
		require.Equal(t, chat.ClaimResult{ClaimedConversationIDs: []string{conv}, MovedMessages: 4,
			Threads: []chat.ClaimedThread{{GuestConversationID: conv, ConversationID: conv, Messages: 4}}}, got)

		after := e.page(customer, conv)
		require.Len(t, after, len(before))
		for i := range after {
			require.Equal(t, before[i].ID, after[i].ID)
			require.Equal(t, before[i].CreationTime, after[i].CreationTime)
			require.Equal(t, before[i].Content, after[i].Content)
			if before[i].SenderID == ada.Subject {
				require.Equal(t, customer.Subject, after[i].SenderID, "the guest's messages are the customer's")
				require.Equal(t, "customer", after[i].SenderType)
			} else {
				require.Equal(t, before[i].SenderID, after[i].SenderID)
			}
		}
		afterC, afterR := e.requireCounters(conv)
		require.Equal(t, [2]int{beforeC, beforeR}, [2]int{afterC, afterR})
		doc := must[chat.ConversationDoc](t)(e.query(customer, "getConversation", map[string]any{"conversationId": conv}))
		require.Equal(t, customer.Subject, doc.CustomerID)
		require.False(t, doc.CustomerIsGuest)
		var role string
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT role FROM conversation_participants WHERE conversation_id = $1 AND user_id = $2`,
			conv, customer.Subject).Scan(&role))
		require.Equal(t, "customer", role)
		var left int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM conversation_participants WHERE user_id = $1) +
				(SELECT count(*) FROM typing_state WHERE user_id = $1) +
				(SELECT count(*) FROM messages WHERE sender_id = $1) +
				(SELECT count(*) FROM message_edits WHERE replaced_by = $1)`, ada.Subject).Scan(&left))
		require.Zero(t, left, "nothing of the guest's is left")
		history := must[chat.MessageHistory](t)(e.query(customer, "getMessageHistory", map[string]any{"messageId": first}))
		require.Len(t, history.Versions, 2)

		// The guest's token no longer reaches the conversation; it may
		// start a new one.
		_, err := e.query(ada, "getMessages", map[string]any{"conversationId": conv})
		requireCode(t, err, 404, "Conversation not found")
		require.Empty(t, must[[]chat.ConversationDoc](t)(e.query(ada, "getConversations", map[string]any{})))
		require.NotEqual(t, conv, e.supportOf(ada))

		// Claiming again moves nothing more (the guest's new, empty
		// conversation aside, which is the customer's twin now: it merges).
		again := e.claim(customer, token)
		require.Equal(t, 0, again.MovedMessages)
		require.Len(t, e.page(customer, conv), len(before))
		require.Equal(t, chat.ClaimResult{ClaimedConversationIDs: []string{}, Threads: []chat.ClaimedThread{}}, e.claim(customer, token))
	})

	// A customer who already has a support conversation gets the guest's
	// messages in it, in time order, once each.
	t.Run("merge", func(t *testing.T) {
		e := newEnv(t)
		bob, token := newGuest("Bob (guest)", "")
		johnConv := e.supportOf(john)
		guestConv := e.supportOf(bob)
		var order []string
		order = append(order, e.send(john, johnConv, "1 john"))
		order = append(order, e.send(bob, guestConv, "2 guest"))
		three := e.send(admin, johnConv, "3 admin to john")
		joined := e.page(admin, johnConv)[1]
		require.Equal(t, "Parley Support joined the conversation", joined.Content)
		order = append(order, joined.ID, three)
		// The admin joins the guest's too: the merge keeps one notice of it.
		order = append(order, e.send(admin, guestConv, "4 admin to guest"))
		order = append(order, e.send(bob, guestConv, "5 guest again"))
		must[any](t)(e.mutate(admin, "markMessagesAsRead", map[string]any{"conversationId": guestConv}))
		must[any](t)(e.mutate(admin, "setConversationSubject", map[string]any{"conversationId": guestConv, "subject": "Late parcel"}))
		guestMsgs := e.page(admin, guestConv)
		require.Len(t, guestMsgs, 5, "2, the join notice, 4, 5, the subject's notice")
		order = append(order, guestMsgs[4].ID)
		e.requireCounters(johnConv)
		e.requireCounters(guestConv)
		var unreadBefore int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT sum(unread_customer + unread_recipient) FROM conversations WHERE id IN ($1, $2)`,
			johnConv, guestConv).Scan(&unreadBefore))

		got := e.claim(john, token)
		require.Equal(t, chat.ClaimResult{ClaimedConversationIDs: []string{johnConv}, MovedMessages: 4,
			Threads: []chat.ClaimedThread{{GuestConversationID: guestConv, ConversationID: johnConv, Merged: true, Messages: 4}}}, got)

		msgs := e.page(john, johnConv)
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
			require.NotEqual(t, bob.Subject, m.SenderID)
		}
		require.Equal(t, order, ids, "every message once, in time order")
		require.Equal(t, john.Subject, msgs[1].SenderID)
		var unreadAfter int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT unread_customer + unread_recipient FROM conversations WHERE id = $1`,
			johnConv).Scan(&unreadAfter))
		require.Equal(t, unreadBefore, unreadAfter, "the counters add up")
		e.requireCounters(johnConv)
		doc := must[chat.ConversationDoc](t)(e.query(john, "getConversation", map[string]any{"conversationId": johnConv}))
		require.Equal(t, msgs[len(msgs)-1].CreationTime, *doc.LastMessageAt, "the later last message wins")
		require.Equal(t, "Late parcel", *doc.Subject)
		require.NotNil(t, doc.AssignedAdminID)

		var left int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM conversations WHERE id = $1) +
			(SELECT count(*) FROM conversation_participants WHERE conversation_id = $1)`, guestConv).Scan(&left))
		require.Zero(t, left, "the emptied guest conversation is gone")
		var participants int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM conversation_participants WHERE conversation_id = $1`,
			johnConv).Scan(&participants))
		require.Equal(t, 2, participants, "John and the admin, once each")
		_, err := e.query(bob, "getConversation", map[string]any{"conversationId": guestConv})
		requireCode(t, err, 404, "Conversation not found")
		require.Equal(t, chat.ClaimResult{ClaimedConversationIDs: []string{}, Threads: []chat.ClaimedThread{}}, e.claim(john, token))
	})

	// Two customers racing with one guest token: one gets the thread, the
	// other nothing, and no message is lost or doubled.
	t.Run("concurrent", func(t *testing.T) {
		e := newEnv(t)
		ada, token := newGuest("Ada", "")
		conv := e.supportOf(ada)
		for range 5 {
			e.send(ada, conv, "hello")
		}
		claimants := []*functions.Identity{
			{Subject: "cust-one", Role: functions.RoleCustomer},
			{Subject: "cust-two", Role: functions.RoleCustomer},
			john,
		}
		results := make([]chat.ClaimResult, len(claimants))
		var wg sync.WaitGroup
		for i, c := range claimants {
			wg.Go(func() {
				raw, err := e.mutate(c, "claimGuestThreads", map[string]any{"guestToken": token})
				if err == nil {
					err = json.Unmarshal(raw, &results[i])
				}
				require.NoError(t, err)
			})
		}
		wg.Wait()
		winners := 0
		for _, r := range results {
			if r.MovedMessages > 0 {
				winners++
				require.Equal(t, 5, r.MovedMessages)
			}
		}
		require.Equal(t, 1, winners)
		var n int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE content = 'hello'`).Scan(&n))
		require.Equal(t, 5, n)
	})

	t.Run("rejected", func(t *testing.T) {
		e := newEnv(t)
		ada, token := newGuest("Ada", "")
		e.send(ada, e.supportOf(ada), "hello")
		expired := func() string {
			now := time.Now()
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": jwtauth.GuestIssuer, "sub": ada.Subject,
				"role": "guest", "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}).SignedString(guestKey)
			require.NoError(t, err)
			return tok
		}()
		forged := func() string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": jwtauth.GuestIssuer, "sub": ada.Subject,
				"role": "guest", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}).
				SignedString([]byte("not-the-guest-key-not-the-guest-key"))
			require.NoError(t, err)
			return tok
		}()
		_, acmeToken := newGuest("Acme guest", "acme")
		customerToken, err := jwtauth.MintHS256([]byte("chat-tests-secret-0123456789abcdef"), *john, time.Hour)
		require.NoError(t, err)
		tests := []struct {
			name    string
			id      *functions.Identity
			token   any
			status  int
			message string
		}{
			{"empty", john, "  ", 400, "guestToken must not be empty"},
			{"missing", john, nil, 400, ""},
			{"not a string", john, 7, 400, ""},
			{"garbage", john, "not.a.token", 400, "guestToken: not a guest token"},
			{"expired", john, expired, 400, "guestToken: token expired"},
			{"forged", john, forged, 400, "guestToken: token signature is invalid"},
			{"a customer's token", john, customerToken, 400, "guestToken: not a guest token"},
			{"another org's guest", john, acmeToken, 400, "guestToken is a guest's of another organization"},
			{"another org's customer", johnAcme, token, 400, "guestToken is a guest's of another organization"},
			{"a guest", ada, token, 403, "Only a signed-in customer can claim a guest's conversations"},
			{"an admin", admin, token, 403, "Only a signed-in customer can claim a guest's conversations"},
			{"no identity", nobody, token, 401, "Not authenticated"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				args := map[string]any{"guestToken": tt.token}
				if tt.token == nil {
					args = map[string]any{}
				}
				_, err := e.mutate(tt.id, "claimGuestThreads", args)
				requireCode(t, err, tt.status, tt.message)
				if tt.message == "" {
					require.Contains(t, wireError(t, err).Message, "guestToken", "the error names the field")
				}
			})
		}
		// Nothing moved.
		require.Len(t, must[[]chat.ConversationDoc](t)(e.query(ada, "getConversations", map[string]any{})), 1)

		// Without guest access, claims are refused.
		off := newRegistry(chat.Config{MessagesPerSecond: -1, TypingPerSecond: -1, UploadsPerSecond: -1})
		_, err = e.mutateIn(off, john, "claimGuestThreads", map[string]any{"guestToken": token})
		requireCode(t, err, 403, "Guest access is disabled")
	})
}
