package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// staleTimeout bounds the wait for the server to notice an outage or its
// end; the replication stream reconnects with a growing backoff.
const staleTimeout = 60 * time.Second

// statusConn is a bare sync connection that opted in to ParleyStatus
// messages (?parleyStatus=1). It sends Connect and nothing else, and
// collects the stale flags of the ParleyStatus messages it receives.
type statusConn struct {
	statuses chan bool
	errs     chan error
}

func dialStatus(t *testing.T, s *parleytest.Server) *statusConn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/api/" + syncclient.DefaultClientVersion + "/sync?parleyStatus=1"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	require.NoError(t, err)
	require.NoError(t, conn.WriteJSON(map[string]any{"type": "Connect", "sessionId": "6ba7b810-9dad-41d1-80b4-00c04fd430c8",
		"connectionCount": 0, "lastCloseReason": "InitialConnect", "clientTs": time.Now().UnixMilli()}))
	c := &statusConn{statuses: make(chan bool, 16), errs: make(chan error, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m struct {
				Type  string `json:"type"`
				Stale *bool  `json:"stale"`
			}
			if err := conn.ReadJSON(&m); err != nil {
				c.errs <- err
				return
			}
			if m.Type != "ParleyStatus" {
				continue
			}
			if m.Stale == nil {
				c.errs <- errors.New("ParleyStatus without stale")
				return
			}
			c.statuses <- *m.Stale
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return c
}

// next returns the stale flag of the next ParleyStatus message.
func (c *statusConn) next(t *testing.T) bool {
	t.Helper()
	select {
	case v := <-c.statuses:
		return v
	case err := <-c.errs:
		t.Fatalf("status connection ended: %v", err)
	case <-time.After(staleTimeout):
		t.Fatal("no ParleyStatus message")
	}
	return false
}

// waitHealth waits until /healthz reports stale as want, with the status
// that goes with it.
func waitHealth(t *testing.T, s *parleytest.Server, want bool) {
	t.Helper()
	status := map[bool]string{false: "ok", true: "degraded"}[want]
	pgtest.Eventually(t, staleTimeout, func() error {
		h, err := s.Health()
		if err != nil {
			return err
		}
		if h.Stale != want || h.Status != status {
			return fmt.Errorf("healthz: stale %v, status %q; want stale %v, status %q", h.Stale, h.Status, want, status)
		}
		return nil
	})
}

// While the server cannot reach the database, /healthz says its live
// results are stale, and so does a ParleyStatus message to a client that
// opted in; both say fresh again once it is back. A client that did not
// opt in (the official Convex client) never gets a ParleyStatus: the sync
// client, like it, takes an unknown message type for a protocol error,
// which parleytest's Dial fails the test on.
func TestStaleWhileTheDatabaseIsUnreachable(t *testing.T) {
	s, l := startBehindLink(t, 300*time.Millisecond)
	waitHealth(t, s, false)
	status := dialStatus(t, s)
	require.False(t, status.next(t), "the first ParleyStatus, at connect")

	plain := s.Dial(t, parleytest.John, syncclient.Options{})
	sub, err := plain.Subscribe("shared/chat:getConversation", map[string]any{"conversationId": schema.DemoConversationID})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), staleTimeout)
	defer cancel()
	_, err = sub.Wait(ctx)
	require.NoError(t, err)

	l.Cut()
	waitHealth(t, s, true)
	require.True(t, status.next(t), "ParleyStatus once the database is unreachable")

	l.Restore()
	waitHealth(t, s, false)
	require.False(t, status.next(t), "ParleyStatus once the database is back")

	// Every message the server queued for the plain client before this
	// mutation's response reaches it first: had a ParleyStatus been among
	// them, its client would have recorded a protocol violation.
	_, err = plain.Mutation(ctx, "shared/chat:sendMessage", map[string]any{
		"conversationId": schema.DemoConversationID, "content": "after the outage", "messageType": "text"})
	require.NoError(t, err)
	require.Empty(t, plain.ProtocolErrors())
}

// Killing the walsender interrupts the replication stream: /healthz
// reports stale while the stream cannot come back (the database refuses
// new connections), and fresh again once it has.
func TestStaleAfterTheWalsenderIsTerminated(t *testing.T) {
	s := parleytest.Start(t)
	waitHealth(t, s, false)
	var db string
	require.NoError(t, s.DB.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db))
	// A database cannot refuse connections to itself: ask from another.
	cfg, err := pgx.ParseConfig(s.DBURL)
	require.NoError(t, err)
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	allow := func(on bool) {
		_, err := conn.Exec(context.Background(), fmt.Sprintf(`ALTER DATABASE %q WITH ALLOW_CONNECTIONS %v`, db, on))
		require.NoError(t, err)
	}
	allow(false)
	defer allow(true) // a no-op once the test has allowed them again
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(r.pid))
		FROM pg_stat_replication r JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1`, db).Scan(&n))
	require.NotZero(t, n, "no walsender to terminate")
	waitHealth(t, s, true)
	allow(true)
	waitHealth(t, s, false)
}
