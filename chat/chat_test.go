package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/schema"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	john   = &functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer, Name: "John Doe"}
	jane   = &functions.Identity{Subject: schema.DemoOtherCustomerID, Role: functions.RoleCustomer, Name: "Jane Roe"}
	staff  = &functions.Identity{Subject: schema.DemoStaffID, Role: functions.RoleStore, StoreID: schema.DemoStoreID}
	burger = &functions.Identity{Subject: schema.DemoClosedStaffID, Role: functions.RoleStore, StoreID: schema.DemoClosedStoreID}
	admin  = &functions.Identity{Subject: schema.DemoAdminID, Role: functions.RoleAdmin, Name: "Parley Support"}
	nobody *functions.Identity
	// John's subject acting in another org, and that org's admin.
	johnAcme  = &functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer, Name: "John Doe", Org: "acme"}
	acmeAdmin = &functions.Identity{Subject: "admin-acme", Role: functions.RoleAdmin, Name: "Acme Support", Org: "acme"}
	// A widget visitor with a guest token.
	guest   = &functions.Identity{Subject: "guest_0fa1c0ffee", Role: functions.RoleGuest, Name: "Guest 0fa1"}
	chatReg = newRegistry(chat.Config{MessagesPerSecond: -1, TypingPerSecond: -1, UploadsPerSecond: -1, Media: fakeMedia{},
		Guests: guestVerifier})
)

// guestKey signs the tests' guest tokens; guestVerifier is the chat API's
// Config.Guests.
var (
	guestKey      = []byte("chat-tests-guest-key-0123456789ab")
	guestVerifier = func() *jwtauth.Verifier {
		v, err := jwtauth.New(context.Background(), jwtauth.Config{HS256Secret: []byte("chat-tests-secret-0123456789abcdef"), GuestKey: guestKey})
		if err != nil {
			panic(err)
		}
		return v
	}()
)

// guestToken mints a guest token for id (a guest) valid for an hour.
func guestToken(id functions.Identity) string {
	tok, err := jwtauth.MintGuest(guestKey, id, time.Hour)
	if err != nil {
		panic(err)
	}
	return tok
}

// newRegistry registers the chat API configured by cfg.
func newRegistry(cfg chat.Config) *functions.Registry {
	r := functions.NewRegistry()
	chat.Register(r, cfg)
	return r
}

type env struct {
	t    *testing.T
	pool *pgxpool.Pool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, pool := parleytest.DemoDB(t)
	return &env{t: t, pool: pool}
}

func (e *env) mutateKey(id *functions.Identity, name string, args any, key functions.RequestKey) (json.RawMessage, error) {
	return e.mutateWith(chatReg, id, name, args, key)
}

// mutateIn runs a mutation of registry r (a chat API configured otherwise).
func (e *env) mutateIn(r *functions.Registry, id *functions.Identity, name string, args any) (json.RawMessage, error) {
	return e.mutateWith(r, id, name, args, functions.RequestKey{})
}

func (e *env) mutateWith(r *functions.Registry, id *functions.Identity, name string, args any, key functions.RequestKey) (json.RawMessage, error) {
	f, err := r.Lookup("shared/chat:" + name)
	require.NoError(e.t, err)
	raw, _ := json.Marshal(args)
	v, err := f.DecodeArgs(raw)
	if err != nil {
		return nil, err
	}
	res, err := f.RunMutation(context.Background(), e.pool, id, v, key)
	return res.Value, err
}

func (e *env) mutate(id *functions.Identity, name string, args any) (json.RawMessage, error) {
	return e.mutateKey(id, name, args, functions.RequestKey{})
}

func (e *env) query(id *functions.Identity, name string, args any) (json.RawMessage, error) {
	f, err := chatReg.Lookup("shared/chat:" + name)
	require.NoError(e.t, err)
	raw, _ := json.Marshal(args)
	v, err := f.DecodeArgs(raw)
	if err != nil {
		return nil, err
	}
	out, err := f.RunQuery(context.Background(), e.pool, id, v, time.Now(), "")
	if err != nil {
		return nil, err
	}
	return json.Marshal(out.Value)
}

// must decodes a successful call's JSON result: must[T](t)(e.query(…)).
func must[T any](t *testing.T) func(json.RawMessage, error) T {
	return func(raw json.RawMessage, err error) T {
		t.Helper()
		require.NoError(t, err)
		var v T
		require.NoError(t, json.Unmarshal(raw, &v))
		return v
	}
}

func requireCode(t *testing.T, err error, status int, message string) {
	t.Helper()
	var we *functions.Error
	require.ErrorAs(t, err, &we, "want %d %q", status, message)
	require.Equal(t, status, we.Status, we.Message)
	if message != "" {
		require.Equal(t, message, we.Message)
	}
}

// storeConversation makes a fresh Pizza Palace conversation about John's
// second order (the demo data already has one about his first).
func (e *env) storeConversation() string {
	ref := must[chat.ConversationRef](e.t)(e.mutate(john, "createOrGetConversation",
		map[string]any{"orderId": schema.DemoOrder2ID, "storeId": schema.DemoStoreID}))
	require.Equal(e.t, chat.CustomerToStore, ref.ConversationType)
	return ref.ConversationID
}

func (e *env) send(id *functions.Identity, conv, content string) string {
	return must[string](e.t)(e.mutate(id, "sendMessage", map[string]any{"conversationId": conv, "content": content, "messageType": "text"}))
}

func TestCreateOrGetConversation(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	require.Equal(t, conv, e.storeConversation(), "calling twice returns the same conversation")

	support := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{}))
	require.Equal(t, chat.CustomerToAdmin, support.ConversationType)
	require.NotEqual(t, conv, support.ConversationID)

	// A store without an order, or an order of another store, is support.
	ref := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{"storeId": schema.DemoStoreID}))
	require.Equal(t, chat.CustomerToAdmin, ref.ConversationType)
	ref = must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation",
		map[string]any{"orderId": schema.DemoOrderID, "storeId": schema.DemoClosedStoreID}))
	require.Equal(t, chat.CustomerToAdmin, ref.ConversationType)

	_, err := e.mutate(jane, "createOrGetConversation", map[string]any{"orderId": schema.DemoOrderID, "storeId": schema.DemoStoreID})
	requireCode(t, err, 404, "Order not found")
	_, err = e.mutate(john, "createOrGetConversation", map[string]any{"storeId": "store-nope"})
	requireCode(t, err, 404, "Store not found")
	_, err = e.mutate(staff, "createOrGetConversation", map[string]any{})
	requireCode(t, err, 403, "Only customers can start conversations")
	_, err = e.mutate(nobody, "createOrGetConversation", map[string]any{})
	requireCode(t, err, 401, "Not authenticated")
}

func TestCreateOrGetConversationConcurrent(t *testing.T) {
	e := newEnv(t)
	const n = 12
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			raw, err := e.mutate(john, "createOrGetConversation", map[string]any{"orderId": schema.DemoOrder2ID, "storeId": schema.DemoStoreID})
			if err == nil {
				var ref chat.ConversationRef
				err = json.Unmarshal(raw, &ref)
				ids[i] = ref.ConversationID
			}
			require.NoError(t, err)
		})
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	var count int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM conversations WHERE order_id = $1`, schema.DemoOrder2ID).Scan(&count))
	require.Equal(t, 1, count)
}

func TestSendMessageRules(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	support := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{})).ConversationID
	msg := func(convID, content, typ string) map[string]any {
		return map[string]any{"conversationId": convID, "content": content, "messageType": typ}
	}
	tests := []struct {
		name    string
		id      *functions.Identity
		args    map[string]any
		status  int // 0: ok
		message string
	}{
		{"customer", john, msg(conv, "Hello", "text"), 0, ""},
		{"own store staff", staff, msg(conv, "Hi John", "text"), 0, ""},
		{"admin on support", admin, msg(support, "How can we help?", "text"), 0, ""},
		{"admin on store conversation", admin, msg(conv, "x", "text"), 403, "Unauthorized to send message to this conversation"},
		{"other customer", jane, msg(conv, "x", "text"), 404, "Conversation not found"},
		{"other store", burger, msg(conv, "x", "text"), 404, "Conversation not found"},
		{"store on support", staff, msg(support, "x", "text"), 404, "Conversation not found"},
		{"no identity", nobody, msg(conv, "x", "text"), 401, "Not authenticated"},
		{"missing conversation", john, msg("conv-nope", "x", "text"), 404, "Conversation not found"},
		{"empty", john, msg(conv, "   ", "text"), 400, "Message content must not be empty"},
		{"too long", john, msg(conv, strings.Repeat("é", chat.MaxContentChars+1), "text"), 400,
			fmt.Sprintf("Message content exceeds %d characters (got %d)", chat.MaxContentChars, chat.MaxContentChars+1)},
		{"longest allowed", john, msg(conv, strings.Repeat("é", chat.MaxContentChars), "text"), 0, ""},
		{"image without attachment", john, msg(conv, "pic", "image"), 400, `imageAttachment is required when messageType is "image"`},
		{"unknown type", john, msg(conv, "x", "video"), 400, `messageType must be "text", "image", "location" or "meeting", got "video"`},
		{"system by customer", john, msg(conv, "x", "system"), 400, `messageType "system" is for admins only`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := e.mutate(tt.id, "sendMessage", tt.args)
			if tt.status == 0 {
				var id string
				require.NoError(t, err)
				require.NoError(t, json.Unmarshal(raw, &id))
				require.True(t, strings.HasPrefix(id, "msg"))
				return
			}
			requireCode(t, err, tt.status, tt.message)
		})
	}

	_, err := e.pool.Exec(context.Background(), `UPDATE conversations SET is_blocked = true WHERE id = $1`, conv)
	require.NoError(t, err)
	_, err = e.mutate(john, "sendMessage", msg(conv, "anyone?", "text"))
	requireCode(t, err, 403, "Conversation is blocked")
}

func TestMessagesPaginationAndReadState(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	var sent []string
	for i := range 7 {
		who := john
		if i%2 == 1 {
			who = staff
		}
		sent = append(sent, e.send(who, conv, fmt.Sprintf("message %d", i)))
	}
	// Newest first, in pages of 3, with stable cursors.
	var got []string
	var cursor *string
	for page := 0; ; page++ {
		args := map[string]any{"conversationId": conv, "limit": 3}
		if cursor != nil {
			args["cursor"] = *cursor
		}
		p := must[chat.MessagePage](t)(e.query(john, "getMessages", args))
		for _, m := range p.Messages {
			got = append(got, m.ID)
			require.Greater(t, m.CreationTime, 1.6e12, "_creationTime is in ms")
		}
		if p.IsDone {
			require.Nil(t, p.ContinueCursor)
			break
		}
		require.NotNil(t, p.ContinueCursor)
		cursor = p.ContinueCursor
		require.Less(t, page, 5)
	}
	for i, j := 0, len(sent)-1; i < j; i, j = i+1, j-1 {
		sent[i], sent[j] = sent[j], sent[i]
	}
	require.Equal(t, sent, got)

	p := must[chat.MessagePage](t)(e.query(staff, "getMessages", map[string]any{"conversationId": conv}))
	require.Len(t, p.Messages, 7)
	require.Equal(t, "store", p.Messages[1].SenderType)
	require.Equal(t, "Pizza Palace Support", p.Messages[1].SenderName)
	require.Equal(t, "John Doe", p.Messages[0].SenderName)

	// Unread: John sees the 3 staff messages, the store the 4 of John's.
	require.Equal(t, 3, must[int](t)(e.query(john, "getUnreadCount", map[string]any{})))
	require.Equal(t, 4, must[int](t)(e.query(staff, "getUnreadCount", map[string]any{})))
	require.Equal(t, 0, must[int](t)(e.query(jane, "getUnreadCount", map[string]any{})))

	// Marking a listed message: only messages from the other side change.
	res := must[chat.MarkReadResult](t)(e.mutate(john, "markMessagesAsRead",
		map[string]any{"conversationId": conv, "messageIds": []string{sent[1], sent[0]}}))
	require.Equal(t, 1, res.MarkedCount, "sent[1] is the newest staff message; sent[0] is John's own")
	require.Equal(t, []string{sent[1]}, res.MessageIDs)
	require.Equal(t, 2, must[int](t)(e.query(john, "getUnreadCount", map[string]any{})))
	res = must[chat.MarkReadResult](t)(e.mutate(john, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Equal(t, 2, res.MarkedCount)
	require.Equal(t, 0, must[int](t)(e.query(john, "getUnreadCount", map[string]any{})))
	res = must[chat.MarkReadResult](t)(e.mutate(john, "markMessagesAsRead", map[string]any{"conversationId": conv}))
	require.Equal(t, 0, res.MarkedCount)
	require.Equal(t, []string{}, res.MessageIDs)

	p = must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv, "limit": 2}))
	require.Equal(t, "store", p.Messages[1].SenderType)
	require.True(t, p.Messages[1].IsRead)
	require.NotNil(t, p.Messages[1].ReadAt)
	require.False(t, p.Messages[0].IsRead, "John's own newest message is unread by the store")

	// Access and argument errors.
	_, err := e.query(jane, "getMessages", map[string]any{"conversationId": conv})
	requireCode(t, err, 404, "Conversation not found")
	_, err = e.query(burger, "getMessages", map[string]any{"conversationId": conv})
	requireCode(t, err, 404, "Conversation not found")
	_, err = e.query(nobody, "getMessages", map[string]any{"conversationId": conv})
	requireCode(t, err, 401, "Not authenticated")
	_, err = e.mutate(jane, "markMessagesAsRead", map[string]any{"conversationId": conv})
	requireCode(t, err, 404, "Conversation not found")
	_, err = e.query(john, "getMessages", map[string]any{"conversationId": conv, "limit": 0})
	requireCode(t, err, 400, "limit must be between 1 and 100, got 0")
	_, err = e.query(john, "getMessages", map[string]any{"conversationId": conv, "cursor": "!!"})
	requireCode(t, err, 400, `Invalid cursor "!!"`)
	p = must[chat.MessagePage](t)(e.query(admin, "getMessages", map[string]any{"conversationId": conv, "limit": 1}))
	require.Len(t, p.Messages, 1, "admins may read any conversation")

	// Soft delete hides content from everyone and keeps the row.
	_, err = e.pool.Exec(context.Background(), `UPDATE messages SET is_deleted = true WHERE id = $1`, sent[0])
	require.NoError(t, err)
	p = must[chat.MessagePage](t)(e.query(staff, "getMessages", map[string]any{"conversationId": conv, "limit": 1}))
	require.True(t, p.Messages[0].IsDeleted)
	require.Empty(t, p.Messages[0].Content)
}

func TestMutationIdempotency(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	key := functions.RequestKey{SessionID: "session-1", RequestID: 7}
	args := map[string]any{"conversationId": conv, "content": "only once", "messageType": "text"}
	first := must[string](t)(e.mutateKey(john, "sendMessage", args, key))
	again := must[string](t)(e.mutateKey(john, "sendMessage", args, key))
	require.Equal(t, first, again)
	other := must[string](t)(e.mutateKey(john, "sendMessage", args, functions.RequestKey{SessionID: "session-1", RequestID: 8}))
	require.NotEqual(t, first, other)
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE content = 'only once'`).Scan(&n))
	require.Equal(t, 2, n)

	// A failed mutation records nothing: a retry with the same key runs.
	bad := functions.RequestKey{SessionID: "session-1", RequestID: 9}
	_, err := e.mutateKey(john, "sendMessage", map[string]any{"conversationId": conv, "content": "", "messageType": "text"}, bad)
	requireCode(t, err, 400, "")
	must[string](t)(e.mutateKey(john, "sendMessage", args, bad))
}

func TestConcurrentSendsRetrySerializable(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			who := john
			if i%2 == 0 {
				who = staff
			}
			_, err := e.mutate(who, "sendMessage", map[string]any{"conversationId": conv, "content": fmt.Sprintf("burst %d", i), "messageType": "text"})
			require.NoError(t, err)
		})
	}
	wg.Wait()
	p := must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv}))
	require.Len(t, p.Messages, n)
	var preview string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT last_message_preview FROM conversations WHERE id = $1`, conv).Scan(&preview))
	require.Equal(t, p.Messages[0].Content, preview, "the conversation's preview is its newest message")
}

// limitedSendMessage is sendMessage with a burst of messages and no refill
// to speak of (one per 1,000 s).
func limitedSendMessage(t *testing.T, burst int) *functions.Function {
	r := functions.NewRegistry()
	chat.Register(r, chat.Config{MessagesPerSecond: 0.001, MessageBurst: burst, TypingPerSecond: -1})
	f, err := r.Lookup("shared/chat:sendMessage")
	require.NoError(t, err)
	return f
}

// A resent mutation that already committed returns its stored result even
// when the sender is out of rate-limit tokens; a new one is refused.
func TestRateLimitAfterIdempotency(t *testing.T) {
	e := newEnv(t)
	f := limitedSendMessage(t, 1)
	conv := e.storeConversation()
	args, err := f.DecodeArgs(json.RawMessage(fmt.Sprintf(`{"conversationId":%q,"content":"once","messageType":"text"}`, conv)))
	require.NoError(t, err)
	key := functions.RequestKey{SessionID: "s", RequestID: 1}
	first, err := f.RunMutation(context.Background(), e.pool, john, args, key)
	require.NoError(t, err)
	again, err := f.RunMutation(context.Background(), e.pool, john, args, key)
	require.NoError(t, err, "the resend is answered from the log, not rate limited")
	require.True(t, again.Replayed)
	require.Equal(t, first.Value, again.Value)
	_, err = f.RunMutation(context.Background(), e.pool, john, args, functions.RequestKey{SessionID: "s", RequestID: 2})
	requireCode(t, err, 429, "")
}

// A replay is scoped to the caller: another identity reusing a session and
// request id runs its own mutation and never sees the first caller's result.
func TestReplayIsScopedToTheCaller(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	key := functions.RequestKey{SessionID: "shared-session", RequestID: 1}
	johns := must[string](t)(e.mutateKey(john, "sendMessage", map[string]any{"conversationId": conv, "content": "from John", "messageType": "text"}, key))
	staffs := must[string](t)(e.mutateKey(staff, "sendMessage", map[string]any{"conversationId": conv, "content": "from staff", "messageType": "text"}, key))
	require.NotEqual(t, johns, staffs)
	_, err := e.mutateKey(john, "markMessagesAsRead", map[string]any{"conversationId": conv}, key)
	requireCode(t, err, 400, "Request 1 of this session already ran shared/chat:sendMessage")
}

// A resent mutation that committed returns its stored result even when
// running it again would now fail: the conversation was blocked in
// between, and the resend must not report the delivered message as lost.
func TestReplayAfterTheStateChanged(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	key := functions.RequestKey{SessionID: "phone", RequestID: 7}
	args := map[string]any{"conversationId": conv, "content": "sent before the block", "messageType": "text"}
	first := must[string](t)(e.mutateKey(john, "sendMessage", args, key))
	must[any](t)(e.mutate(admin, "blockConversation", map[string]any{"conversationId": conv}))
	_, err := e.mutate(john, "sendMessage", args)
	requireCode(t, err, 403, "Conversation is blocked")

	again := must[string](t)(e.mutateKey(john, "sendMessage", args, key))
	require.Equal(t, first, again, "the resend answers with the first run's message id")
	p := must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv}))
	n := 0
	for _, m := range p.Messages {
		if m.Content == "sent before the block" {
			n++
		}
	}
	require.Equal(t, 1, n, "the message exists once")
}

// After a reconnect (Resumed), resends that already committed are answered
// from the log before admission, so they spend no rate-limit tokens: the
// one new message of the batch still goes through.
func TestResendsAfterReconnectSpendNoTokens(t *testing.T) {
	e := newEnv(t)
	f := limitedSendMessage(t, 3)
	conv := e.storeConversation()
	send := func(req int64, resumed bool) (functions.MutationResult, error) {
		args, err := f.DecodeArgs(json.RawMessage(fmt.Sprintf(`{"conversationId":%q,"content":"message %d","messageType":"text"}`, conv, req)))
		require.NoError(t, err)
		return f.RunMutation(context.Background(), e.pool, john, args, functions.RequestKey{SessionID: "tab", RequestID: req, Resumed: resumed})
	}
	for req := int64(1); req <= 2; req++ {
		_, err := send(req, false)
		require.NoError(t, err)
	}
	// The connection drops; the client reconnects and resends 1 and 2
	// (their answers were lost), then sends 3.
	for req := int64(1); req <= 2; req++ {
		res, err := send(req, true)
		require.NoError(t, err)
		require.True(t, res.Replayed)
	}
	res, err := send(3, true)
	require.NoError(t, err, "the resends spent no tokens: the third of the burst is left for the new message")
	require.False(t, res.Replayed)
	_, err = send(4, true)
	requireCode(t, err, 429, "")
}

// TestSendMessageRecordsFirstTimeSenders: a sender the database has never
// seen (its identity comes from the token alone) is recorded by the send
// itself — its user row, its participant row and, for an admin answering
// an unassigned support conversation, the assignment, whose foreign key
// names that new user row. sendMessage writes all of it in one statement.
func TestSendMessageRecordsFirstTimeSenders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	support := must[chat.ConversationRef](t)(e.mutate(john, "createOrGetConversation", map[string]any{})).ConversationID
	conv := e.storeConversation()
	newAdmin := &functions.Identity{Subject: "admin_first_time", Role: functions.RoleAdmin, Name: "Ada New"}
	newStaff := &functions.Identity{Subject: "staff_first_time", Role: functions.RoleStore, StoreID: schema.DemoStoreID}

	for _, tc := range []struct {
		id   *functions.Identity
		conv string
		name string // as users records it: the token's name, else the subject
	}{
		{newAdmin, support, "Ada New"},
		{newStaff, conv, "staff_first_time"},
	} {
		var n int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE id = $1`, tc.id.Subject).Scan(&n))
		require.Zero(t, n, "%s is already a user", tc.id.Subject)

		msg := e.send(tc.id, tc.conv, "First words from "+tc.name)

		var name, role, participantRole, senderType, preview string
		var unread int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT u.name, u.role, p.role, m.sender_type, c.last_message_preview, c.unread_customer
			FROM messages m JOIN users u ON u.id = m.sender_id
			JOIN conversation_participants p ON p.conversation_id = m.conversation_id AND p.user_id = m.sender_id
			JOIN conversations c ON c.id = m.conversation_id
			WHERE m.id = $1`, msg).Scan(&name, &role, &participantRole, &senderType, &preview, &unread))
		require.Equal(t, tc.name, name)
		require.Equal(t, string(tc.id.Role), role)
		require.Equal(t, string(tc.id.Role), participantRole)
		require.Equal(t, string(tc.id.Role), senderType)
		require.Equal(t, "First words from "+tc.name, preview)
		require.Equal(t, 1, unread, "John's unread count")
	}
	var assigned *string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT assigned_admin_id FROM conversations WHERE id = $1`, support).Scan(&assigned))
	require.NotNil(t, assigned)
	require.Equal(t, newAdmin.Subject, *assigned, "the first admin to answer takes the conversation")
	var storeAssigned *string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT assigned_admin_id FROM conversations WHERE id = $1`, conv).Scan(&storeAssigned))
	require.Nil(t, storeAssigned, "a store conversation is never assigned")
}

// Closing a conversation stops its speakers (admins' system notices still
// get through), says who closed it and why in a system message, and
// reopening lets them speak again; both are idempotent.
func TestCloseAndReopenConversation(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	status := func() string {
		return must[chat.ConversationDoc](t)(e.query(john, "getConversation", map[string]any{"conversationId": conv})).Status
	}
	latest := func() chat.MessageDoc {
		page := must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv, "limit": 1}))
		require.NotEmpty(t, page.Messages)
		return page.Messages[0]
	}

	_, err := e.mutate(staff, "closeConversation", map[string]any{"conversationId": conv, "reason": strings.Repeat("x", 501)})
	requireCode(t, err, 400, "reason must be at most 500 characters, got 501")
	_, err = e.mutate(john, "closeConversation", map[string]any{"conversationId": conv})
	requireCode(t, err, 403, "Only support or the store can close or reopen this conversation")

	must[functions.Null](t)(e.mutate(staff, "closeConversation", map[string]any{"conversationId": conv, "reason": "  order delivered "}))
	require.Equal(t, "closed", status())
	notice := latest()
	require.Equal(t, "system", notice.MessageType)
	require.Equal(t, "Pizza Palace Support closed this conversation: order delivered", notice.Content)
	must[functions.Null](t)(e.mutate(staff, "closeConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, notice.ID, latest().ID, "closing a closed conversation posts nothing")

	_, err = e.mutate(john, "sendMessage", map[string]any{"conversationId": conv, "content": "hello?", "messageType": "text"})
	requireCode(t, err, 403, "Conversation is closed")
	_, err = e.mutate(staff, "sendMessage", map[string]any{"conversationId": conv, "content": "hello?", "messageType": "text"})
	requireCode(t, err, 403, "Conversation is closed")

	must[functions.Null](t)(e.mutate(admin, "reopenConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, "active", status())
	require.Equal(t, "Parley Support reopened this conversation", latest().Content)
	e.send(john, conv, "thanks for reopening")
	must[functions.Null](t)(e.mutate(admin, "reopenConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, "thanks for reopening", latest().Content, "reopening an open conversation posts nothing")
}

// Offset paging, for clients ported from REST: page k is {offset: k*limit,
// limit}, the same messages the cursor walks to, and includeTotal counts
// the conversation's messages.
func TestGetMessagesOffsetAndTotal(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	for i := range 5 {
		e.send(john, conv, fmt.Sprintf("offset %d", i))
	}
	var byCursor []string
	args := map[string]any{"conversationId": conv, "limit": 2}
	for {
		page := must[chat.MessagePage](t)(e.query(john, "getMessages", args))
		require.Nil(t, page.Total, "no total unless asked")
		for _, m := range page.Messages {
			byCursor = append(byCursor, m.ID)
		}
		if page.IsDone {
			break
		}
		args = map[string]any{"conversationId": conv, "limit": 2, "cursor": *page.ContinueCursor}
	}
	var byOffset []string
	for k := 0; ; k++ {
		page := must[chat.MessagePage](t)(e.query(john, "getMessages",
			map[string]any{"conversationId": conv, "limit": 2, "offset": 2 * k, "includeTotal": true}))
		require.NotNil(t, page.Total)
		require.Equal(t, len(byCursor), *page.Total)
		for _, m := range page.Messages {
			byOffset = append(byOffset, m.ID)
		}
		if page.IsDone {
			break
		}
	}
	require.Equal(t, byCursor, byOffset)
	past := must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv, "offset": len(byCursor)}))
	require.Empty(t, past.Messages)
	require.True(t, past.IsDone)

	_, err := e.query(john, "getMessages", map[string]any{"conversationId": conv, "offset": -1})
	requireCode(t, err, 400, fmt.Sprintf("offset must be between 0 and %d, got -1", chat.MaxMessageOffset))
	_, err = e.query(john, "getMessages", map[string]any{"conversationId": conv, "offset": 2, "cursor": encodedCursorOf(t, e, conv)})
	requireCode(t, err, 400, "offset and cursor cannot be combined")
	_, err = e.query(jane, "getMessages", map[string]any{"conversationId": conv, "offset": 0, "includeTotal": true})
	requireCode(t, err, 404, "Conversation not found")
}

// encodedCursorOf is the continueCursor of conv's first page of one.
func encodedCursorOf(t *testing.T, e *env, conv string) string {
	page := must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv, "limit": 1}))
	require.NotNil(t, page.ContinueCursor)
	return *page.ContinueCursor
}

// A location message (seed 003): a point within range and an optional
// label, listed with the message and previewed in the conversation list.
func TestLocationMessages(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	loc := func(lat, lng float64, label any) map[string]any {
		l := map[string]any{"lat": lat, "lng": lng}
		if label != nil {
			l["label"] = label
		}
		return map[string]any{"conversationId": conv, "content": "", "messageType": "location", "location": l}
	}
	id := must[string](t)(e.mutate(john, "sendMessage", loc(52.52, 13.405, "  Pickup point, Gate 3 ")))
	page := must[chat.MessagePage](t)(e.query(staff, "getMessages", map[string]any{"conversationId": conv, "limit": 1}))
	got := page.Messages[0]
	require.Equal(t, id, got.ID)
	require.Equal(t, "location", got.MessageType)
	require.NotNil(t, got.Location)
	require.Equal(t, 52.52, got.Location.Lat)
	require.Equal(t, 13.405, got.Location.Lng)
	require.Equal(t, "Pickup point, Gate 3", *got.Location.Label)
	c := must[chat.ConversationDoc](t)(e.query(john, "getConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, "Location: Pickup point, Gate 3", *c.LastMessagePreview)

	must[string](t)(e.mutate(john, "sendMessage", loc(-90, 180, nil)))
	page = must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv, "limit": 1}))
	require.Nil(t, page.Messages[0].Location.Label)
	// In one page, each location keeps its own label.
	must[string](t)(e.mutate(john, "sendMessage", loc(1, 2, "Second gate")))
	page = must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv, "limit": 3}))
	require.Equal(t, "Second gate", *page.Messages[0].Location.Label)
	require.Nil(t, page.Messages[1].Location.Label)
	require.Equal(t, "Pickup point, Gate 3", *page.Messages[2].Location.Label)

	for _, tt := range []struct {
		args map[string]any
		msg  string
	}{
		{loc(90.5, 0, nil), "location.lat must be between -90 and 90, got 90.5"},
		{loc(0, -180.01, nil), "location.lng must be between -180 and 180, got -180.01"},
		{loc(0, 0, strings.Repeat("x", 201)), "location.label must be at most 200 characters, got 201"},
		{map[string]any{"conversationId": conv, "content": "", "messageType": "location"}, `location is required when messageType is "location"`},
		{map[string]any{"conversationId": conv, "content": "hi", "messageType": "text", "location": map[string]any{"lat": 1, "lng": 2}},
			`location is only allowed when messageType is "location"`},
	} {
		_, err := e.mutate(john, "sendMessage", tt.args)
		requireCode(t, err, 400, tt.msg)
	}

	// Deleted, it shows no point.
	must[functions.Null](t)(e.mutate(john, "deleteMessage", map[string]any{"messageId": id}))
	page = must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv, "limit": 3}))
	require.Equal(t, id, page.Messages[2].ID)
	require.True(t, page.Messages[2].IsDeleted)
	require.Nil(t, page.Messages[2].Location)
}
