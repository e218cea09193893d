package chaos

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// stallConn is a client connection that stops reading when told: every
// Read after the stall blocks until release is closed. With a small
// receive buffer, the server's writes to it soon block.
type stallConn struct {
	net.Conn
	stalled *atomic.Bool
	release chan struct{}
}

func (c *stallConn) Read(p []byte) (int, error) {
	if c.stalled.Load() {
		<-c.release
		return 0, net.ErrClosed
	}
	return c.Conn.Read(p)
}

// stalledClient is a sync client subscribed to a big getMessages page
// that never reads again once stalled.
type stalledClient struct {
	c       *syncclient.Client
	stalled atomic.Bool
	release chan struct{}
}

func dialStalled(ctx context.Context, e *env) (*stalledClient, error) {
	s := &stalledClient{release: make(chan struct{})}
	d := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			if err != nil {
				return err
			}
			return serr
		}}
		conn, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: conn, stalled: &s.stalled, release: s.release}, nil
	}}
	c, err := syncclient.Dial(ctx, e.url, syncclient.Options{Token: e.john, Dialer: d, InactivityTimeout: -1})
	if err != nil {
		return nil, err
	}
	s.c = c
	sub, err := c.Subscribe("shared/chat:getMessages", map[string]any{"conversationId": schema.DemoConversationID, "limit": 100})
	if err != nil {
		s.close()
		return nil, err
	}
	if _, err := sub.Wait(ctx); err != nil {
		s.close()
		return nil, err
	}
	s.stalled.Store(true)
	return s, nil
}

func (s *stalledClient) close() {
	close(s.release)
	s.c.Close()
}

// stalledReaders connects f.stalled clients that subscribe and then stop
// reading, while the writers go on for f.stallFor: the server must close
// them (its write timeout) or at least bound what it holds for them,
// and the other clients must not notice.
func stalledReaders(t *testing.T, e *env, f form, r *row) {
	h, _ := e.health()
	baseline, slowBefore := h.Sessions, h.SessionsClosedSlow
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var clients []*stalledClient
	t.Cleanup(func() {
		for _, c := range clients {
			c.close()
		}
	})
	for range f.stalled {
		c, err := dialStalled(ctx, e)
		if err != nil {
			t.Fatalf("dial a stalled client: %v", err)
		}
		clients = append(clients, c)
	}
	start := time.Now()
	var closedAfter time.Duration
	var peak int
	for time.Since(start) < f.stallFor || closedAfter == 0 && time.Since(start) < f.stallFor+time.Minute {
		if s, err := e.srv.sample(); err == nil && s.rssKiB > peak {
			peak = s.rssKiB
		}
		if h, _ := e.health(); closedAfter == 0 && h.Sessions <= baseline {
			closedAfter = time.Since(start)
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.notes = append(r.notes, fmt.Sprintf("peak RSS %d MiB while %d clients did not read", peak>>10, f.stalled))
	if closedAfter == 0 {
		msg := fmt.Sprintf("the server kept %d clients that stopped reading for %s", f.stalled, f.stallFor+time.Minute)
		r.problems = append(r.problems, msg)
		t.Error(msg)
	} else {
		r.notes = append(r.notes, fmt.Sprintf("server closed them after %s", closedAfter.Round(time.Second)))
	}
	if h, _ := e.health(); h.SessionsClosedSlow < slowBefore+uint64(f.stalled) {
		msg := fmt.Sprintf("healthz counts %d sessions closed for being slow, want %d more than the %d before",
			h.SessionsClosedSlow, f.stalled, slowBefore)
		r.problems = append(r.problems, msg)
		t.Error(msg)
	} else {
		r.notes = append(r.notes, fmt.Sprintf("healthz: sessionsClosedSlow +%d", h.SessionsClosedSlow-slowBefore))
	}
	if peak > r.before.rssKiB+rssSlackKiB {
		msg := fmt.Sprintf("RSS reached %d MiB while clients did not read (before: %d MiB)", peak>>10, r.before.rssKiB>>10)
		r.problems = append(r.problems, msg)
		t.Error(msg)
	}
}
