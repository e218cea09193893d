package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/schema"
)

// wsSync is the sync protocol over a WebSocket, as a syncConn.
type wsSync struct{ c *websocket.Conn }

func dialWSSync(t *testing.T, s *parleytest.Server) *wsSync {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.Server.Addr().String()+"/api/1.48.0/sync", nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &wsSync{c: c}
}

func (c *wsSync) send(t *testing.T, msgs ...any) {
	t.Helper()
	for _, m := range msgs {
		require.NoError(t, c.c.WriteJSON(m))
	}
}

func (c *wsSync) next(t *testing.T) syncFrame {
	t.Helper()
	require.NoError(t, c.c.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, data, err := c.c.ReadMessage()
	if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
		return syncFrame{Type: "close", Error: ce.Text}
	}
	require.NoError(t, err)
	var f syncFrame
	require.NoError(t, json.Unmarshal(data, &f))
	return f
}

// A client that subscribes to many large pages at once, as one does when
// it reconnects with its history open, gets every first result and every
// update even when together they are far beyond MaxPendingBytes: the
// results waiting for it are the engine's own, coalesced per query, not a
// queue of its session's, and the client reads them. Twelve pages of
// ~1.5 MB (messages of 4,000 emoji) are ~18 MB against the default 8 MiB,
// in one transition; a new message changes all twelve at once. Over
// every transport of the sync protocol.
func TestLargeResultsReachAReadingClient(t *testing.T) {
	s := parleytest.Start(t)
	ctx := context.Background()
	content := strings.Repeat("😀", chat.MaxContentChars)
	insert := func(id string) {
		_, err := s.DB.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
			VALUES ($1, $2, $3, 'customer', 'text', $4)`, id, schema.DemoConversationID, schema.DemoCustomerID, content)
		require.NoError(t, err)
	}
	for i := range chat.MaxMessageLimit {
		insert(fmt.Sprintf("large%04d", i))
	}
	tok := s.Token(t, functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer})
	const pages = 12
	var adds []any
	for i := range pages {
		adds = append(adds, map[string]any{"type": "Add", "queryId": i, "udfPath": "shared/chat:getMessages",
			"args": []any{map[string]any{"conversationId": schema.DemoConversationID, "limit": chat.MaxMessageLimit - i}}})
	}

	for _, tt := range []struct {
		name string
		dial func(*testing.T, *parleytest.Server) syncConn
	}{
		{name: "ws", dial: func(t *testing.T, s *parleytest.Server) syncConn { return dialWSSync(t, s) }},
		{name: "sse", dial: func(t *testing.T, s *parleytest.Server) syncConn { return dialSSESync(t, s) }},
		{name: "poll", dial: func(t *testing.T, s *parleytest.Server) syncConn { return dialPollSync(t, s) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.dial(t, s)
			c.send(t,
				map[string]any{"type": "Connect", "sessionId": "large-" + tt.name, "connectionCount": 0},
				map[string]any{"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": tok},
				map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": adds})
			// Read as a client does until every page is done.
			bytes := 0
			read := func(what string, done func(query uint32, page chat.MessagePage) bool) {
				seen := map[uint32]bool{}
				for len(seen) < pages {
					f := c.next(t)
					require.NotEqual(t, "close", f.Type, "%s: the session closed after %d of %d pages (%d bytes): %s", what, len(seen), pages, bytes, f.Error)
					for _, m := range f.Modifications {
						require.Equal(t, "QueryUpdated", m.Type, "query %d", m.QueryID)
						bytes += len(m.Value)
						var page chat.MessagePage
						require.NoError(t, json.Unmarshal(m.Value, &page))
						if done(m.QueryID, page) {
							seen[m.QueryID] = true
						}
					}
				}
			}
			read("first results", func(q uint32, page chat.MessagePage) bool {
				require.Len(t, page.Messages, chat.MaxMessageLimit-int(q), "page %d is whole", q)
				return true
			})
			insert("new-" + tt.name)
			read("the update", func(_ uint32, page chat.MessagePage) bool {
				return len(page.Messages) > 0 && page.Messages[0].ID == "new-"+tt.name
			})
			require.Greater(t, bytes, 2*(8<<20), "the results are far beyond the default bound")
			require.Zero(t, s.Server.Engine.Stats().ClosedSlow, "no session was closed as too slow")
		})
	}
}
