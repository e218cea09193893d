package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-chat/parley/reactive"
)

// maxInFlight bounds the commits published and not yet acknowledged: the
// reader stops reading the slot beyond it (backpressure).
const maxInFlight = 1024

// elect tries, every ElectEvery while NATS is reachable, to take the
// reader's lock: a session-level advisory lock on a connection of its
// own. The holder reads the slot for as long as that connection and NATS
// both stay up. Losing either ends the term: the lock goes with the
// connection (Postgres releases it when the session ends, however it
// ends: kill -9 included), and a reader that cannot publish gives it up.
func (s *Source) elect(ctx context.Context) error {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	t := time.NewTicker(s.cfg.ElectEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !s.cfg.NATS.IsConnected() {
			continue
		}
		if conn == nil || conn.IsClosed() {
			c, err := pgx.Connect(ctx, s.cfg.DatabaseURL)
			if err != nil {
				s.log.Debug("cluster: election: connect", slog.Any("err", err))
				continue
			}
			conn = c
		}
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, lockName(s.cfg.Name)).Scan(&got); err != nil {
			s.log.Debug("cluster: election: try lock", slog.Any("err", err))
			_ = conn.Close(ctx)
			conn = nil
			continue
		}
		if !got {
			continue
		}
		s.lead(ctx, conn)
		// However the reign ended, drop the session: it frees the lock.
		_ = conn.Close(context.Background())
		conn = nil
	}
}

// lockName is the advisory lock's key text; hashtext makes it the key.
func lockName(name string) string { return "parley cluster reader " + name }

// lead reads the slot while conn (holding the lock) and NATS stay up.
// Each term runs a fresh reader and publisher; a term ended by a failed
// publish is followed by another while the lock is held.
func (s *Source) lead(ctx context.Context, conn *pgx.Conn) {
	s.leading.Store(true)
	defer s.leading.Store(false)
	s.log.Info("cluster: this node is the reader now")
	defer s.log.Info("cluster: this node no longer reads")
	for ctx.Err() == nil {
		term := uint64(s.terms.Add(1))
		lctx, lost := context.WithCancelCause(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { s.hold(lctx, lost, conn) })
		err := s.term(lctx, lost, term)
		lost(err)
		wg.Wait()
		cause := context.Cause(lctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(cause, errLockLost) || errors.Is(cause, errNATSDown) {
			s.log.Warn("cluster: reader stepping down", slog.Any("cause", cause))
			return
		}
		s.log.Warn("cluster: reader term ended; starting another", slog.Any("cause", cause))
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var (
	errLockLost = errors.New("cluster: lost the reader's lock (its database session ended)")
	errNATSDown = errors.New("cluster: NATS unreachable")
)

// hold ends the term (lost) when the lock's session or NATS goes away,
// and sends the reader's heartbeats meanwhile.
func (s *Source) hold(ctx context.Context, lost context.CancelCauseFunc, conn *pgx.Conn) {
	beatT := time.NewTicker(s.cfg.Heartbeat)
	defer beatT.Stop()
	pingEvery := time.Second
	nextPing := time.Now().Add(pingEvery)
	var natsDownSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-beatT.C:
		}
		if !s.cfg.NATS.IsConnected() {
			if natsDownSince.IsZero() {
				natsDownSince = time.Now()
			} else if time.Since(natsDownSince) > s.cfg.StaleAfter {
				lost(errNATSDown)
				return
			}
		} else {
			natsDownSince = time.Time{}
		}
		s.sendBeat()
		if time.Now().After(nextPing) {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				lost(fmt.Errorf("%w: %w", errLockLost, err))
				return
			}
			nextPing = time.Now().Add(pingEvery)
		}
	}
}

func (s *Source) sendBeat() {
	p := s.pub.Load()
	b, _ := json.Marshal(beat{Node: s.cfg.NodeID, Streaming: p != nil && p.streaming.Load(), Term: uint64(s.terms.Load())})
	_ = s.cfg.NATS.Publish(s.beatSubject(), b)
}

// term runs one reader until ctx ends or publishing fails.
func (s *Source) term(ctx context.Context, lost context.CancelCauseFunc, term uint64) error {
	st, err := s.ensureStream(ctx)
	if err != nil {
		return err
	}
	p, err := s.newPublisher(ctx, st, lost)
	if err != nil {
		return err
	}
	s.pub.Store(p)
	defer s.pub.Store(nil)
	reader, err := s.cfg.Reader()
	if err != nil {
		return fmt.Errorf("cluster: make reader: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.acks(ctx) })
	wg.Go(func() { p.keepalive(ctx, s.cfg.Retention/4) })
	defer wg.Wait()
	s.log.Info("cluster: reading the slot", slog.Uint64("term", term), slog.String("from", p.Applied().String()))
	if err := reader.Run(ctx, p); err != nil {
		return fmt.Errorf("cluster: reader: %w", err)
	}
	return context.Cause(ctx)
}

// publisher is the reader's sink: it publishes what the slot delivers
// and reports as applied (so the slot confirms as flushed) only what the
// stream has acknowledged. Every message expects the previous one's id
// as the stream's last (Nats-Expected-Last-Msg-Id), so two readers
// cannot interleave and a lost message cannot be overtaken by the next:
// the stream refuses both, and the term ends and starts again from the
// stream's last message.
type publisher struct {
	s     *Source
	ctx   context.Context // the term's
	limit int             // bytes a commit's body may take
	fail  context.CancelCauseFunc

	mu        sync.Mutex // serialises publishing
	lastID    string     // id of the last message sent
	lastSeq   uint64     // the stream's last sequence when the term began
	published reactive.LSN
	sentAt    time.Time // when the stream last got a message (from this term or before)

	acked     atomic.Uint64 // highest LSN acknowledged, all before it too
	streaming atomic.Bool
	inflight  chan inflight
}

type inflight struct {
	f     jetstream.PubAckFuture
	lsn   reactive.LSN
	reset bool // positions start over at lsn
}

func (s *Source) newPublisher(ctx context.Context, st jetstream.Stream, fail context.CancelCauseFunc) (*publisher, error) {
	p := &publisher{s: s, ctx: ctx, fail: fail, limit: int(s.cfg.NATS.MaxPayload()) - 4096, inflight: make(chan inflight, maxInFlight)}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: stream info: %w", err)
	}
	p.lastSeq = info.State.LastSeq
	if last := info.State.LastSeq; last > 0 {
		m, err := st.GetMsg(ctx, last)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			// Retention emptied the stream: expect its last sequence, and
			// let the slot resume from its own confirmed position.
			return p, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: read the stream's last message: %w", err)
		}
		lsn, err := msgLSN(m.Header)
		if err != nil {
			return nil, fmt.Errorf("cluster: the stream's last message: %w", err)
		}
		p.lastID, p.published = m.Header.Get(jetstream.MsgIDHeader), lsn
		p.sentAt = m.Time
		if now := time.Now(); p.sentAt.After(now) {
			p.sentAt = now // a server clock ahead would put the next keepalive off
		}
		p.acked.Store(uint64(lsn))
	}
	return p, nil
}

// send publishes one message of kind at lsn, chained to the last.
func (p *publisher) send(ctx context.Context, kind string, lsn reactive.LSN, id string, body []byte) error {
	m := nats.NewMsg(p.s.walSubject(kind))
	m.Data = body
	m.Header.Set(kindHdr, kind)
	m.Header.Set(lsnHdr, strconv.FormatUint(uint64(lsn), 10))
	m.Header.Set(nodeHdr, p.s.cfg.NodeID)
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(id)}
	if p.lastID != "" {
		opts = append(opts, jetstream.WithExpectLastMsgID(p.lastID))
	} else {
		// The term's first message into an empty stream: it must still be
		// empty (another reader's message would be there otherwise).
		opts = append(opts, jetstream.WithExpectLastSequence(p.lastSeq))
	}
	f, err := p.s.js.PublishMsgAsync(m, opts...)
	if err != nil {
		err = fmt.Errorf("cluster: publish %s %s: %w", kind, lsn, err)
		p.fail(err)
		return err
	}
	p.lastID, p.sentAt = id, time.Now()
	p.published = max(p.published, lsn)
	if kind == kindReset {
		p.published = lsn
	}
	select {
	case p.inflight <- inflight{f: f, lsn: lsn, reset: kind == kindReset}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// keepalive publishes a progress mark at the position published so far
// whenever the stream has had no message for the duration every
// (Retention/4), WAL activity or not, so that retention never empties a quiet stream: its
// last message always tells a joining node, or the next reader, where
// the stream is. (An empty stream looks like a lost one: a new reader
// would start from the slot's own position and a joining node from
// none.) Each mark has an id of its own, so the stream's duplicate
// window never drops one.
func (p *publisher) keepalive(ctx context.Context, every time.Duration) {
	for ctx.Err() == nil {
		p.mu.Lock()
		wait := time.Until(p.sentAt.Add(every))
		if wait <= 0 {
			lsn := p.published
			_ = p.send(ctx, kindProgress, lsn,
				"k"+strconv.FormatUint(uint64(lsn), 16)+"-"+p.s.cfg.NodeID+"-"+strconv.FormatInt(time.Now().UnixNano(), 36), nil)
			wait = every
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// acks waits for the acknowledgements in order, moving acked; the first
// refusal ends the term.
func (p *publisher) acks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-p.inflight:
			select {
			case <-ctx.Done():
				return
			case <-in.f.Ok():
				if in.reset || uint64(in.lsn) > p.acked.Load() {
					p.acked.Store(uint64(in.lsn))
				}
			case err := <-in.f.Err():
				p.fail(fmt.Errorf("cluster: the stream refused %s: %w", in.lsn, err))
				return
			}
		}
	}
}

// id is a message's Nats-Msg-Id: its kind, position, node and term, so
// that a commit after a reset (positions start over) is never taken for
// an earlier one's duplicate.
func (p *publisher) id(kind string, lsn reactive.LSN) string {
	return kind + strconv.FormatUint(uint64(lsn), 16) + "-" + p.s.cfg.NodeID + "-" + strconv.FormatInt(p.s.terms.Load(), 10)
}

// Commit implements reactive.ChangeSink.
func (p *publisher) Commit(ctx context.Context, c reactive.Commit) error {
	body, err := encodeCommit(c, p.limit)
	if err != nil {
		return fmt.Errorf("cluster: encode commit %s: %w", c.EndLSN, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.send(ctx, kindCommit, c.EndLSN, p.id("c", c.EndLSN), body)
}

// Progress implements reactive.ChangeSink.
func (p *publisher) Progress(lsn reactive.LSN) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if lsn <= p.published {
		return
	}
	_ = p.send(p.ctx, kindProgress, lsn, p.id("p", lsn), nil)
}

// Reset implements reactive.ChangeSink: the slot was made anew, so every
// node re-runs every live query.
func (p *publisher) Reset(lsn reactive.LSN) {
	p.mu.Lock()
	err := p.send(p.ctx, kindReset, lsn,
		"r"+strconv.FormatUint(uint64(lsn), 16)+"-"+p.s.cfg.NodeID+"-"+strconv.FormatInt(time.Now().UnixNano(), 36), nil)
	p.mu.Unlock()
	if err == nil {
		p.streaming.Store(true)
		p.s.sendBeat()
	}
}

// Resume implements reactive.ChangeSink: the slot resumed where the
// stream's acknowledged position ends.
func (p *publisher) Resume(reactive.LSN) {
	p.streaming.Store(true)
	p.s.sendBeat()
}

// Interrupted implements reactive.ChangeSink.
func (p *publisher) Interrupted() {
	p.streaming.Store(false)
	p.s.sendBeat()
}

// Applied implements reactive.ChangeSink: what the stream holds.
func (p *publisher) Applied() reactive.LSN { return reactive.LSN(p.acked.Load()) }

// ProgressWanted implements reactive.ChangeSink: any node's wish.
func (p *publisher) ProgressWanted() <-chan struct{} { return p.s.wanted }
