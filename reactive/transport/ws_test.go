package transport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

// clientFrame is a masked text frame, as clients send them.
func clientFrame(t *testing.T, msg any) []byte {
	payload, err := json.Marshal(msg)
	require.NoError(t, err)
	require.Less(t, len(payload), 1<<16)
	f := []byte{0x81}
	if n := len(payload); n < 126 {
		f = append(f, 0x80|byte(n))
	} else {
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	}
	mask := [4]byte{7, 1, 9, 3}
	f = append(f, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	return f
}

// Messages that reach the server together are all handled: an idle
// connection waits for the socket only when gorilla holds no unread data,
// so a message already in its buffer is never left waiting for the next.
// Also when the last one arrives in two pieces.
func TestMessagesArrivingTogetherAreHandled(t *testing.T) {
	s := parleytest.Start(t)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.Server.Addr().String()+"/api/1.48.0/sync", nil)
	require.NoError(t, err)
	defer c.Close()
	burst := connectAndAdd(t)
	last := removeQuery(t)
	// The whole burst fits in the connection's read buffer: one read
	// takes all of it from the socket.
	require.Less(t, len(burst)+5, 256)
	burst = append(burst, last[:5]...)
	_, err = c.NetConn().Write(burst)
	require.NoError(t, err)
	f := readUntil(t, c, "Transition")
	require.Equal(t, uint32(1), f.EndVersion.QuerySet)

	time.Sleep(50 * time.Millisecond) // the server has read the first piece
	_, err = c.NetConn().Write(last[5:])
	require.NoError(t, err)
	f = readUntil(t, c, "Transition")
	require.Equal(t, uint32(2), f.EndVersion.QuerySet)
}

// connectAndAdd is a session's first two messages, as one write: Connect,
// and a query set (version 1) with getChatSettings as query 0.
func connectAndAdd(t *testing.T) []byte {
	b := clientFrame(t, map[string]any{"type": "Connect", "sessionId": "s1", "connectionCount": 0})
	return append(b, clientFrame(t, map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
		"modifications": []any{map[string]any{"type": "Add", "queryId": 0, "udfPath": "shared/chat:getChatSettings", "args": []any{map[string]any{}}}}})...)
}

// removeQuery removes query 0 (query set version 2).
func removeQuery(t *testing.T) []byte {
	return clientFrame(t, map[string]any{"type": "ModifyQuerySet", "baseVersion": 1, "newVersion": 2,
		"modifications": []any{map[string]any{"type": "Remove", "queryId": 0}}})
}

// readUntil reads messages up to the first of type typ, skipping pings.
func readUntil(t *testing.T, c *websocket.Conn, typ string) versionFrame {
	t.Helper()
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := c.ReadMessage()
		require.NoError(t, err)
		var f versionFrame
		require.NoError(t, json.Unmarshal(data, &f))
		if f.Type == typ {
			return f
		}
		require.Equal(t, "Ping", f.Type, "%s", data)
	}
}

type versionFrame struct {
	Type       string `json:"type"`
	EndVersion struct {
		QuerySet uint32 `json:"querySet"`
	} `json:"endVersion"`
}

// opaqueListener hands out connections that hide their socket, as TLS
// connections do.
type opaqueListener struct{ net.Listener }

type opaqueConn struct{ net.Conn } // no SyscallConn

func (l opaqueListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return opaqueConn{c}, nil
}

// Where the connection is not a socket the reader cannot wait without
// reading; it reads on its own goroutine instead, and messages, together
// or apart, are handled all the same.
func TestMessagesOverAConnectionThatIsNotASocket(t *testing.T) {
	s := parleytest.StartWrapped(t, func(ln net.Listener) net.Listener { return opaqueListener{ln} })
	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.Server.Addr().String()+"/api/1.48.0/sync", nil)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.NetConn().Write(connectAndAdd(t))
	require.NoError(t, err)
	require.Equal(t, uint32(1), readUntil(t, c, "Transition").EndVersion.QuerySet)
	_, err = c.NetConn().Write(removeQuery(t))
	require.NoError(t, err)
	require.Equal(t, uint32(2), readUntil(t, c, "Transition").EndVersion.QuerySet)
}

// A client that stops reading is disconnected once a write to it has not
// finished within the write timeout: its session ends instead of waiting
// on the socket for as long as the client keeps it open, and counts as
// closed for being too slow. The client reads nothing while the server
// pushes pages of large messages. (Its results waiting meanwhile are the
// engine's, coalesced: MaxPendingBytes does not count them.)
func TestClientThatStopsReadingIsDisconnected(t *testing.T) {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) { cfg.WriteTimeout = 300 * time.Millisecond })
	dialer := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			err = conn.(*net.TCPConn).SetReadBuffer(4096) // the server's writes back up soon
		}
		return conn, err
	}}
	c, _, err := dialer.Dial("ws://"+s.Server.Addr().String()+"/api/1.48.0/sync", nil)
	require.NoError(t, err)
	defer c.Close()
	tok := s.Token(t, functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer})
	require.NoError(t, c.WriteJSON(map[string]any{"type": "Connect", "sessionId": "s1", "connectionCount": 0}))
	require.NoError(t, c.WriteJSON(map[string]any{"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": tok}))
	require.NoError(t, c.WriteJSON(map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
		"modifications": []any{map[string]any{"type": "Add", "queryId": 0, "udfPath": "shared/chat:getMessages",
			"args": []any{map[string]any{"conversationId": schema.DemoConversationID, "limit": chat.MaxMessageLimit}}}}}))
	for f := readUntil(t, c, "Transition"); f.EndVersion.QuerySet != 1; f = readUntil(t, c, "Transition") {
	}
	require.Equal(t, 1, s.Server.Engine.Stats().Sessions)

	// Every message makes the page about 30 KB larger, up to 100 of them;
	// the client reads none. Messages go on until the session ends: how
	// much the sockets' buffers take before a write blocks is the
	// kernel's business.
	ctx := context.Background()
	big := strings.Repeat("x", 30_000)
	sent := 0
	pgtest.Eventually(t, 30*time.Second, func() error {
		if s.Server.Engine.Stats().Sessions == 0 {
			return nil
		}
		_, err := s.DB.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
			VALUES ($1, $2, $3, 'customer', 'text', $4)`, fmt.Sprintf("stall%04d", sent), schema.DemoConversationID, schema.DemoCustomerID, big)
		require.NoError(t, err)
		sent++
		return fmt.Errorf("the session is still open after %d messages", sent)
	})
	require.Equal(t, uint64(1), s.Server.Engine.Stats().ClosedSlow, "closed as too slow")
}
