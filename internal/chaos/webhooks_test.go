package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/events"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// webhookArgs are the flags every fault's server gets for its webhook:
// the receiver is on loopback, an attempt is cut after 2s (its job after
// 12s), and a job left running by a killed server is taken again after
// 15s (river's rescuer), not after the default 90s.
var webhookArgs = []string{"--webhooks-allow-private", "--webhook-timeout", "2s", "--jobs-timeout", "10s", "--jobs-rescue-after", "15s",
	"--ai-reply-timeout", "2s", "--ai-finish-retry", "1s"} // the assistant's replies (none here) must fit the rescue delay too

// hooks is the webhook endpoint every fault registers for message.created:
// an HTTP server in the test process that checks each delivery's
// signature and counts the deliveries of each webhook-id. Safe for
// concurrent use.
type hooks struct {
	secret string
	delay  time.Duration // before each answer
	srv    *http.Server

	mu      sync.Mutex
	got     map[string]int // webhook-id → deliveries
	badSigs int
}

// startHooks starts the receiver, answering after delay, and registers
// it with the server as an admin.
func startHooks(t *testing.T, e *env, delay time.Duration) *hooks {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &hooks{got: map[string]int{}, delay: delay}
	h.srv = &http.Server{Handler: http.HandlerFunc(h.serve), ReadHeaderTimeout: 5 * time.Second}
	go h.srv.Serve(ln) //nolint:errcheck // ends with Close below
	t.Cleanup(func() { h.srv.Close() })

	admin := e.token(t, functions.Identity{Subject: schema.DemoAdminID, Role: functions.RoleAdmin, Name: "Chaos Admin"})
	var created events.CreatedWebhook
	err = poll(30*time.Second, func() error {
		return httpCall(e, admin, "mutation", "shared/events:createWebhook",
			map[string]any{"url": "http://" + ln.Addr().String() + "/hook", "events": []string{"message.created"}}, &created)
	})
	require.NoError(t, err, "createWebhook")
	h.secret = created.Secret
	return h
}

func (h *hooks) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	time.Sleep(h.delay)
	id := r.Header.Get("webhook-id")
	sec, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	want, err := events.Sign(h.secret, id, time.Unix(sec, 0), body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil || want != r.Header.Get("webhook-signature") {
		h.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.got[id]++
	w.WriteHeader(http.StatusNoContent)
}

// hookAudit compares the events log with what the receiver got.
type hookAudit struct {
	events      int // message.created events of the load's messages
	lost        int // events the receiver never got
	redelivered int // deliveries beyond the first of a webhook-id
	problems    []string
}

// audit checks, for the load's messages: each has exactly one
// message.created event (none for the SQL writer's: rows written by
// other programs are no events), and every event reaches the receiver
// (polling up to timeout), more than once only under its own webhook-id.
func (h *hooks) audit(t *testing.T, e *env, prefix string, timeout time.Duration) hookAudit {
	t.Helper()
	var a hookAudit
	type msg struct {
		content string
		events  []string
	}
	rows, err := e.db.Query(t.Context(), `SELECT m.content, coalesce(array_agg(ev.id) FILTER (WHERE ev.id IS NOT NULL), '{}')
		FROM messages m LEFT JOIN events ev ON ev.message_id = m.id AND ev.type = 'message.created'
		WHERE m.content LIKE $1 || '-%' GROUP BY m.id, m.content`, prefix)
	require.NoError(t, err)
	var msgs []msg
	for rows.Next() {
		var m msg
		require.NoError(t, rows.Scan(&m.content, &m.events))
		msgs = append(msgs, m)
	}
	require.NoError(t, rows.Err())
	var want []string
	var noEvent, twice []string
	for _, m := range msgs {
		sql := bytes.Contains([]byte(m.content), []byte("-sql-"))
		switch {
		case sql && len(m.events) > 0:
			a.problems = append(a.problems, fmt.Sprintf("%s (written by SQL) has an event", m.content))
		case !sql && len(m.events) == 0:
			noEvent = append(noEvent, m.content)
		case !sql && len(m.events) > 1:
			twice = append(twice, fmt.Sprintf("%s ×%d", m.content, len(m.events)))
		}
		want = append(want, m.events...)
	}
	a.events = len(want)
	if len(noEvent) > 0 {
		sort.Strings(noEvent)
		a.problems = append(a.problems, fmt.Sprintf("%d messages without a message.created event, e.g. %s", len(noEvent), brief(first(noEvent, 3))))
	}
	if len(twice) > 0 {
		a.problems = append(a.problems, fmt.Sprintf("%d messages with more than one event: %s", len(twice), brief(first(twice, 3))))
	}
	var missing []string
	_ = poll(timeout, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		missing = missing[:0]
		for _, id := range want {
			if h.got[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d not delivered", len(missing))
		}
		return nil
	})
	// Then every delivery must settle (a job the killed server left
	// running is rescued and runs again), so that redeliveries count.
	var pending int
	if err := poll(timeout, func() error {
		if err := e.db.QueryRow(t.Context(), `SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&pending); err != nil {
			return err
		}
		if pending > 0 {
			return fmt.Errorf("%d deliveries pending", pending)
		}
		return nil
	}); err != nil {
		a.problems = append(a.problems, fmt.Sprintf("deliveries not settled within %s: %v", timeout, err))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a.lost = len(missing)
	if a.lost > 0 {
		a.problems = append(a.problems, fmt.Sprintf("%d events not delivered within %s, e.g. %s", a.lost, timeout, brief(first(missing, 3))))
	}
	for _, id := range want {
		if n := h.got[id]; n > 1 {
			a.redelivered += n - 1
		}
	}
	if h.badSigs > 0 {
		a.problems = append(a.problems, fmt.Sprintf("%d deliveries with a bad signature", h.badSigs))
	}
	return a
}

// httpCall is a function call over the HTTP API; out receives the value.
func httpCall(e *env, token, kind, path string, args any, out any) error {
	body, _ := json.Marshal(map[string]any{"path": path, "args": args})
	req, err := http.NewRequest("POST", e.url+"/api/"+kind, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res struct {
		Status string          `json:"status"`
		Value  json.RawMessage `json:"value"`
		Error  string          `json:"errorMessage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return err
	}
	if res.Status != "success" {
		return fmt.Errorf("%s: %s %s", path, res.Status, res.Error)
	}
	return json.Unmarshal(res.Value, out)
}
