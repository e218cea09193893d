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

// A client that subscribes to many large pages at once, as one does when
// it reconnects with its history open, gets every first result even when
// together they are far beyond MaxPendingBytes: the results waiting for it
// are the engine's own, not a queue of its session's, and the client
// reads them. Twelve pages of ~1.5 MB (messages of 4,000 emoji) are
// ~18 MB against the default 8 MiB.
func TestLargeFirstResultsReachAReadingClient(t *testing.T) {
	s := parleytest.Start(t)
	ctx := context.Background()
	content := strings.Repeat("😀", chat.MaxContentChars)
	for i := range chat.MaxMessageLimit {
		_, err := s.DB.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
			VALUES ($1, $2, $3, 'customer', 'text', $4)`, fmt.Sprintf("large%04d", i), schema.DemoConversationID, schema.DemoCustomerID, content)
		require.NoError(t, err)
	}

	c, _, err := websocket.DefaultDialer.Dial("ws://"+s.Server.Addr().String()+"/api/1.48.0/sync", nil)
	require.NoError(t, err)
	defer c.Close()
	tok := s.Token(t, functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer})
	const pages = 12
	var adds []any
	for i := range pages {
		adds = append(adds, map[string]any{"type": "Add", "queryId": i, "udfPath": "shared/chat:getMessages",
			"args": []any{map[string]any{"conversationId": schema.DemoConversationID, "limit": chat.MaxMessageLimit - i}}})
	}
	require.NoError(t, c.WriteJSON(map[string]any{"type": "Connect", "sessionId": "s1", "connectionCount": 0}))
	require.NoError(t, c.WriteJSON(map[string]any{"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": tok}))
	require.NoError(t, c.WriteJSON(map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": adds}))

	// Read as a client does, until every page has its first result; then
	// a new message changes every page at once, and the client gets them
	// all again.
	total := 0
	read := func(what string, done func(query int, page chat.MessagePage) bool) {
		seen := map[int]bool{}
		for len(seen) < pages {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
			_, data, err := c.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				require.FailNow(t, "the session closed", "%s: after %d of %d pages (%d bytes read): %s", what, len(seen), pages, total, ce.Text)
			}
			require.NoError(t, err)
			total += len(data)
			var f struct {
				Modifications []struct {
					Type    string          `json:"type"`
					QueryID int             `json:"queryId"`
					Value   json.RawMessage `json:"value"`
				} `json:"modifications"`
			}
			require.NoError(t, json.Unmarshal(data, &f))
			for _, m := range f.Modifications {
				require.Equal(t, "QueryUpdated", m.Type, "query %d", m.QueryID)
				var page chat.MessagePage
				require.NoError(t, json.Unmarshal(m.Value, &page))
				if done(m.QueryID, page) {
					seen[m.QueryID] = true
				}
			}
		}
	}
	read("first results", func(q int, page chat.MessagePage) bool {
		require.Len(t, page.Messages, chat.MaxMessageLimit-q, "page %d is whole", q)
		return true
	})
	_, err = s.DB.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
		VALUES ('large-new', $1, $2, 'customer', 'text', $3)`, schema.DemoConversationID, schema.DemoCustomerID, content)
	require.NoError(t, err)
	read("the update", func(q int, page chat.MessagePage) bool {
		return len(page.Messages) > 0 && page.Messages[0].ID == "large-new"
	})
	require.Greater(t, total, 2*8<<20, "the first results are far beyond the default bound")
	require.Equal(t, 1, s.Server.Engine.Stats().Sessions, "the session is still open")
	require.Zero(t, s.Server.Engine.Stats().ClosedSlow)
}
