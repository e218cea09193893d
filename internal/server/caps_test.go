package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/clientip"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
)

// syncURL is s's WebSocket sync endpoint.
func syncURL(s *parleytest.Server) string {
	return "ws://" + s.Server.Addr().String() + "/api/1.48.0/sync"
}

// dialSync opens a sync session with headers h (X-Forwarded-For…), sends
// Connect and, with a token, Authenticate, and returns once the server
// answered (a Transition, or the frame that refused it). A refused
// upgrade returns its response.
func dialSync(t *testing.T, s *parleytest.Server, token string, h http.Header) (*websocket.Conn, frame, *http.Response) {
	t.Helper()
	c, res, err := websocket.DefaultDialer.Dial(syncURL(s), h)
	if err != nil {
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		return nil, frame{}, res
	}
	t.Cleanup(func() { c.Close() })
	sendJSON(t, c, map[string]any{"type": "Connect", "sessionId": fmt.Sprintf("caps-%p", c), "connectionCount": 0})
	if token == "" {
		sendJSON(t, c, map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []any{}})
	} else {
		sendJSON(t, c, map[string]any{"type": "Authenticate", "tokenType": "User", "value": token, "baseVersion": 0})
	}
	return c, next(t, c), nil
}

func sendJSON(t *testing.T, c *websocket.Conn, msg any) {
	t.Helper()
	require.NoError(t, c.WriteJSON(msg))
}

// frame is a server message's fields these tests look at.
type frame struct {
	Type  string `json:"type"`
	Error string `json:"error"`
}

// next is the next server message other than a Ping.
func next(t *testing.T, c *websocket.Conn) frame {
	t.Helper()
	for {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, data, err := c.ReadMessage()
		require.NoError(t, err)
		var f frame
		require.NoError(t, json.Unmarshal(data, &f))
		if f.Type != "Ping" {
			return f
		}
	}
}

// refusal decodes a refused upgrade's answer.
func refusal(t *testing.T, res *http.Response) (status int, body map[string]any) {
	t.Helper()
	require.NotNil(t, res, "the upgrade was refused without an answer")
	defer res.Body.Close()
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	return res.StatusCode, body
}

func metrics(t *testing.T, s *parleytest.Server) string {
	t.Helper()
	res, err := http.Get(s.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}

func xff(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

// Past the per-IP cap a new sync session, WebSocket or SSE, gets a 429
// that says why before any upgrade, and the refusal is counted; a
// forwarding header from a peer that is no trusted proxy changes nothing;
// closing a session frees its place.
func TestSessionsPerIPCap(t *testing.T) {
	const most = 3
	s := parleytest.StartConfigured(t, func(cfg *server.Config) { cfg.MaxSessionsPerIP = most })
	var open []*websocket.Conn
	for i := range most {
		c, f, res := dialSync(t, s, "", xff(fmt.Sprintf("198.51.100.%d", i+1)))
		require.Nil(t, res)
		require.Equal(t, "Transition", f.Type)
		open = append(open, c)
	}
	_, _, res := dialSync(t, s, "", xff("198.51.100.99"))
	status, body := refusal(t, res)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, map[string]any{"code": "rate_limited", "status": float64(429),
		"message": fmt.Sprintf("Too many connections from this address: at most %d", most)}, body)

	sse, err := http.Get(s.URL + "/api/1.48.0/sse-sync")
	require.NoError(t, err)
	status, body = refusal(t, sse)
	require.Equal(t, http.StatusTooManyRequests, status, "SSE shares the cap")
	require.Equal(t, "rate_limited", body["code"])
	require.Contains(t, metrics(t, s), `parley_transport_refused_total{reason="ip_sessions"} 2`)

	open[0].Close()
	pgtest.Eventually(t, 10*time.Second, func() error {
		c, _, res := dialSync(t, s, "", nil)
		if res != nil {
			res.Body.Close()
			return fmt.Errorf("still refused (%d) after a session closed", res.StatusCode)
		}
		c.Close()
		return nil
	})
}

// Behind a trusted proxy each forwarded client has its own places; the
// proxy's own sessions (loopback here, exempt as by default) are not
// capped.
func TestSessionsPerIPCapBehindProxy(t *testing.T) {
	const most = 2
	proxies, err := clientip.ParseList("127.0.0.1")
	require.NoError(t, err)
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.MaxSessionsPerIP, cfg.TrustedProxies, cfg.SessionsPerIPExempt = most, proxies, server.Loopback
	})
	for range most {
		_, f, res := dialSync(t, s, "", xff("1.1.1.1, 198.51.100.7"))
		require.Nil(t, res)
		require.Equal(t, "Transition", f.Type)
	}
	_, _, res := dialSync(t, s, "", xff("2.2.2.2, 198.51.100.7"))
	status, _ := refusal(t, res)
	require.Equal(t, http.StatusTooManyRequests, status, "the same client, whatever it wrote left of the proxy's entry")
	_, f, res := dialSync(t, s, "", xff("198.51.100.8"))
	require.Nil(t, res, "another client behind the proxy")
	require.Equal(t, "Transition", f.Type)
	_, _, res = dialSync(t, s, "", http.Header{"Forwarded": {"for=198.51.100.7"}})
	status, _ = refusal(t, res)
	require.Equal(t, http.StatusTooManyRequests, status, "Forwarded names the client too")
	for range 2 * most {
		_, f, res := dialSync(t, s, "", nil)
		require.Nil(t, res, "the proxy's own address is loopback: exempt")
		require.Equal(t, "Transition", f.Type)
	}
}

// A session that authenticates as a user who holds the most sessions gets
// a FatalError naming the cap and is closed; another user and anonymous
// sessions are not held back; a fresh token on a session that holds its
// user's place takes no second one; closing a session frees its place.
func TestSessionsPerUserCap(t *testing.T) {
	const most = 2
	s := parleytest.StartConfigured(t, func(cfg *server.Config) { cfg.MaxSessionsPerUser = most })
	alice := functions.Identity{Subject: "caps-alice", Role: functions.RoleCustomer}
	bob := functions.Identity{Subject: "caps-bob", Role: functions.RoleCustomer}
	var held []*websocket.Conn
	for range most {
		c, f, _ := dialSync(t, s, s.Token(t, alice), nil)
		require.Equal(t, "Transition", f.Type, f.Error)
		held = append(held, c)
	}
	// A token refresh on a session already counted.
	sendJSON(t, held[0], map[string]any{"type": "Authenticate", "tokenType": "User", "value": s.Token(t, alice), "baseVersion": 1})
	require.Equal(t, "Transition", next(t, held[0]).Type)

	c, f, _ := dialSync(t, s, s.Token(t, alice), nil)
	require.Equal(t, "FatalError", f.Type)
	require.Equal(t, fmt.Sprintf("Too many sessions for this user: at most %d", most), f.Error)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.ClosePolicyViolation, ce.Code)
	require.True(t, strings.HasPrefix(ce.Text, "Too many sessions for this user"), ce.Text)
	require.Contains(t, metrics(t, s), `parley_transport_refused_total{reason="user_sessions"} 1`)

	_, f, _ = dialSync(t, s, s.Token(t, bob), nil)
	require.Equal(t, "Transition", f.Type, "another user has places of their own")
	for range most + 1 {
		_, f, _ := dialSync(t, s, "", nil)
		require.Equal(t, "Transition", f.Type, "anonymous sessions count only per address")
	}

	// A session that signs out gives its place back at once; one that
	// closes, once the server has seen it go.
	sendJSON(t, held[0], map[string]any{"type": "Authenticate", "tokenType": "None", "baseVersion": 2})
	require.Equal(t, "Transition", next(t, held[0]).Type)
	_, f, _ = dialSync(t, s, s.Token(t, alice), nil)
	require.Equal(t, "Transition", f.Type, "the signed-out session's place")
	held[1].Close()
	pgtest.Eventually(t, 10*time.Second, func() error {
		c, f, _ := dialSync(t, s, s.Token(t, alice), nil)
		c.Close()
		if f.Type != "Transition" {
			return fmt.Errorf("still refused after a session closed: %s", f.Error)
		}
		return nil
	})
}
