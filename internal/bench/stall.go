package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/bench/dataset"
	"github.com/parley-chat/parley/internal/bench/lite"
	"github.com/parley-chat/parley/internal/bench/scrape"
)

const (
	// stallReceiveBuffer is the SO_RCVBUF of a stalled client's socket, so
	// that the server's writes back up after little data.
	stallReceiveBuffer = 4096
	// closedIdle is how long a stalled client, once it reads again, waits
	// for more data or the end of its connection before calling it open;
	// closedLimit bounds the whole drain.
	closedIdle  = 2 * time.Second
	closedLimit = time.Minute
)

// stalledClient is a WebSocket that subscribed and then stopped reading:
// it speaks just enough of the sync protocol to get results pushed.
type stalledClient struct {
	conn *websocket.Conn
}

// openStalled connects as ident, subscribes getMessages and
// getConversations of convID, reads until the first results have arrived,
// and never reads again.
func (r *Runner) openStalled(ctx context.Context, ident functions.Identity, convID string, n int) (*stalledClient, error) {
	tok, err := r.cfg.Mint(ident)
	if err != nil {
		return nil, err
	}
	u, err := lite.SyncURL(r.node(n)) // round robin, as a fleet's sessions
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{HandshakeTimeout: dialTimeout, ReadBufferSize: 1024, WriteBufferSize: 1024,
		NetDialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, _, err := d.DialContext(dctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	reason := "InitialConnect"
	msgs := []any{
		map[string]any{"type": "Connect", "sessionId": fmt.Sprintf("%s-%s-stall-%d", dataset.IDPrefix, r.run, n),
			"connectionCount": 0, "lastCloseReason": reason, "clientTs": time.Now().UnixMilli()},
		map[string]any{"type": "Authenticate", "tokenType": "User", "value": tok, "baseVersion": 0},
		map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []any{
			map[string]any{"type": "Add", "queryId": 0, "udfPath": fnMessages,
				"args": []any{map[string]any{"conversationId": convID, "limit": r.cfg.PageSize}}},
			map[string]any{"type": "Add", "queryId": 1, "udfPath": fnConversations, "args": []any{map[string]any{}}},
		}},
	}
	for _, m := range msgs {
		if err := conn.WriteJSON(m); err != nil {
			conn.Close()
			return nil, fmt.Errorf("stalled client: write: %w", err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(firstTimeout))
	for {
		var m struct {
			Type       string `json:"type"`
			Error      string `json:"error"`
			EndVersion *struct {
				QuerySet uint32 `json:"querySet"`
				Identity uint32 `json:"identity"`
			} `json:"endVersion"`
		}
		_, data, err := conn.ReadMessage()
		if err == nil {
			err = json.Unmarshal(data, &m)
		}
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("stalled client: first results: %w", err)
		}
		switch {
		case m.Type == "AuthError" || m.Type == "FatalError":
			conn.Close()
			return nil, fmt.Errorf("stalled client: %s: %s", m.Type, m.Error)
		case m.Type == "Transition" && m.EndVersion != nil && m.EndVersion.QuerySet >= 1 && m.EndVersion.Identity >= 1:
			return &stalledClient{conn: conn}, nil
		}
	}
}

func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, stallReceiveBuffer)
	})
	return errors.Join(err, serr)
}

// closedByServer reads again, draining what the kernel buffered, and
// reports whether the connection ends (the server closed it): it gives up
// when nothing arrives for idle, or after limit.
func (s *stalledClient) closedByServer(idle, limit time.Duration) bool {
	defer s.conn.Close()
	deadline := time.Now().Add(limit)
	for {
		next := time.Now().Add(idle)
		if next.After(deadline) {
			next = deadline
		}
		_ = s.conn.SetReadDeadline(next)
		_, rd, err := s.conn.NextReader()
		if err == nil {
			_, err = io.Copy(io.Discard, rd)
		}
		if err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// scenarioStall: clients that stop reading while writes continue.
func (r *Runner) scenarioStall(ctx context.Context) []Row {
	c := r.cfg.Stall
	g := dataset.Group{Prefix: dataset.IDPrefix + "s", Convs: 1, Staff: c.Viewers + c.Clients, History: r.cfg.PageSize, Padding: c.ContentBytes}
	if err := r.prepare(ctx, g); err != nil {
		return failed("stall", err)
	}
	f := r.newFleet("stall", convIDs(g))
	defer f.close()
	if err := f.connect(ctx, twoParty(g, c.Viewers)); err != nil {
		return failed("stall", err)
	}
	base, err := r.srv.Metrics(ctx)
	if err != nil {
		return failed("stall", err)
	}
	baseline := base.Get(scrape.Sessions)
	stalled := make([]*stalledClient, c.Clients)
	cg, cctx := errgroup.WithContext(ctx)
	cg.SetLimit(r.cfg.DialConcurrency)
	for i := range stalled {
		cg.Go(func() error {
			// Staff members after the healthy viewers'.
			s, err := r.openStalled(cctx, g.StaffMember(0, c.Viewers+i), g.ConvID(0), i)
			stalled[i] = s
			return err
		})
	}
	err = cg.Wait()
	defer func() {
		for _, s := range stalled {
			if s != nil {
				s.conn.Close()
			}
		}
	}()
	if err != nil {
		return failed("stall", err)
	}
	r.log.Info("stalled clients connected", slog.Int("clients", c.Clients))

	row := r.measure(ctx, f, load{name: "stall", rate: c.Rate, sqlShare: r.cfg.SQLShare, window: c.Duration, padding: c.ContentBytes})
	row.Sessions += c.Clients
	row.Subscriptions += 2 * c.Clients
	res := &StallResult{Clients: c.Clients, ClosedAfterS: -1}
	closed := make([]bool, len(stalled))
	var wg errgroup.Group
	for i, s := range stalled {
		wg.Go(func() error {
			closed[i] = s.closedByServer(min(closedIdle, c.Duration), closedLimit)
			return nil
		})
	}
	_ = wg.Wait()
	for _, ok := range closed {
		if ok {
			res.Closed++
		}
	}
	for _, p := range row.Series {
		res.RSSMax = max(res.RSSMax, p.RSS)
		if res.RSSStart == 0 {
			res.RSSStart = p.RSS
		}
		res.RSSEnd = p.RSS
		if res.ClosedAfterS < 0 && p.Sessions <= baseline {
			res.ClosedAfterS = p.T
		}
	}
	row.Stall = res
	if row.Error == "" {
		when := "the server's session count never fell back during the window"
		if res.ClosedAfterS >= 0 {
			when = fmt.Sprintf("the server's session count was back to %.0f %.1fs after the writes began", baseline, res.ClosedAfterS)
		}
		row.Notes = append(row.Notes, fmt.Sprintf("%d of %d stalled clients closed by the server; %s; server RSS %.1f MB at start, %.1f MB max, %.1f MB at end",
			res.Closed, res.Clients, when, res.RSSStart/(1<<20), res.RSSMax/(1<<20), res.RSSEnd/(1<<20)))
	}
	return []Row{row}
}
