package events_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/events"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

var (
	john  = parleytest.John
	jane  = parleytest.Jane
	staff = parleytest.PizzaStaff
	admin = parleytest.Admin
)

// env is a running server whose webhooks may reach loopback receivers and
// retry fast.
type env struct {
	t testing.TB
	s *parleytest.Server
}

func newEnv(t testing.TB, configure ...func(*server.Config)) *env {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.Events = server.EventsConfig{AllowPrivate: true, RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
			DeliveryTimeout: 2 * time.Second}
		cfg.Jobs.FetchPollInterval = 50 * time.Millisecond
		for _, c := range configure {
			c(cfg)
		}
	})
	return &env{t: t, s: s}
}

func (e *env) mutate(id functions.Identity, name string, args any) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	res, err := e.s.Server.Engine.Mutate(context.Background(), name, raw, identity(id), functions.RequestKey{})
	return res.Value, err
}

func (e *env) query(id functions.Identity, name string, args any) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	return e.s.Server.Engine.Query(context.Background(), name, raw, identity(id))
}

func identity(id functions.Identity) *functions.Identity {
	if id.Subject == "" {
		return nil
	}
	return &id
}

func must[T any](t testing.TB) func(json.RawMessage, error) T {
	return func(raw json.RawMessage, err error) T {
		t.Helper()
		require.NoError(t, err)
		var v T
		require.NoError(t, json.Unmarshal(raw, &v))
		return v
	}
}

func (e *env) send(id functions.Identity, conv, content string) string {
	return must[string](e.t)(e.mutate(id, "shared/chat:sendMessage", map[string]any{"conversationId": conv, "content": content, "messageType": "text"}))
}

func (e *env) events(id functions.Identity, conv string, after *string) events.ConversationEvents {
	args := map[string]any{"conversationId": conv, "limit": 200}
	if after != nil {
		args["after"] = *after
	}
	return must[events.ConversationEvents](e.t)(e.query(id, "shared/events:getConversationEvents", args))
}

func types(evs []events.Envelope) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// TestConversationLog: what each mutation committed is in the log, in
// order, once; what failed or rolled back is not.
func TestConversationLog(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	before := e.events(john, conv, nil).Events
	require.Empty(t, before, "the demo data was written by no mutation")

	msg := e.send(john, conv, "Where is my pizza?")
	_, err := e.mutate(staff, "shared/chat:markMessagesAsRead", map[string]any{"conversationId": conv})
	require.NoError(t, err)
	_, err = e.mutate(john, "shared/chat:editMessage", map[string]any{"messageId": msg, "content": "Where is my pizza now?"})
	require.NoError(t, err)
	_, err = e.mutate(john, "shared/chat:deleteMessage", map[string]any{"messageId": msg})
	require.NoError(t, err)
	// Failures emit nothing: an empty message, and a message in a
	// conversation the caller may not see.
	_, err = e.mutate(john, "shared/chat:sendMessage", map[string]any{"conversationId": conv, "content": "  ", "messageType": "text"})
	require.Error(t, err)
	_, err = e.mutate(jane, "shared/chat:sendMessage", map[string]any{"conversationId": conv, "content": "hi", "messageType": "text"})
	require.Error(t, err)
	// A read that marks nothing is no event.
	_, err = e.mutate(staff, "shared/chat:markMessagesAsRead", map[string]any{"conversationId": conv})
	require.NoError(t, err)
	_, err = e.mutate(john, "shared/chat:archiveConversation", map[string]any{"conversationId": conv})
	require.NoError(t, err)

	log := e.events(john, conv, nil).Events
	require.Equal(t, []string{"message.created", "message.read", "message.edited", "message.deleted", "conversation.archived"}, types(log))
	created := log[0]
	require.True(t, strings.HasPrefix(created.ID, "evt_"))
	require.Equal(t, conv, *created.ConversationID)
	require.Equal(t, msg, *created.MessageID)
	require.Equal(t, "customer", created.Actor.Type)
	require.Equal(t, john.Subject, *created.Actor.ID)
	var data struct {
		Message struct {
			ID          string `json:"_id"`
			Content     string `json:"content"`
			MessageType string `json:"messageType"`
		}
	}
	require.NoError(t, json.Unmarshal(created.Data, &data))
	require.Equal(t, msg, data.Message.ID)
	require.Equal(t, "Where is my pizza?", data.Message.Content)
	require.Equal(t, "text", data.Message.MessageType)
	require.Equal(t, "store", log[1].Actor.Type, "the store's staff read it")
	var read events.Envelope = log[1]
	require.Contains(t, string(read.Data), msg)
	require.Contains(t, string(log[2].Data), "Where is my pizza now?")
	for i := 1; i < len(log); i++ {
		a, err := time.Parse(time.RFC3339Nano, log[i-1].TS)
		require.NoError(t, err)
		b, err := time.Parse(time.RFC3339Nano, log[i].TS)
		require.NoError(t, err)
		require.False(t, b.Before(a), "ordered")
	}

	// Reading on from an event gives what followed it; the store sees the
	// same log, an outsider nothing.
	require.Equal(t, log[2:], e.events(staff, conv, &log[1].ID).Events)
	_, err = e.query(jane, "shared/events:getConversationEvents", map[string]any{"conversationId": conv})
	require.ErrorContains(t, err, "Conversation not found")
	_, err = e.query(parleytest.Anonymous, "shared/events:getConversationEvents", map[string]any{"conversationId": conv})
	require.ErrorContains(t, err, "Not authenticated")
}

// TestResentMutationEmitsOnce: a mutation resent with its request key
// replays its result, and its events are in the log once.
func TestResentMutationEmitsOnce(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	args, _ := json.Marshal(map[string]any{"conversationId": conv, "content": "once", "messageType": "text"})
	key := functions.RequestKey{SessionID: "session-1", RequestID: 7, Resumed: true}
	id := john
	first, err := e.s.Server.Engine.Mutate(context.Background(), "shared/chat:sendMessage", args, &id, key)
	require.NoError(t, err)
	again, err := e.s.Server.Engine.Mutate(context.Background(), "shared/chat:sendMessage", args, &id, key)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.Value, again.Value)
	require.Equal(t, []string{"message.created"}, types(e.events(john, conv, nil).Events))
}

// TestConcurrentEventsOrdered: concurrent writers to one conversation get
// events in commit order, none lost or doubled.
func TestConcurrentEventsOrdered(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	// Eight writers, five messages each: as many writers to one
	// conversation as retries absorb on a loaded machine.
	const writers, each = 8, 5
	const n = writers * each
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := john
			if w%2 == 1 {
				who = staff
			}
			for i := range each {
				e.send(who, conv, fmt.Sprintf("m%d-%d", w, i))
			}
		}()
	}
	wg.Wait()
	log := e.events(john, conv, nil).Events
	require.Len(t, log, n)
	// Commit order is the messages' order (each message's time is after
	// the conversation's latest, under its lock).
	rows, err := e.s.DB.Query(context.Background(), `SELECT id FROM messages WHERE conversation_id = $1 AND content LIKE 'm%' ORDER BY created_at, id`, conv)
	require.NoError(t, err)
	var order []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		order = append(order, id)
	}
	require.NoError(t, rows.Err())
	got := make([]string, len(log))
	for i, ev := range log {
		got[i] = *ev.MessageID
	}
	require.Equal(t, order, got)
}

// receiver is a webhook endpoint that records what it gets; fail decides,
// per attempt (1-based), the status it answers.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	fail func(n int) int
}

type received struct {
	path   string
	header http.Header
	body   []byte
	at     time.Time
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	r := &receiver{fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{path: req.URL.Path, header: req.Header.Clone(), body: body, at: time.Now()})
		n := len(r.got)
		r.mu.Unlock()
		code := http.StatusNoContent
		if r.fail != nil {
			code = r.fail(n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func eventually(t *testing.T, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			require.NoError(t, err, "not within %s", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verify checks a delivery's Standard Webhooks signature, written here
// from the specification rather than with events.Sign.
func verify(t *testing.T, secret string, r received) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	id, ts := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
	require.NotEmpty(t, id)
	sec, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err)
	require.InDelta(t, time.Now().Unix(), sec, 60, "a timestamp of now")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(r.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	require.Contains(t, strings.Split(r.header.Get("webhook-signature"), " "), want)
}

func (e *env) createWebhook(url string, evs []string, secret *string) events.CreatedWebhook {
	args := map[string]any{"url": url, "events": evs}
	if secret != nil {
		args["secret"] = *secret
	}
	return must[events.CreatedWebhook](e.t)(e.mutate(admin, "shared/events:createWebhook", args))
}

func (e *env) deliveries(hook string) []events.DeliveryDoc {
	return must[[]events.DeliveryDoc](e.t)(e.query(admin, "shared/events:getWebhookDeliveries", map[string]any{"webhookId": hook}))
}

func TestWebhookDelivered(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	hook := e.createWebhook(rcv.URL+"/hooks", []string{"message.created"}, &secret)
	require.Equal(t, secret, hook.Secret)
	other := e.createWebhook(rcv.URL+"/all", []string{"*"}, nil)
	require.True(t, strings.HasPrefix(other.Secret, "whsec_"), "a generated secret")

	msg := e.send(john, schema.DemoConversationID, "Hello, webhooks")
	_, err := e.mutate(staff, "shared/chat:markMessagesAsRead", map[string]any{"conversationId": schema.DemoConversationID})
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error {
		if n := len(rcv.received()); n != 3 {
			return fmt.Errorf("%d deliveries, want 3 (created to both, read to the catch-all)", n)
		}
		return nil
	})
	byPath := map[string][]events.Envelope{}
	for _, r := range rcv.received() {
		var ev events.Envelope
		require.NoError(t, json.Unmarshal(r.body, &ev))
		require.Equal(t, ev.ID, r.header.Get("webhook-id"))
		require.Equal(t, "application/json", r.header.Get("Content-Type"))
		if r.path == "/hooks" {
			verify(t, secret, r)
		} else {
			verify(t, other.Secret, r)
		}
		byPath[r.path] = append(byPath[r.path], ev)
	}
	require.Len(t, byPath["/hooks"], 1)
	require.Equal(t, "message.created", byPath["/hooks"][0].Type)
	require.Equal(t, msg, *byPath["/hooks"][0].MessageID)
	require.ElementsMatch(t, []string{"message.created", "message.read"}, types(byPath["/all"]))
	eventually(t, 5*time.Second, func() error {
		ds := e.deliveries(hook.Webhook.ID)
		if len(ds) != 1 || ds[0].Status != "succeeded" {
			return fmt.Errorf("deliveries %+v", ds)
		}
		return nil
	})
	d := e.deliveries(hook.Webhook.ID)[0]
	require.Equal(t, 1, d.Attempts)
	require.Equal(t, 204, *d.LastStatus)
	require.NotNil(t, d.DeliveredAt)
}

// TestWebhookRetries: a failing endpoint is retried with the same
// webhook-id until it answers 2xx; one that never does goes dead at the
// horizon, and replayDelivery sends it again.
func TestWebhookRetries(t *testing.T) {
	e := newEnv(t, func(cfg *server.Config) { cfg.Events.RetryHorizon = 1500 * time.Millisecond })
	flaky := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	var down sync.Mutex
	broken := true
	dead := newReceiver(t, func(int) int {
		down.Lock()
		defer down.Unlock()
		if broken {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	h1 := e.createWebhook(flaky.URL, []string{"message.created"}, nil)
	h2 := e.createWebhook(dead.URL, []string{"message.created"}, nil)
	e.send(john, schema.DemoConversationID, "retry me")

	eventually(t, 10*time.Second, func() error {
		if ds := e.deliveries(h1.Webhook.ID); len(ds) != 1 || ds[0].Status != "succeeded" {
			return fmt.Errorf("flaky deliveries %+v", ds)
		}
		return nil
	})
	got := flaky.received()
	require.Len(t, got, 3)
	for _, r := range got {
		require.Equal(t, got[0].header.Get("webhook-id"), r.header.Get("webhook-id"), "one id across attempts")
		require.Equal(t, got[0].body, r.body)
		verify(t, h1.Secret, r)
	}
	d := e.deliveries(h1.Webhook.ID)[0]
	require.Equal(t, 3, d.Attempts)
	require.Equal(t, 200, *d.LastStatus)

	eventually(t, 15*time.Second, func() error {
		if ds := e.deliveries(h2.Webhook.ID); len(ds) != 1 || ds[0].Status != "dead" {
			return fmt.Errorf("dead deliveries %+v", ds)
		}
		return nil
	})
	dd := e.deliveries(h2.Webhook.ID)[0]
	require.GreaterOrEqual(t, dd.Attempts, 2)
	require.Equal(t, 502, *dd.LastStatus)
	require.Contains(t, *dd.LastError, "502")
	// The dead letter stays dead: its job has ended, and no attempt
	// follows the last one recorded...
	eventually(t, 5*time.Second, func() error {
		var state string
		if err := e.s.DB.QueryRow(context.Background(), `SELECT state FROM river_job
			WHERE kind = 'events.deliver' AND args->>'deliveryId' = $1`, dd.ID).Scan(&state); err != nil {
			return err
		}
		if state != "cancelled" {
			return fmt.Errorf("the delivery's job is %s", state)
		}
		return nil
	})
	require.Len(t, dead.received(), dd.Attempts)
	require.Len(t, must[[]events.DeliveryDoc](t)(e.query(admin, "shared/events:getWebhookDeliveries",
		map[string]any{"webhookId": h2.Webhook.ID, "status": "dead"})), 1)
	// ...until it is replayed, with its id.
	down.Lock()
	broken = false
	down.Unlock()
	_, err := e.mutate(admin, "shared/events:replayDelivery", map[string]any{"deliveryId": dd.ID})
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error {
		if ds := e.deliveries(h2.Webhook.ID); ds[0].Status != "succeeded" {
			return fmt.Errorf("replayed delivery %+v", ds[0])
		}
		return nil
	})
	all := dead.received()
	require.Equal(t, all[0].header.Get("webhook-id"), all[len(all)-1].header.Get("webhook-id"))
}

// TestSlowEndpoint: an endpoint that hangs is cut by the timeout and
// delays neither other endpoints nor pushes to clients.
func TestSlowEndpoint(t *testing.T) {
	e := newEnv(t, func(cfg *server.Config) { cfg.Events.DeliveryTimeout = 300 * time.Millisecond })
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	fast := newReceiver(t, nil)
	slow := e.createWebhook(hang.URL, []string{"*"}, nil)
	e.createWebhook(fast.URL, []string{"*"}, nil)

	c := e.s.Dial(t, john, syncclient.Options{})
	sub, err := c.Subscribe("shared/chat:getMessages", map[string]any{"conversationId": schema.DemoConversationID})
	require.NoError(t, err)
	for i := range 5 {
		e.send(staff, schema.DemoConversationID, fmt.Sprintf("burst %d", i))
	}
	// Pushes flow while an endpoint hangs, and so do other endpoints.
	eventually(t, 5*time.Second, func() error {
		if v, _, ok := sub.Latest(); !ok || !strings.Contains(string(v), "burst 4") {
			return fmt.Errorf("the subscriber has not got the burst")
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		if n := len(fast.received()); n < 5 {
			return fmt.Errorf("fast endpoint has %d of 5", n)
		}
		return nil
	})
	eventually(t, 10*time.Second, func() error {
		for _, d := range e.deliveries(slow.Webhook.ID) {
			if d.LastError != nil && strings.Contains(*d.LastError, "deadline") || d.LastError != nil && strings.Contains(*d.LastError, "timeout") {
				return nil
			}
		}
		return fmt.Errorf("no timed-out attempt yet: %+v", e.deliveries(slow.Webhook.ID))
	})
}

// TestWebhookManagement: the admin functions, their validation, and who
// may call them.
func TestWebhookManagement(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	h := e.createWebhook(rcv.URL, []string{"message.read", "message.created", "message.created"}, nil)
	require.Equal(t, []string{"message.created", "message.read"}, h.Webhook.Events, "deduplicated and sorted")
	list := must[[]events.WebhookDoc](t)(e.query(admin, "shared/events:listWebhooks", map[string]any{}))
	require.Len(t, list, 1)
	require.Equal(t, h.Webhook.ID, list[0].ID)
	require.True(t, list[0].Enabled)
	require.NotContains(t, list[0].SecretHint, h.Secret[10:], "the list shows no secret")

	bad := []struct {
		args map[string]any
		msg  string
	}{
		{map[string]any{"url": "ftp://example.com", "events": []string{"*"}}, "absolute http or https"},
		{map[string]any{"url": "/hooks", "events": []string{"*"}}, "absolute http or https"},
		{map[string]any{"url": "https://user:pw@example.com/", "events": []string{"*"}}, "credentials"},
		{map[string]any{"url": "https://example.com/", "events": []string{}}, "at least one event type"},
		{map[string]any{"url": "https://example.com/", "events": []string{"message.sent"}}, `unknown event type "message.sent"`},
		{map[string]any{"url": "https://example.com/", "events": []string{"*"}, "secret": "hunter2"}, "whsec_"},
		{map[string]any{"url": "https://example.com/", "events": []string{"*"}, "secret": "whsec_c2hvcnQ="}, "24 to 64"},
	}
	for _, b := range bad {
		_, err := e.mutate(admin, "shared/events:createWebhook", b.args)
		require.ErrorContains(t, err, b.msg, "%v", b.args)
		var fe *functions.Error
		require.ErrorAs(t, err, &fe)
		require.Equal(t, functions.CodeInvalidArgument, fe.Code)
	}

	// Only admins; another org's admin sees nothing of this one's.
	for _, who := range []functions.Identity{john, staff, parleytest.Anonymous} {
		for _, call := range []struct {
			name string
			args map[string]any
			m    bool
		}{
			{"createWebhook", map[string]any{"url": rcv.URL, "events": []string{"*"}}, true},
			{"listWebhooks", map[string]any{}, false},
			{"disableWebhook", map[string]any{"webhookId": h.Webhook.ID}, true},
			{"deleteWebhook", map[string]any{"webhookId": h.Webhook.ID}, true},
			{"getWebhookDeliveries", map[string]any{"webhookId": h.Webhook.ID}, false},
			{"replayDelivery", map[string]any{"deliveryId": "whd_x"}, true},
		} {
			var err error
			if call.m {
				_, err = e.mutate(who, "shared/events:"+call.name, call.args)
			} else {
				_, err = e.query(who, "shared/events:"+call.name, call.args)
			}
			want := "Only admins can manage webhooks"
			if who.Subject == "" {
				want = "Not authenticated"
			}
			require.ErrorContains(t, err, want, "%s by %q", call.name, who.Subject)
		}
	}
	other := admin
	other.Org = "other-org"
	require.Empty(t, must[[]events.WebhookDoc](t)(e.query(other, "shared/events:listWebhooks", map[string]any{})))
	_, err := e.mutate(other, "shared/events:disableWebhook", map[string]any{"webhookId": h.Webhook.ID})
	require.ErrorContains(t, err, "Webhook not found")

	// Disabled: nothing more is sent; deleted: gone with its deliveries.
	e.send(john, schema.DemoConversationID, "one")
	eventually(t, 5*time.Second, func() error {
		if len(rcv.received()) != 1 {
			return fmt.Errorf("%d received", len(rcv.received()))
		}
		return nil
	})
	_, err = e.mutate(admin, "shared/events:disableWebhook", map[string]any{"webhookId": h.Webhook.ID})
	require.NoError(t, err)
	// A witness endpoint that takes everything: once it has "two", the
	// commit's deliveries are all out.
	witness := newReceiver(t, nil)
	e.createWebhook(witness.URL, []string{"*"}, nil)
	e.send(john, schema.DemoConversationID, "two")
	eventually(t, 5*time.Second, func() error {
		for _, r := range witness.received() {
			if strings.Contains(string(r.body), `"content":"two"`) {
				return nil
			}
		}
		return fmt.Errorf("the witness has not got the message")
	})
	require.Len(t, rcv.received(), 1, "a disabled endpoint gets nothing")
	require.Len(t, e.deliveries(h.Webhook.ID), 1)
	_, err = e.mutate(admin, "shared/events:replayDelivery", map[string]any{"deliveryId": e.deliveries(h.Webhook.ID)[0].ID})
	require.ErrorContains(t, err, "Webhook is disabled")
	_, err = e.mutate(admin, "shared/events:deleteWebhook", map[string]any{"webhookId": h.Webhook.ID})
	require.NoError(t, err)
	for _, w := range must[[]events.WebhookDoc](t)(e.query(admin, "shared/events:listWebhooks", map[string]any{})) {
		require.NotEqual(t, h.Webhook.ID, w.ID, "deleted")
	}
	_, err = e.query(admin, "shared/events:getWebhookDeliveries", map[string]any{"webhookId": h.Webhook.ID})
	require.ErrorContains(t, err, "Webhook not found")
}

// TestPrivateAddressesRefused: without AllowPrivate, loopback and private
// endpoints are refused at registration, and a name that resolves to one
// is refused when dialled.
func TestPrivateAddressesRefused(t *testing.T) {
	e := newEnv(t, func(cfg *server.Config) { cfg.Events.AllowPrivate = false })
	for _, u := range []string{"http://127.0.0.1:8080/x", "http://[::1]/x", "http://10.1.2.3/x", "http://192.168.0.10/x",
		"http://169.254.169.254/latest/meta-data", "http://localhost:9/x", "http://0.0.0.0/x", "http://100.64.0.1/x"} {
		_, err := e.mutate(admin, "shared/events:createWebhook", map[string]any{"url": u, "events": []string{"*"}})
		require.ErrorContains(t, err, "must not point at", u)
	}
}

// sseEvent is one event of a text/event-stream.
type sseEvent struct{ name, id, data string }

// openSSE opens GET /api/sse for getConversationEvents in event mode as
// token's holder, resuming after lastID when it is set.
func (e *env) openSSE(token, conv, lastID string) (*http.Response, <-chan sseEvent) {
	t := e.t
	args, _ := json.Marshal(map[string]any{"conversationId": conv})
	u := e.s.URL + "/api/sse?path=shared/events:getConversationEvents&events=1&args=" + url.QueryEscape(string(args))
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	out := make(chan sseEvent, 100)
	go func() { // owned: ends when the body does (cancel above)
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return resp, out
}

// next is the next event of stream other than the connection's own, or
// a failure after 10s.
func next(t *testing.T, stream <-chan sseEvent) sseEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-stream:
			require.True(t, ok, "the stream ended")
			if ev.name == "connection" {
				continue
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
	}
}

// TestConversationEventStream: GET /api/sse?events=1 on
// getConversationEvents sends each new domain event as an SSE event
// named by its type with its id, resumes after Last-Event-ID without
// sending one twice, and refuses a caller who may not read the
// conversation as every other transport does.
func TestConversationEventStream(t *testing.T) {
	e := newEnv(t)
	conv := schema.DemoConversationID
	johnTok := e.s.Token(t, john)
	before := e.events(john, conv, nil).Events
	var lastBefore string
	if len(before) > 0 {
		lastBefore = before[len(before)-1].ID
	}
	resp, stream := e.openSSE(johnTok, conv, lastBefore)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", strings.Split(resp.Header.Get("Content-Type"), ";")[0])

	first := e.send(john, conv, "over SSE one")
	ev := next(t, stream)
	require.Equal(t, "message.created", ev.name)
	var env1 events.Envelope
	require.NoError(t, json.Unmarshal([]byte(ev.data), &env1))
	require.Equal(t, ev.id, env1.ID)
	require.Equal(t, &first, env1.MessageID)
	require.Equal(t, &conv, env1.ConversationID)

	// Dropped; two more events while away; the resumed stream sends
	// exactly those, in order.
	resp.Body.Close()
	second := e.send(staff, conv, "over SSE two")
	must[json.RawMessage](t)(e.mutate(john, "shared/chat:markMessagesAsRead", map[string]any{"conversationId": conv}))
	_, resumed := e.openSSE(johnTok, conv, ev.id)
	a, b := next(t, resumed), next(t, resumed)
	require.Equal(t, []string{"message.created", "message.read"}, []string{a.name, b.name})
	var env2 events.Envelope
	require.NoError(t, json.Unmarshal([]byte(a.data), &env2))
	require.Equal(t, &second, env2.MessageID)
	third := e.send(staff, conv, "over SSE three")
	c := next(t, resumed)
	require.Contains(t, c.data, third)
	select {
	case extra := <-resumed:
		t.Fatalf("an event sent twice or unasked: %+v", extra)
	case <-time.After(300 * time.Millisecond):
	}

	// Jane is no participant: the stream gives the error the query gives
	// her anywhere (chat's rule: not found, so that ids do not leak), and
	// no event of the conversation.
	_, queryErr := e.query(jane, "shared/events:getConversationEvents", map[string]any{"conversationId": conv})
	require.Error(t, queryErr)
	_, foreign := e.openSSE(e.s.Token(t, jane), conv, "")
	refused := next(t, foreign)
	require.Equal(t, "error", refused.name)
	require.Contains(t, refused.data, `"code":"not_found"`)
	require.Contains(t, refused.data, queryErr.Error())
	require.NotContains(t, refused.data, "over SSE")
}

// TestWebAppKnowsEveryEventType: the web app's Webhooks page offers the
// event types the server accepts, no more, no fewer.
func TestWebAppKnowsEveryEventType(t *testing.T) {
	src, err := os.ReadFile("../web/src/Webhooks.tsx")
	require.NoError(t, err)
	list := regexp.MustCompile(`(?s)export const eventTypes = \[(.*?)\] as const`).FindSubmatch(src)
	require.NotNil(t, list, "Webhooks.tsx has no eventTypes list")
	var web []string
	for _, m := range regexp.MustCompile(`"([^"]+)"`).FindAllSubmatch(list[1], -1) {
		web = append(web, string(m[1]))
	}
	require.Equal(t, events.Types, web)
}
