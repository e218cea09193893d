package server_test

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/reactive"
	"github.com/parley-chat/parley/reactive/pgrepl"
	"github.com/parley-chat/parley/schema"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A connection that never sends a request (HTTP clients dial spares) does
// not make Run fail: after the grace period it is closed and Run returns
// nil (parleytest's cleanup requires it).
func TestRunStopsDespiteASilentConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the shutdown grace period")
	}
	var silent net.Conn
	t.Cleanup(func() { // registered first: runs after the server has stopped
		if silent != nil {
			silent.Close()
		}
	})
	s := parleytest.Start(t)
	var err error
	silent, err = net.Dial("tcp", s.Server.Addr().String())
	require.NoError(t, err)
}

// opaqueSource is a change source that says nothing of itself: it hides
// the pgrepl.Source it wraps behind the bare reactive.ChangeSource.
type opaqueSource struct{ reactive.ChangeSource }

// The server follows whatever change source it is given: a commit made by
// SQL reaches a subscription through it, and /healthz, which cannot ask a
// source that is not a reactive.StatusReporter, reports it connected once
// the engine has applied its first Reset, with no slot.
func TestServerFollowsTheGivenChangeSource(t *testing.T) {
	var src reactive.ChangeSource
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		pg, err := pgrepl.New(pgrepl.Config{ConnString: cfg.DatabaseURL, Publication: schema.Publication})
		require.NoError(t, err)
		src = opaqueSource{pg}
		cfg.Source = src
	})
	require.Equal(t, src, s.Server.Source)
	h, err := s.Health()
	require.NoError(t, err)
	require.Equal(t, "ok", h.Status)
	require.True(t, h.Replication.Connected)
	require.Empty(t, h.Replication.Slot, "an opaque source names no slot")

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := s.Dial(t, parleytest.John, syncclient.Options{})
	sub, err := c.Subscribe("shared/chat:getConversation", map[string]any{"conversationId": schema.DemoConversationID})
	require.NoError(t, err)
	_, err = sub.Wait(ctx)
	require.NoError(t, err)
	_, err = s.DB.Exec(ctx, `UPDATE conversations SET last_message_preview = 'from the shop backend' WHERE id = $1`, schema.DemoConversationID)
	require.NoError(t, err)
	for {
		var u syncclient.Update
		select {
		case u = <-sub.Updates():
		case <-ctx.Done():
			t.Fatal("the commit never reached the subscription")
		}
		require.False(t, u.Failed, u.ErrorMessage)
		var doc chat.ConversationDoc
		require.NoError(t, json.Unmarshal(u.Value, &doc))
		if doc.LastMessagePreview != nil && *doc.LastMessagePreview == "from the shop backend" {
			return
		}
	}
}
