package reactive_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// End-to-end tests of the assembled server, driven over the sync protocol.

type wireMessage struct {
	ID         string `json:"_id"`
	Content    string `json:"content"`
	IsRead     bool   `json:"isRead"`
	SenderType string `json:"senderType"`
}

type wirePage struct {
	Messages []wireMessage `json:"messages"`
	IsDone   bool          `json:"isDone"`
}

func pageOf(t testing.TB, u syncclient.Update) wirePage {
	t.Helper()
	require.False(t, u.Failed, "query failed: %s", u.ErrorMessage)
	var p wirePage
	require.NoError(t, json.Unmarshal(u.Value, &p))
	return p
}

func (p wirePage) find(id string) (wireMessage, bool) {
	for _, m := range p.Messages {
		if m.ID == id {
			return m, true
		}
	}
	return wireMessage{}, false
}

// openConversation runs createOrGetConversation with args and returns its id.
func openConversation(t testing.TB, ctx context.Context, c *syncclient.Client, args map[string]any) string {
	t.Helper()
	v, err := c.Mutation(ctx, "shared/chat:createOrGetConversation", args)
	require.NoError(t, err)
	var ref struct {
		ConversationID string `json:"conversationId"`
	}
	require.NoError(t, json.Unmarshal(v, &ref))
	require.NotEmpty(t, ref.ConversationID)
	return ref.ConversationID
}

func pizzaArgs() map[string]any {
	// John's second order: the demo conversation about his first already
	// has the API document's two messages.
	return map[string]any{"orderId": schema.DemoOrder2ID, "storeId": schema.DemoStoreID}
}

func sendText(ctx context.Context, c *syncclient.Client, conv, content string) (string, uint64, error) {
	v, ts, err := c.MutationTS(ctx, "shared/chat:sendMessage",
		map[string]any{"conversationId": conv, "content": content, "messageType": "text"})
	if err != nil {
		return "", 0, err
	}
	var id string
	if err := json.Unmarshal(v, &id); err != nil {
		return "", 0, err
	}
	return id, ts, nil
}

// subscribeWait subscribes and waits for the first result.
func subscribeWait(t testing.TB, ctx context.Context, c *syncclient.Client, path string, args any) *syncclient.Subscription {
	t.Helper()
	sub, err := c.Subscribe(path, args)
	require.NoError(t, err)
	_, err = sub.Wait(ctx)
	require.NoError(t, err)
	return sub
}

// waitUpdate waits until the subscription's latest result satisfies ok.
func waitUpdate(t testing.TB, sub *syncclient.Subscription, timeout time.Duration, ok func(syncclient.Update) error) {
	t.Helper()
	pgtest.Eventually(t, timeout, func() error {
		u, has := sub.Current()
		if !has {
			return errors.New("no result yet")
		}
		return ok(u)
	})
}

func hasMessage(t testing.TB, id string) func(syncclient.Update) error {
	return func(u syncclient.Update) error {
		if _, ok := pageOf(t, u).find(id); !ok {
			return fmt.Errorf("message %s not in the page", id)
		}
		return nil
	}
}

var insertMessageSQL = `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
	VALUES ($1, $2, $3, 'store', 'text', $4)`

func sqlInsertMessage(t testing.TB, ctx context.Context, s *parleytest.Server, conv, content string) string {
	t.Helper()
	id := schema.NewID("msgsql")
	_, err := s.DB.Exec(ctx, insertMessageSQL, id, conv, schema.DemoStaffID, content)
	require.NoError(t, err)
	return id
}

// TestReplicationReconnect kills the replication connection and writes
// while it is down, by SQL and by mutation: after the reconnect the
// subscriber sees every write, never a result older than one it had, and
// later writes flow as before. With the permanent slot (the default) the
// reconnect resumes and re-runs nothing; with temporary slots it resets and
// re-runs every live query.
func TestReplicationReconnect(t *testing.T) {
	for _, mode := range []string{"permanent", server.TemporarySlots} {
		t.Run(mode, func(t *testing.T) {
			s := parleytest.StartConfigured(t, func(cfg *server.Config) {
				if mode == server.TemporarySlots {
					cfg.ReplicationSlot = mode
				}
			})
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			c := s.Dial(t, parleytest.John, syncclient.Options{})
			conv := openConversation(t, ctx, c, pizzaArgs())
			sub := subscribeWait(t, ctx, c, "shared/chat:getMessages", map[string]any{"conversationId": conv, "limit": 100})
			// A second affected subscriber, of another identity (the page
			// and access instances are its own), with a smaller page.
			staff := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
			staffSub := subscribeWait(t, ctx, staff, "shared/chat:getMessages", map[string]any{"conversationId": conv, "limit": 50})
			before, err := s.Health()
			require.NoError(t, err)
			runsBefore := s.Server.Engine.Stats().Runs

			// Never older: a watcher checks that each result holds every
			// message an earlier one showed (none is deleted here).
			var older []string
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				seen := map[string]bool{}
				for u := range sub.Updates() {
					page := pageOf(t, u)
					for id := range seen {
						if _, ok := page.find(id); !ok {
							older = append(older, id)
						}
					}
					for _, m := range page.Messages {
						seen[m.ID] = true
					}
				}
			}()
			for round := range 3 {
				var killed int
				require.NoError(t, s.DB.QueryRow(ctx, `SELECT count(*) FROM (
					SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
					WHERE active_pid IS NOT NULL AND database = current_database()) k`).Scan(&killed))
				require.Equal(t, 1, killed, "round %d: one replication connection", round)
				// Written right away, before the source has reconnected: this
				// commit precedes a new temporary slot, so there only the re-run
				// on Reset can show it; a resumed slot delivers it.
				gap := sqlInsertMessage(t, ctx, s, conv, fmt.Sprintf("during outage %d", round))
				h, err := s.Health()
				require.NoError(t, err)
				t.Logf("round %d: right after the write, replication connected=%v", round, h.Replication.Connected)
				// A mutation committed during the outage resolves once the new
				// stream covers it, and shows its write.
				id, _, err := sendText(ctx, c, conv, fmt.Sprintf("mutation during outage %d", round))
				require.NoError(t, err)
				require.NoError(t, hasMessage(t, id)(currentOf(t, sub)))
				waitUpdate(t, sub, 15*time.Second, hasMessage(t, gap))
				waitUpdate(t, staffSub, 15*time.Second, hasMessage(t, gap))
				waitUpdate(t, staffSub, 15*time.Second, hasMessage(t, id))
				after := sqlInsertMessage(t, ctx, s, conv, fmt.Sprintf("after outage %d", round))
				waitUpdate(t, sub, 15*time.Second, hasMessage(t, after))
				waitUpdate(t, staffSub, 15*time.Second, hasMessage(t, after))
			}
			h, err := s.Health()
			require.NoError(t, err)
			require.Greater(t, h.Replication.Reconnects, before.Replication.Reconnects)
			require.True(t, h.Replication.Connected)
			require.Len(t, pageOf(t, currentOf(t, sub)).Messages, 9)
			require.NoError(t, sub.Unsubscribe())
			<-watched
			require.Empty(t, older, "results older than ones already shown")
			if mode == server.TemporarySlots {
				require.NotEqual(t, before.Replication.Slot, h.Replication.Slot, "a new temporary slot")
				return
			}
			require.Equal(t, before.Replication.Slot, h.Replication.Slot, "the same permanent slot")
			require.EqualValues(t, 3, h.Replication.Resumes)
			// Each round re-ran only what its writes touched: the page and
			// the conversation list's and unread counts' instances, not all.
			t.Logf("query runs during the rounds: %d", s.Server.Engine.Stats().Runs-runsBefore)
		})
	}
}

func currentOf(t testing.TB, sub *syncclient.Subscription) syncclient.Update {
	t.Helper()
	u, ok := sub.Current()
	require.True(t, ok, "no result yet")
	return u
}

// TestReadYourWrites checks that a mutation resolves only once the
// caller's subscriptions already show its write, with and without other
// traffic on the database.
func TestReadYourWrites(t *testing.T) {
	for _, traffic := range []bool{false, true} {
		t.Run(fmt.Sprintf("traffic=%v", traffic), func(t *testing.T) {
			s := parleytest.Start(t)
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			c := s.Dial(t, parleytest.John, syncclient.Options{})
			staff := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
			conv := openConversation(t, ctx, c, pizzaArgs())
			mine := subscribeWait(t, ctx, c, "shared/chat:getMessages", map[string]any{"conversationId": conv, "limit": 100})
			theirs := subscribeWait(t, ctx, staff, "shared/chat:getMessages", map[string]any{"conversationId": conv, "limit": 100})
			unread := subscribeWait(t, ctx, staff, "shared/chat:getUnreadCount", map[string]any{})

			if traffic {
				other := openConversation(t, ctx, c, map[string]any{})
				var wg sync.WaitGroup
				tctx, stop := context.WithCancel(ctx)
				wg.Go(func() {
					for tctx.Err() == nil {
						_, _ = s.DB.Exec(tctx, insertMessageSQL, schema.NewID("msgbg"), other, schema.DemoAdminID, "noise")
						time.Sleep(2 * time.Millisecond)
					}
				})
				defer wg.Wait()
				defer stop()
			}

			for i := range 20 {
				id, ts, err := sendText(ctx, c, conv, fmt.Sprintf("message %d", i))
				require.NoError(t, err)
				require.GreaterOrEqual(t, c.TS(), ts, "resolved at a ts before the mutation's")
				require.NoError(t, hasMessage(t, id)(currentOf(t, mine)), "message %d: resolved before the subscription shows it", i)
			}
			v, err := staff.Mutation(ctx, "shared/chat:markMessagesAsRead", map[string]any{"conversationId": conv})
			require.NoError(t, err)
			var marked chat.MarkReadResult
			require.NoError(t, json.Unmarshal(v, &marked))
			require.Equal(t, 20, marked.MarkedCount)
			page := pageOf(t, currentOf(t, theirs))
			for _, m := range page.Messages {
				require.True(t, m.IsRead, "message %s: markMessagesAsRead resolved before the page shows it read", m.ID)
			}
			require.JSONEq(t, "0", string(currentOf(t, unread).Value))

			// A mutation that changes no published table (the conversation
			// exists; only the unpublished mutation log is written) sends
			// nothing through the stream, yet resolves without waiting for
			// unrelated traffic.
			for range 5 {
				mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				again := openConversation(t, mctx, c, pizzaArgs())
				cancel()
				require.Equal(t, conv, again)
			}
		})
	}
}

// TestAuthentication: no token means unauthenticated query failures; a
// token that does not verify gets an AuthError and a normal close.
func TestAuthentication(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	conv := openConversation(t, ctx, jc, map[string]any{})

	t.Run("anonymous", func(t *testing.T) {
		c := s.Dial(t, parleytest.Anonymous, syncclient.Options{})
		for _, q := range []struct {
			path string
			args any
		}{
			{"shared/chat:getMessages", map[string]any{"conversationId": conv}},
			{"shared/chat:getUnreadCount", map[string]any{}},
		} {
			u := subscribeOnce(t, ctx, c, q.path, q.args)
			require.True(t, u.Failed, q.path)
			require.Equal(t, functions.CodeUnauthenticated, u.ErrorData["code"], q.path)
			require.Equal(t, "Not authenticated", u.ErrorMessage)
		}
		_, _, err := sendText(ctx, c, conv, "hi")
		var fe *syncclient.FunctionError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, functions.CodeUnauthenticated, fe.Code())
		res, err := call(ctx, s, "query", "", "shared/chat:getUnreadCount", map[string]any{})
		require.NoError(t, err)
		require.True(t, res.Failed)
		require.Equal(t, functions.CodeUnauthenticated, res.ErrorData["code"])
	})

	t.Run("log in and out on one connection", func(t *testing.T) {
		c := s.Dial(t, parleytest.Anonymous, syncclient.Options{})
		sub := subscribeOnce(t, ctx, c, "shared/chat:getMessages", map[string]any{"conversationId": conv})
		require.True(t, sub.Failed)
		sub2, err := c.Subscribe("shared/chat:getUnreadCount", map[string]any{})
		require.NoError(t, err)
		require.NoError(t, c.Authenticate(s.Token(t, parleytest.John)))
		require.NoError(t, c.WaitAuth(ctx))
		waitUpdate(t, sub2, 10*time.Second, func(u syncclient.Update) error {
			if u.Failed {
				return fmt.Errorf("still failing: %s", u.ErrorMessage)
			}
			return nil
		})
		require.NoError(t, c.Authenticate(""))
		require.NoError(t, c.WaitAuth(ctx))
		require.Equal(t, uint32(2), c.Version().Identity)
		waitUpdate(t, sub2, 10*time.Second, func(u syncclient.Update) error {
			if !u.Failed || u.ErrorData["code"] != functions.CodeUnauthenticated {
				return fmt.Errorf("not unauthenticated after logout: %+v", u)
			}
			return nil
		})
	})

	otherSecret := []byte("another-secret-of-at-least-32-bytes!!")
	forged, err := jwtauth.MintHS256(otherSecret, parleytest.John, time.Hour)
	require.NoError(t, err)
	tests := []struct{ name, token string }{
		{"wrongly signed", forged},
		{"garbage", "not.a.jwt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := syncclient.Dial(ctx, s.URL, syncclient.Options{Token: tt.token})
			require.NoError(t, err)
			defer c.Close()
			var ae *syncclient.AuthError
			require.ErrorAs(t, c.WaitAuth(ctx), &ae)
			require.True(t, ae.AuthUpdateAttempted)
			require.Zero(t, ae.BaseVersion)
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("connection not closed after AuthError")
			}
			var ce *websocket.CloseError
			require.ErrorAs(t, c.Err(), &ce)
			require.Equal(t, websocket.CloseNormalClosure, ce.Code)
			require.Zero(t, c.Version().Identity)
			require.Empty(t, c.ProtocolErrors())

			res, err := call(ctx, s, "query", tt.token, "shared/chat:getUnreadCount", map[string]any{})
			require.NoError(t, err)
			require.True(t, res.Failed)
			require.Equal(t, functions.CodeUnauthenticated, res.ErrorData["code"])
		})
	}
}

func subscribeOnce(t testing.TB, ctx context.Context, c *syncclient.Client, path string, args any) syncclient.Update {
	t.Helper()
	sub, err := c.Subscribe(path, args)
	require.NoError(t, err)
	u, err := sub.Wait(ctx)
	require.NoError(t, err)
	return u
}

// TestMutationIdempotency: a mutation resent with the same (sessionId,
// requestId) runs once, whether the resend follows the first run or races
// it; a failed mutation is not recorded, so its resend runs.
func TestMutationIdempotency(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	setup := s.Dial(t, parleytest.John, syncclient.Options{})
	conv := openConversation(t, ctx, setup, pizzaArgs())
	count := func(content string) int {
		var n int
		require.NoError(t, s.DB.QueryRow(ctx, `SELECT count(*) FROM messages WHERE content = $1`, content).Scan(&n))
		return n
	}

	t.Run("resend after the first run", func(t *testing.T) {
		a := s.Dial(t, parleytest.John, syncclient.Options{})
		first, _, err := sendText(ctx, a, conv, "only once") // request 0
		require.NoError(t, err)
		// A reconnecting client resends request 0 on a new connection of
		// the same session.
		b := s.Dial(t, parleytest.John, syncclient.Options{SessionID: a.SessionID()})
		again, _, err := sendText(ctx, b, conv, "only once")
		require.NoError(t, err)
		require.Equal(t, first, again)
		require.Equal(t, 1, count("only once"))
	})

	t.Run("concurrent resend", func(t *testing.T) {
		a := s.Dial(t, parleytest.John, syncclient.Options{})
		b := s.Dial(t, parleytest.John, syncclient.Options{SessionID: a.SessionID()})
		var ids [2]string
		var errs [2]error
		var wg sync.WaitGroup
		for i, c := range []*syncclient.Client{a, b} {
			wg.Go(func() { ids[i], _, errs[i] = sendText(ctx, c, conv, "raced once") })
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs[:]...))
		require.Equal(t, ids[0], ids[1])
		require.Equal(t, 1, count("raced once"))
	})

	t.Run("failed mutation is not recorded", func(t *testing.T) {
		a := s.Dial(t, parleytest.John, syncclient.Options{})
		_, _, err := sendText(ctx, a, "convmissing", "retried")
		var fe *syncclient.FunctionError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, functions.CodeNotFound, fe.Code())
		b := s.Dial(t, parleytest.John, syncclient.Options{SessionID: a.SessionID()})
		_, _, err = sendText(ctx, b, conv, "retried")
		require.NoError(t, err)
		require.Equal(t, 1, count("retried"))
	})
}

// TestArgumentErrors: unknown functions and bad arguments fail with a
// wire error that names the problem, the same over the sync protocol and
// the HTTP API.
func TestArgumentErrors(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := s.Dial(t, parleytest.John, syncclient.Options{})
	conv := openConversation(t, ctx, c, map[string]any{})
	tok := s.Token(t, parleytest.John)

	const (
		getMessages = "shared/chat:getMessages"
		sendMessage = "shared/chat:sendMessage"
		markRead    = "shared/chat:markMessagesAsRead"
	)
	tests := []struct {
		name     string
		mutation bool
		path     string
		args     string
		code     string
		mentions []string
	}{
		{"unknown query", false, "shared/chat:nope", `{}`, functions.CodeFunctionNotFound, []string{"shared/chat:nope"}},
		{"unknown mutation", true, "shared/chat:nope", `{}`, functions.CodeFunctionNotFound, []string{"shared/chat:nope"}},
		{"mutation as query", false, sendMessage, `{}`, functions.CodeInvalidArgument, []string{"mutation"}},
		{"query as mutation", true, getMessages, `{}`, functions.CodeInvalidArgument, []string{"query"}},
		{"missing field", false, getMessages, `{}`, functions.CodeInvalidArgument, []string{"conversationId", "Missing"}},
		{"wrong type", false, getMessages, `{"conversationId":5}`, functions.CodeInvalidArgument, []string{"conversationId", "string", "number"}},
		{"extra field", false, getMessages, `{"conversationId":"` + conv + `","bogus":1}`, functions.CodeInvalidArgument, []string{"bogus"}},
		{"wrong optional type", false, getMessages, `{"conversationId":"` + conv + `","limit":"ten"}`, functions.CodeInvalidArgument, []string{"limit", "integer"}},
		{"fractional integer", false, getMessages, `{"conversationId":"` + conv + `","limit":1.5}`, functions.CodeInvalidArgument, []string{"limit"}},
		{"limit out of range", false, getMessages, `{"conversationId":"` + conv + `","limit":0}`, functions.CodeInvalidArgument, []string{"limit"}},
		{"bad cursor", false, getMessages, `{"conversationId":"` + conv + `","cursor":"!!"}`, functions.CodeInvalidArgument, []string{"cursor"}},
		{"args not an object", false, getMessages, `5`, functions.CodeInvalidArgument, []string{"object"}},
		{"mutation missing field", true, sendMessage, `{"conversationId":"` + conv + `","messageType":"text"}`, functions.CodeInvalidArgument, []string{"content"}},
		{"mutation wrong type", true, sendMessage, `{"conversationId":"` + conv + `","content":"x","messageType":3}`, functions.CodeInvalidArgument, []string{"messageType"}},
		{"mutation extra field", true, sendMessage, `{"conversationId":"` + conv + `","content":"x","messageType":"text","urgent":true}`, functions.CodeInvalidArgument, []string{"urgent"}},
		{"array element type", true, markRead, `{"conversationId":"` + conv + `","messageIds":[1]}`, functions.CodeInvalidArgument, []string{"messageIds[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var msg string
			var data map[string]any
			if tt.mutation {
				_, err := c.Mutation(ctx, tt.path, json.RawMessage(tt.args))
				var fe *syncclient.FunctionError
				require.ErrorAs(t, err, &fe)
				msg, data = fe.Message, fe.Data
			} else {
				u := subscribeOnce(t, ctx, c, tt.path, json.RawMessage(tt.args))
				require.True(t, u.Failed)
				msg, data = u.ErrorMessage, u.ErrorData
			}
			require.Equal(t, tt.code, data["code"], msg)
			require.Equal(t, msg, data["error"])
			for _, w := range tt.mentions {
				require.Contains(t, msg, w)
			}
			kind := "query"
			if tt.mutation {
				kind = "mutation"
			}
			res, err := call(ctx, s, kind, tok, tt.path, json.RawMessage(tt.args))
			require.NoError(t, err)
			require.True(t, res.Failed)
			require.Equal(t, data, res.ErrorData, "the HTTP API reports the same error")
		})
	}
}
