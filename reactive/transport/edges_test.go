package transport_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/server"
)

// The protocol's edges: a frame or a message the server cannot take ends
// the session with a FatalError that says why, then the Close code the
// WebSocket RFC gives the case (not an abrupt 1006).
func TestRefusedFramesSayWhy(t *testing.T) {
	s := parleytest.Start(t)
	connect := map[string]any{"type": "Connect", "sessionId": "s1", "connectionCount": 0}
	tests := []struct {
		name    string
		send    func(c *websocket.Conn) error
		code    int
		message string
	}{
		{"ModifyQuerySet before Connect", func(c *websocket.Conn) error {
			return c.WriteJSON(map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []any{}})
		}, websocket.ClosePolicyViolation, "ModifyQuerySet before Connect"},
		{"Mutation before Connect", func(c *websocket.Conn) error {
			return c.WriteJSON(map[string]any{"type": "Mutation", "requestId": 0, "udfPath": "shared/chat:sendMessage", "args": []any{map[string]any{}}})
		}, websocket.ClosePolicyViolation, "Mutation before Connect"},
		{"invalid UTF-8 in a text frame", func(c *websocket.Conn) error {
			if err := c.WriteJSON(connect); err != nil {
				return err
			}
			return c.WriteMessage(websocket.TextMessage, []byte("{\"type\":\"Event\",\"eventType\":\"x\",\"event\":\"\xff\xfe\"}"))
		}, websocket.CloseInvalidFramePayloadData, "invalid UTF-8 in a text frame"},
		{"oversize message", func(c *websocket.Conn) error {
			if err := c.WriteJSON(connect); err != nil {
				return err
			}
			big := `{"type":"Event","eventType":"x","event":"` + strings.Repeat("a", 3<<20) + `"}`
			return c.WriteMessage(websocket.TextMessage, []byte(big))
		}, websocket.CloseMessageTooBig, "message too large: a client message may be at most 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := websocket.DefaultDialer.Dial("ws://"+s.Server.Addr().String()+"/api/1.48.0/sync", nil)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, tt.send(c))
			var fatal string
			for {
				f, err := read(t, c)
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					require.Equal(t, tt.code, ce.Code, "close code (reason %q)", ce.Text)
					require.Contains(t, ce.Text, tt.message)
					break
				}
				require.NoError(t, err)
				if f.Type == "FatalError" {
					fatal = f.Error
				}
			}
			require.Contains(t, fatal, tt.message, "a FatalError before the Close")
		})
	}
}

// A connection that never sends Connect is told so and closed, and the
// refusal is counted; one that sends it in time stays.
func TestConnectTimeout(t *testing.T) {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) { cfg.ConnectTimeout = 300 * time.Millisecond })
	url := "ws://" + s.Server.Addr().String() + "/api/1.48.0/sync"
	quiet, _, err := websocket.DefaultDialer.Dial(url, nil)
	require.NoError(t, err)
	defer quiet.Close()
	talker, _, err := websocket.DefaultDialer.Dial(url, nil)
	require.NoError(t, err)
	defer talker.Close()
	require.NoError(t, talker.WriteJSON(map[string]any{"type": "Connect", "sessionId": "s2", "connectionCount": 0}))

	f, err := read(t, quiet)
	require.NoError(t, err)
	require.Equal(t, "FatalError", f.Type)
	require.Equal(t, "no Connect within 300ms of opening the connection", f.Error)
	_, err = read(t, quiet)
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.ClosePolicyViolation, ce.Code)

	// The one that said Connect is still served: its query set is answered.
	require.NoError(t, talker.WriteJSON(map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []any{}}))
	f, err = read(t, talker)
	require.NoError(t, err)
	require.Equal(t, "Transition", f.Type)

	res, err := http.Get(s.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Contains(t, string(body), `parley_transport_refused_total{reason="connect_timeout"} 1`)
}
