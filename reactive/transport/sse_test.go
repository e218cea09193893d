package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// sseEvent is one Server-Sent Event as a client sees it; a comment line
// (a heartbeat) is an event with only comment set.
type sseEvent struct {
	event, id, data, comment string
}

// sseStream reads an event stream on a goroutine of its own until the
// response ends or the test does.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent
	done   chan struct{}
}

// openSSE GETs url with header; the stream is closed when t ends.
func openSSE(t *testing.T, rawURL string, header http.Header) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	st := &sseStream{resp: resp, events: make(chan sseEvent, 256), done: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		wg.Wait()
	})
	if resp.StatusCode != http.StatusOK {
		close(st.done)
		return st
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	wg.Go(func() {
		defer close(st.done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<26) // a transition is one line
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != nil || ev.event != "" || ev.id != "" {
					ev.data = strings.Join(data, "\n")
					st.events <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, ":"):
				st.events <- sseEvent{comment: strings.TrimSpace(line[1:])}
			default:
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch field {
				case "event":
					ev.event = value
				case "id":
					ev.id = value
				case "data":
					data = append(data, value)
				}
			}
		}
	})
	return st
}

// next returns the next event that is not a comment.
func (st *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	for {
		ev := st.nextAny(t)
		if ev.comment == "" {
			return ev
		}
	}
}

// nextAny returns the next event or comment.
func (st *sseStream) nextAny(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev := <-st.events:
		return ev
	case <-st.done:
		select {
		case ev := <-st.events:
			return ev
		default:
		}
		t.Fatal("the stream ended")
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15s")
	}
	return sseEvent{}
}

// until returns the first event (comments skipped) for which ok holds.
func (st *sseStream) until(t *testing.T, ok func(sseEvent) bool) sseEvent {
	t.Helper()
	for {
		if ev := st.next(t); ok(ev) {
			return ev
		}
	}
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// subURL is the URL of endpoint (/api/sse, /api/poll) for query path with
// args, and extra query parameters.
func subURL(s *parleytest.Server, endpoint, path string, args any, extra url.Values) string {
	q := url.Values{"path": {path}}
	if args != nil {
		b, _ := json.Marshal(args)
		q.Set("args", string(b))
	}
	for k, v := range extra {
		q[k] = v
	}
	return s.URL + endpoint + "?" + q.Encode()
}

var demoMessages = map[string]any{"conversationId": schema.DemoConversationID}

// send sends a text message to the demo conversation as token's caller,
// through the HTTP API.
func send(t *testing.T, s *parleytest.Server, token, content string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"path": "shared/chat:sendMessage",
		"args": map[string]any{"conversationId": schema.DemoConversationID, "content": content, "messageType": "text"}})
	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/mutation", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
}

// startFast is a server whose pings come every 100ms and whose long polls
// wait 1s.
func startFast(t *testing.T, configure func(*server.Config)) *parleytest.Server {
	return parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.PingInterval = 100 * time.Millisecond
		cfg.PollTimeout = time.Second
		if configure != nil {
			configure(cfg)
		}
	})
}

// The single-subscription stream: the first result at once, then every
// change, each with its token as the event id; heartbeats in between.
// After a drop, Last-Event-ID (header or query parameter) naming the
// current result resumes without resending it, and a stale one gets the
// current result at once.
func TestSubscriptionSSE(t *testing.T) {
	s := startFast(t, nil)
	john := s.Token(t, parleytest.John)
	staff := s.Token(t, parleytest.PizzaStaff)
	u := subURL(s, "/api/sse", "shared/chat:getMessages", demoMessages, nil)

	st := openSSE(t, u, bearer(john))
	first := st.next(t)
	require.Empty(t, first.event)
	require.NotEmpty(t, first.id)
	require.Contains(t, first.data, schema.DemoMessageID, "the result as the HTTP API returns it")
	var page struct {
		Messages []struct {
			ID      string `json:"_id"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	require.NoError(t, json.Unmarshal([]byte(first.data), &page))

	// Heartbeats arrive while nothing changes.
	ping := st.nextAny(t)
	require.Equal(t, "ping", ping.comment)

	send(t, s, staff, "sse live update")
	live := st.until(t, func(ev sseEvent) bool { return strings.Contains(ev.data, "sse live update") })
	require.NotEqual(t, first.id, live.id)

	// cur is the current result; each resume that is not resent it
	// changes it.
	cur := live
	tests := []struct {
		name string
		// header or query gives the last id, the current result's or
		// (older) the first's.
		header, older bool
	}{
		{name: "Last-Event-ID of the current result", header: true},
		{name: "lastEventId of the current result"},
		{name: "Last-Event-ID of an older result", header: true, older: true},
		{name: "lastEventId of an older result", older: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			last := cur.id
			if tt.older {
				last = first.id
			}
			h, q := bearer(john), url.Values{}
			if tt.header {
				h.Set("Last-Event-ID", last)
			} else {
				q.Set("lastEventId", last)
			}
			st := openSSE(t, subURL(s, "/api/sse", "shared/chat:getMessages", demoMessages, q), h)
			ev := st.nextAny(t)
			if tt.older {
				require.Equal(t, cur.id, ev.id, "the current result, at once")
				require.Equal(t, cur.data, ev.data)
				return
			}
			// Nothing stale: the first thing on the stream is a heartbeat.
			require.Equal(t, "ping", ev.comment, "nothing but a heartbeat before a change: %+v", ev)
			content := fmt.Sprintf("after resume %d", i)
			send(t, s, staff, content)
			cur = st.next(t)
			require.Contains(t, cur.data, content)
		})
	}
}

// A subscription the caller may not read is refused on the stream as on a
// WebSocket: the same code and message, as an error event.
func TestSubscriptionRefusedAsOnWebSocket(t *testing.T) {
	s := parleytest.Start(t)
	ws := s.Dial(t, parleytest.Jane, syncclient.Options{})
	sub, err := ws.Subscribe("shared/chat:getMessages", demoMessages)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := sub.Wait(ctx)
	require.NoError(t, err)
	require.True(t, u.Failed, "Jane may not read John's conversation")

	jane := s.Token(t, parleytest.Jane)
	st := openSSE(t, subURL(s, "/api/sse", "shared/chat:getMessages", demoMessages, nil), bearer(jane))
	ev := st.next(t)
	require.Equal(t, "error", ev.event)
	var got struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Status  float64
	}
	require.NoError(t, json.Unmarshal([]byte(ev.data), &got))
	require.Equal(t, u.ErrorData["code"], got.Code)
	require.Equal(t, u.ErrorData["error"], got.Message)
	require.Equal(t, u.ErrorData["status"], got.Status)
	require.Equal(t, u.ErrorMessage, got.Message)

	// The long poll says the same.
	p := poll(t, subURL(s, "/api/poll", "shared/chat:getMessages", demoMessages, nil), bearer(jane))
	require.True(t, p.Changed)
	require.JSONEq(t, ev.data, string(p.Error))
	require.Equal(t, ev.id, p.Token)
}

// pollAnswer is GET /api/poll's answer.
type pollAnswer struct {
	status  int
	Value   json.RawMessage `json:"value"`
	Error   json.RawMessage `json:"error"`
	Token   string          `json:"token"`
	Changed bool            `json:"changed"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

func poll(t *testing.T, rawURL string, header http.Header) pollAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var a pollAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	a.status = resp.StatusCode
	return a
}

// The long poll answers at once when the result differs from since, waits
// for a change otherwise, and answers changed:false with the same token
// when none comes within PollTimeout.
func TestSubscriptionPoll(t *testing.T) {
	s := startFast(t, nil)
	john := s.Token(t, parleytest.John)
	staff := s.Token(t, parleytest.PizzaStaff)
	at := func(since string) string {
		return subURL(s, "/api/poll", "shared/chat:getMessages", demoMessages, url.Values{"since": {since}})
	}

	first := poll(t, at(""), bearer(john))
	require.Equal(t, http.StatusOK, first.status)
	require.True(t, first.Changed)
	require.Contains(t, string(first.Value), schema.DemoMessageID)

	stale := poll(t, at("not-the-current-token"), bearer(john))
	require.True(t, stale.Changed)
	require.Equal(t, first.Token, stale.Token)
	require.JSONEq(t, string(first.Value), string(stale.Value))

	start := time.Now()
	same := poll(t, at(first.Token), bearer(john))
	require.Equal(t, http.StatusOK, same.status)
	require.False(t, same.Changed)
	require.Equal(t, first.Token, same.Token)
	require.Nil(t, same.Value)
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "it waited for a change")

	// A change while the poll waits answers it.
	s2 := startFast(t, func(cfg *server.Config) { cfg.PollTimeout = time.Minute })
	john2, staff2 := s2.Token(t, parleytest.John), s2.Token(t, parleytest.PizzaStaff)
	u2 := func(since string) string {
		return subURL(s2, "/api/poll", "shared/chat:getMessages", demoMessages, url.Values{"since": {since}})
	}
	cur := poll(t, u2(""), bearer(john2))
	answered := make(chan pollAnswer, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { answered <- poll(t, u2(cur.Token), bearer(john2)) })
	// The poll is waiting once the server counts its session.
	pgtest.Eventually(t, 10*time.Second, func() error {
		return expectMetric(s2, `parley_transport_sessions{transport="poll_subscription"} 1`)
	})
	select {
	case a := <-answered:
		t.Fatalf("the poll answered before any change: %+v", a)
	default:
	}
	send(t, s2, staff2, "poll live update")
	a := <-answered
	require.True(t, a.Changed)
	require.NotEqual(t, cur.Token, a.Token)
	require.Contains(t, string(a.Value), "poll live update")
	_ = staff
}

// expectMetric checks that /metrics has line.
func expectMetric(s *parleytest.Server, line string) error {
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), line+"\n") {
		return fmt.Errorf("no %q in /metrics", line)
	}
	return nil
}

// getTicket exchanges token for a ticket.
func getTicket(t *testing.T, s *parleytest.Server, token string) (string, time.Time) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/tickets", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Ticket    string    `json:"ticket"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Len(t, out.Ticket, 43, "256 random bits, base64url")
	return out.Ticket, out.ExpiresAt
}

// refusal GETs rawURL and returns its status and error body.
func refusal(t *testing.T, rawURL string, header http.Header) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	if header != nil {
		req.Header = header
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct{ Code, Message string }
	json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck
	return resp.StatusCode, body.Code, body.Message
}

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A ticket stands in for the JWT in a stream's URL: it is good once, as
// the identity whose token bought it; reused, forged or expired it is
// refused with 401 and a message that says which. Neither the ticket nor
// the JWT is logged.
func TestTickets(t *testing.T) {
	var logs syncBuffer
	s := startFast(t, func(cfg *server.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	john := s.Token(t, parleytest.John)
	jane := s.Token(t, parleytest.Jane)
	ticket, expires := getTicket(t, s, john)
	require.WithinDuration(t, time.Now().Add(time.Minute), expires, 10*time.Second)
	withTicket := func(tk string) string {
		return subURL(s, "/api/sse", "shared/chat:getMessages", demoMessages, url.Values{"ticket": {tk}})
	}

	st := openSSE(t, withTicket(ticket), nil)
	ev := st.next(t)
	require.Empty(t, ev.event, "John may read his conversation: %s", ev.data)
	require.Contains(t, ev.data, schema.DemoMessageID)

	janeTicket, _ := getTicket(t, s, jane)
	st = openSSE(t, withTicket(janeTicket), nil)
	require.Equal(t, "error", st.next(t).event, "a ticket is its own identity's")

	tests := []struct {
		name    string
		url     string
		header  http.Header
		status  int
		message string
	}{
		{name: "reused", url: withTicket(ticket), status: 401, message: "ticket already used"},
		{name: "forged", url: withTicket("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), status: 401, message: "unknown ticket"},
		{name: "with a header too", url: withTicket("x"), header: bearer(john), status: 400, message: "not both"},
		{name: "bad token", url: subURL(s, "/api/sse", "shared/chat:getMessages", demoMessages, nil), header: bearer("x.y.z"), status: 401, message: "Invalid token"},
		{name: "no path", url: s.URL + "/api/sse", status: 400, message: "path is required"},
		{name: "args not an object", url: s.URL + "/api/poll?path=shared/chat:getMessages&args=[1]", status: 400, message: "args must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, msg := refusal(t, tt.url, tt.header)
			require.Equal(t, tt.status, status)
			require.Contains(t, msg, tt.message)
		})
	}

	status, _, _ := refusal(t, s.URL+"/api/tickets", nil)
	require.Equal(t, http.StatusMethodNotAllowed, status, "tickets are bought with POST")
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/tickets", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a ticket needs a token")

	// One user's unused tickets are bounded: 429, saying why.
	last := 0
	for range 60 {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/tickets", nil)
		req.Header.Set("Authorization", "Bearer "+jane)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if last = resp.StatusCode; last != http.StatusOK {
			require.Contains(t, string(body), "too many unused tickets")
			break
		}
	}
	require.Equal(t, http.StatusTooManyRequests, last)

	out := logs.String()
	require.NotEmpty(t, out)
	for _, secret := range []string{ticket, janeTicket, john, jane} {
		require.NotContains(t, out, secret)
	}

	// A ticket past its time is refused as expired.
	short := startFast(t, func(cfg *server.Config) { cfg.TicketTTL = time.Nanosecond })
	tk, _ := getTicket(t, short, short.Token(t, parleytest.John))
	status, code, msg := refusal(t, subURL(short, "/api/sse", "shared/chat:getMessages", demoMessages, url.Values{"ticket": {tk}}), nil)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, functions.CodeUnauthenticated, code)
	require.Contains(t, msg, "ticket expired")
}

// The stream ends when the token behind it expires, after an error event
// saying so.
func TestSubscriptionSSETokenExpiry(t *testing.T) {
	s := parleytest.Start(t)
	tok := s.TokenTTL(t, parleytest.John, 1500*time.Millisecond)
	ticket, expires := getTicket(t, s, tok)
	require.WithinDuration(t, time.Now().Add(1500*time.Millisecond), expires, time.Second, "a ticket never outlives its token")
	st := openSSE(t, subURL(s, "/api/sse", "shared/chat:getMessages", demoMessages, url.Values{"ticket": {ticket}}), nil)
	require.Empty(t, st.next(t).event)
	ev := st.next(t)
	require.Equal(t, "error", ev.event)
	require.Contains(t, ev.data, `"code":"unauthenticated"`)
	require.Contains(t, ev.data, "token expired")
	select {
	case <-st.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end")
	}
}

// events=1 turns a result that is not a list of events into an internal
// error event (the query is wrong for the mode), logged, not shown.
func TestSubscriptionSSEEventsModeNeedsEvents(t *testing.T) {
	s := parleytest.Start(t)
	st := openSSE(t, subURL(s, "/api/sse", "shared/chat:getMessages", demoMessages, url.Values{"events": {"1"}}), bearer(s.Token(t, parleytest.John)))
	ev := st.next(t)
	require.Equal(t, "error", ev.event)
	require.JSONEq(t, `{"code":"internal","message":"Internal server error","status":500}`, ev.data)
}
