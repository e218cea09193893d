package transport_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

// syncFrame is what the tests read of a server's protocol message.
type syncFrame struct {
	Type      string `json:"type"`
	RequestID uint32 `json:"requestId"`
	Success   bool   `json:"success"`
	TS        string `json:"ts"`
	Error     string `json:"error"`

	EndVersion struct {
		QuerySet uint32 `json:"querySet"`
		Identity uint32 `json:"identity"`
		TS       string `json:"ts"`
	} `json:"endVersion"`
	Modifications []struct {
		Type    string          `json:"type"`
		QueryID uint32          `json:"queryId"`
		Value   json.RawMessage `json:"value"`
	} `json:"modifications"`
}

// syncConn is a test's client of the sync protocol over SSE or long
// polling: send POSTs messages, next returns the server's next frame.
type syncConn interface {
	send(t *testing.T, msgs ...any)
	next(t *testing.T) syncFrame
}

// postMessages POSTs msgs as one batch to the connection's URL.
func postMessages(t *testing.T, rawURL string, msgs []any) {
	t.Helper()
	b, err := json.Marshal(msgs)
	require.NoError(t, err)
	resp, err := http.Post(rawURL, "text/plain", bytes.NewReader(b))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

// sseSync is the sync protocol over an SSE stream.
type sseSync struct {
	s      *parleytest.Server
	st     *sseStream
	sendTo string
}

func dialSSESync(t *testing.T, s *parleytest.Server) *sseSync {
	t.Helper()
	st := openSSE(t, s.URL+"/api/1.48.0/sse-sync", nil)
	first := st.next(t)
	require.Equal(t, "connection", first.event)
	var c struct{ ConnectionID, Send string }
	require.NoError(t, json.Unmarshal([]byte(first.data), &c))
	require.Len(t, c.ConnectionID, 43)
	require.Equal(t, "/api/1.48.0/sse-sync?connection="+c.ConnectionID, c.Send)
	return &sseSync{s: s, st: st, sendTo: s.URL + c.Send}
}

func (c *sseSync) send(t *testing.T, msgs ...any) { postMessages(t, c.sendTo, msgs) }

func (c *sseSync) next(t *testing.T) syncFrame {
	t.Helper()
	ev := c.st.next(t)
	if ev.event == "close" {
		return syncFrame{Type: "close", Error: ev.data}
	}
	require.Empty(t, ev.event)
	var f syncFrame
	require.NoError(t, json.Unmarshal([]byte(ev.data), &f), "%s", ev.data)
	return f
}

// pollSync is the sync protocol over long polls.
type pollSync struct {
	url    string
	after  uint64
	queued []syncFrame
	closed bool
}

func dialPollSync(t *testing.T, s *parleytest.Server) *pollSync {
	t.Helper()
	resp, err := http.Post(s.URL+"/api/1.48.0/poll-sync", "text/plain", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var c struct{ ConnectionID, URL string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&c))
	require.Len(t, c.ConnectionID, 43)
	return &pollSync{url: s.URL + c.URL}
}

func (c *pollSync) send(t *testing.T, msgs ...any) { postMessages(t, c.url, msgs) }

// poll polls once; status is the answer's HTTP status.
func (c *pollSync) poll(t *testing.T) (frames []json.RawMessage, closeInfo json.RawMessage, status int) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s&after=%d", c.url, c.after))
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, resp.StatusCode
	}
	var a struct {
		Frames []json.RawMessage `json:"frames"`
		Last   uint64            `json:"last"`
		Close  json.RawMessage   `json:"close"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	require.Equal(t, c.after+uint64(len(a.Frames)), a.Last, "frames are numbered on from after")
	c.after = a.Last
	return a.Frames, a.Close, resp.StatusCode
}

func (c *pollSync) next(t *testing.T) syncFrame {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(c.queued) == 0 {
		require.False(t, c.closed, "the connection is closed")
		require.True(t, time.Now().Before(deadline), "no frame within 15s")
		frames, closing, status := c.poll(t)
		require.Equal(t, http.StatusOK, status)
		for _, b := range frames {
			var f syncFrame
			require.NoError(t, json.Unmarshal(b, &f))
			c.queued = append(c.queued, f)
		}
		if closing != nil {
			c.closed = true
			c.queued = append(c.queued, syncFrame{Type: "close", Error: string(closing)})
		}
	}
	f := c.queued[0]
	c.queued = c.queued[1:]
	return f
}

// nextOf returns the next frame of type typ, skipping Pings.
func nextOf(t *testing.T, c syncConn, typ string) syncFrame {
	t.Helper()
	for {
		f := c.next(t)
		if f.Type == "Ping" {
			continue
		}
		require.Equal(t, typ, f.Type, "%+v", f)
		return f
	}
}

// The sync protocol over SSE and over long polling is the WebSocket's:
// the same messages in, the same frames out, with read-your-writes (a
// mutation's response comes with or after the transition that reaches
// its ts), authentication, pings and the closing AuthError.
func TestSyncOverHTTP(t *testing.T) {
	s := startFast(t, func(cfg *server.Config) { cfg.PollTimeout = 300 * time.Millisecond })
	john := s.Token(t, parleytest.John)
	tests := []struct {
		name string
		dial func(*testing.T, *parleytest.Server) syncConn
	}{
		{name: "sse", dial: func(t *testing.T, s *parleytest.Server) syncConn { return dialSSESync(t, s) }},
		{name: "poll", dial: func(t *testing.T, s *parleytest.Server) syncConn { return dialPollSync(t, s) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.dial(t, s)
			c.send(t,
				map[string]any{"type": "Connect", "sessionId": "sess-" + tt.name, "connectionCount": 0},
				map[string]any{"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": john},
				map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []any{
					map[string]any{"type": "Add", "queryId": 0, "udfPath": "shared/chat:getMessages", "args": []any{demoMessages}}}})
			var f syncFrame
			for f.EndVersion.QuerySet < 1 {
				f = nextOf(t, c, "Transition")
			}
			require.Equal(t, uint32(1), f.EndVersion.Identity)
			require.Len(t, f.Modifications, 1)
			require.Contains(t, string(f.Modifications[0].Value), schema.DemoMessageID)

			// Pings keep the connection alive, as on a WebSocket.
			for f := c.next(t); f.Type != "Ping"; f = c.next(t) {
			}

			content := "over " + tt.name
			c.send(t, map[string]any{"type": "Mutation", "requestId": 0, "udfPath": "shared/chat:sendMessage",
				"args": []any{map[string]any{"conversationId": schema.DemoConversationID, "content": content, "messageType": "text"}}})
			var sawWrite bool
			for {
				f := c.next(t)
				if f.Type == "Transition" {
					for _, m := range f.Modifications {
						sawWrite = sawWrite || strings.Contains(string(m.Value), content)
					}
					continue
				}
				if f.Type == "MutationResponse" {
					require.True(t, f.Success)
					require.NotEmpty(t, f.TS)
					break
				}
			}
			// The transition that follows the response reaches its ts and
			// carries the write, if an earlier one did not.
			if !sawWrite {
				f := nextOf(t, c, "Transition")
				require.Contains(t, string(f.Modifications[0].Value), content)
			}

			// A token that does not verify: AuthError, then the close a
			// WebSocket would get (1000: reconnect with a fresh token).
			c.send(t, map[string]any{"type": "Authenticate", "baseVersion": 1, "tokenType": "User", "value": "x.y.z"})
			// (Transitions that only advance the ts may come first.)
			f = c.next(t)
			for f.Type == "Ping" || f.Type == "Transition" && len(f.Modifications) == 0 {
				f = c.next(t)
			}
			require.Equal(t, "AuthError", f.Type, "%+v", f)
			f = nextOf(t, c, "close")
			require.JSONEq(t, `{"code":1000,"reason":"authentication failed"}`, f.Error)
		})
	}
	// Every session has ended.
	pgtest.Eventually(t, 10*time.Second, func() error {
		for _, tr := range []string{"sse", "poll"} {
			if err := expectMetric(s, fmt.Sprintf(`parley_transport_sessions{transport=%q} 0`, tr)); err != nil {
				return err
			}
			if err := expectMetric(s, fmt.Sprintf(`parley_transport_sessions_opened_total{transport=%q} 1`, tr)); err != nil {
				return err
			}
		}
		return nil
	})
}

// A protocol violation over SSE is answered as on a WebSocket: a
// FatalError, then a close with code 1008; the connection is gone after
// it.
func TestSyncOverSSEFatal(t *testing.T) {
	s := parleytest.Start(t)
	c := dialSSESync(t, s)
	c.send(t, map[string]any{"type": "Nonsense"})
	require.Contains(t, nextOf(t, c, "FatalError").Error, "unknown message type Nonsense")
	f := nextOf(t, c, "close")
	require.JSONEq(t, `{"code":1008,"reason":"unknown message type Nonsense"}`, f.Error)
	pgtest.Eventually(t, 10*time.Second, func() error {
		resp, err := http.Post(c.sendTo, "text/plain", strings.NewReader(`{"type":"Event"}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("POST after the close: %d", resp.StatusCode)
		}
		return nil
	})
}

// A long-polling connection nobody polls ends after PollIdleTimeout: its
// session is closed, and a late poll is told the connection is gone. A
// poll whose answer was lost is repeated with the same after and gets
// the same frames.
func TestPollSyncIdleCleanup(t *testing.T) {
	s := startFast(t, func(cfg *server.Config) { cfg.PollIdleTimeout = 500 * time.Millisecond })
	c := dialPollSync(t, s)
	c.send(t, map[string]any{"type": "Connect", "sessionId": "idle", "connectionCount": 0},
		map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []any{
			map[string]any{"type": "Add", "queryId": 0, "udfPath": "shared/chat:getChatSettings", "args": []any{map[string]any{}}}}})
	frames, _, _ := c.poll(t)
	require.NotEmpty(t, frames)
	c.after = 0 // the answer was lost
	again, _, _ := c.poll(t)
	require.Equal(t, frames, again)
	_, _, status := func() ([]json.RawMessage, json.RawMessage, int) { c.after = 99; return c.poll(t) }()
	require.Equal(t, http.StatusBadRequest, status, "after past the frames sent")
	c.after = uint64(len(frames))

	require.NoError(t, expectMetric(s, `parley_transport_sessions{transport="poll"} 1`))
	pgtest.Eventually(t, 10*time.Second, func() error {
		return expectMetric(s, `parley_transport_sessions{transport="poll"} 0`)
	})
	_, _, status = c.poll(t)
	require.Equal(t, http.StatusNotFound, status)
}
