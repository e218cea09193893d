package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/reactive"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// sink records what a Source delivers.
type sink struct {
	mu        sync.Mutex
	commits   []reactive.LSN
	resets    int
	resetAt   reactive.LSN // the last Reset's position
	resumes   int
	interrupt int
	progress  reactive.LSN
	wanted    chan struct{}
}

func newSink() *sink { return &sink{wanted: make(chan struct{}, 1)} }

func (k *sink) Commit(_ context.Context, c reactive.Commit) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.commits = append(k.commits, c.EndLSN)
	return nil
}
func (k *sink) Progress(l reactive.LSN) { k.mu.Lock(); k.progress = max(k.progress, l); k.mu.Unlock() }
func (k *sink) Reset(l reactive.LSN)    { k.mu.Lock(); k.resets++; k.resetAt = l; k.mu.Unlock() }
func (k *sink) Resume(reactive.LSN)     { k.mu.Lock(); k.resumes++; k.mu.Unlock() }
func (k *sink) Interrupted()            { k.mu.Lock(); k.interrupt++; k.mu.Unlock() }
func (k *sink) Applied() reactive.LSN {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.commits) == 0 {
		return 0
	}
	return k.commits[len(k.commits)-1]
}
func (k *sink) ProgressWanted() <-chan struct{} { return k.wanted }

func (k *sink) snapshot() (commits []reactive.LSN, resets int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]reactive.LSN(nil), k.commits...), k.resets
}

// wal is a scripted replication slot: commits appended to it are
// delivered, in order, to whichever reader runs, from the position the
// reader's sink has applied (as a permanent slot resumes).
type wal struct {
	mu      sync.Mutex
	commits []reactive.LSN
	grew    chan struct{}
	starts  []reactive.LSN // where each reader started
}

func (w *wal) append(lsn reactive.LSN) {
	w.mu.Lock()
	w.commits = append(w.commits, lsn)
	w.mu.Unlock()
	select {
	case w.grew <- struct{}{}:
	default:
	}
}

func (w *wal) reader() (reactive.ChangeSource, error) { return walReader{w}, nil }

type walReader struct{ w *wal }

func (r walReader) Run(ctx context.Context, s reactive.ChangeSink) error {
	from := s.Applied()
	r.w.mu.Lock()
	r.w.starts = append(r.w.starts, from)
	r.w.mu.Unlock()
	s.Resume(from)
	defer s.Interrupted()
	next := from
	for {
		r.w.mu.Lock()
		var todo []reactive.LSN
		for _, l := range r.w.commits {
			if l > next {
				todo = append(todo, l)
			}
		}
		r.w.mu.Unlock()
		for _, l := range todo {
			if err := s.Commit(ctx, reactive.Commit{LSN: l - 1, EndLSN: l, CommitTime: time.Now(),
				Changes: []reactive.Change{{Table: "messages", Op: reactive.OpInsert, New: []reactive.Column{{Name: "id", Value: l.String()}}}}}); err != nil {
				return nil
			}
			next = l
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.w.grew:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type node struct {
	src    *Source
	sink   *sink
	cancel context.CancelFunc
	done   chan error
}

func startNode(t *testing.T, natsURL, dbURL, id string, w *wal, opts ...func(*Config)) *node {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	cfg := Config{NATS: nc, DatabaseURL: dbURL, Reader: w.reader, Name: "test", NodeID: id,
		Heartbeat: 50 * time.Millisecond, StaleAfter: 500 * time.Millisecond, ElectEvery: 100 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	src, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{src: src, sink: newSink(), cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- src.Run(ctx, n.sink) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func has(commits []reactive.LSN, upTo reactive.LSN) error {
	for i, l := range commits {
		if i > 0 && l <= commits[i-1] {
			return fmt.Errorf("out of order or repeated at %d: %v", i, commits)
		}
	}
	if len(commits) == 0 || commits[len(commits)-1] != upTo {
		return fmt.Errorf("have %v, want up to %s", commits, upTo)
	}
	return nil
}

// One reader at a time; every node gets every commit once, in order; when
// the reader stops another takes over from what the stream holds.
func TestSourceElectsOneReaderAndFailsOver(t *testing.T) {
	ns, err := StartEmbedded(EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	defer ns.Shutdown()
	db := pgtest.NewDB(t)
	w := &wal{grew: make(chan struct{}, 1)}
	nodes := []*node{startNode(t, ns.URL(), db, "a", w), startNode(t, ns.URL(), db, "b", w), startNode(t, ns.URL(), db, "c", w)}
	leaders := func() []int {
		var out []int
		for i, n := range nodes {
			if n.cancel != nil && n.src.ClusterStatus().Leader {
				out = append(out, i)
			}
		}
		return out
	}
	eventually(t, "one reader, every node following", func() error {
		if l := leaders(); len(l) != 1 {
			return fmt.Errorf("readers %v", l)
		}
		for i, n := range nodes {
			if !n.src.Status().Connected {
				return fmt.Errorf("node %d does not follow", i)
			}
		}
		return nil
	})
	lsn := reactive.LSN(100)
	for range 20 {
		lsn += 10
		w.append(lsn)
	}
	for i, n := range nodes {
		eventually(t, fmt.Sprintf("node %d has every commit", i), func() error { c, _ := n.sink.snapshot(); return has(c, lsn) })
	}
	first := leaders()[0]
	nodes[first].stop()
	eventually(t, "another reader", func() error {
		if l := leaders(); len(l) != 1 {
			return fmt.Errorf("readers %v", l)
		}
		return nil
	})
	for range 20 {
		lsn += 10
		w.append(lsn)
	}
	for i, n := range nodes {
		if i == first {
			continue
		}
		eventually(t, fmt.Sprintf("node %d has every commit after the failover", i), func() error { c, _ := n.sink.snapshot(); return has(c, lsn) })
	}
	w.mu.Lock()
	starts := append([]reactive.LSN(nil), w.starts...)
	w.mu.Unlock()
	require.Len(t, starts, 2)
	require.Equal(t, reactive.LSN(0), starts[0])
	require.GreaterOrEqual(t, starts[1], reactive.LSN(300), "the second reader starts from what the stream holds, not from the beginning")
	for i, n := range nodes {
		_, resets := n.sink.snapshot()
		require.Equal(t, 1, resets, "node %d: only the join re-runs everything", i)
	}
}

// A second publisher that read the stream before the first published
// more is refused, whether the stream was empty or not: two readers
// cannot interleave their messages.
func TestPublishersCannotInterleave(t *testing.T) {
	s, st := streamFixture(t, "chain")
	ctx := t.Context()
	race := func(lsn reactive.LSN, refusal string) {
		var mu sync.Mutex
		var failed1, failed2 error
		p1, err := s.newPublisher(ctx, st, func(e error) { mu.Lock(); failed1 = e; mu.Unlock() })
		require.NoError(t, err)
		p2, err := s.newPublisher(ctx, st, func(e error) { mu.Lock(); failed2 = e; mu.Unlock() })
		require.NoError(t, err)
		actx, cancel := context.WithCancel(ctx)
		defer cancel()
		go p1.acks(actx)
		go p2.acks(actx)
		before := p2.Applied()
		require.NoError(t, p1.Commit(ctx, reactive.Commit{EndLSN: lsn}))
		eventually(t, "p1's commit acknowledged", func() error {
			if p1.Applied() != lsn {
				return errors.New("not yet")
			}
			return nil
		})
		_ = p2.Commit(ctx, reactive.Commit{EndLSN: lsn + 1})
		eventually(t, "p2 refused", func() error {
			mu.Lock()
			defer mu.Unlock()
			if failed2 == nil {
				return errors.New("not refused")
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		require.NoError(t, failed1)
		require.Contains(t, strings.ToLower(failed2.Error()), refusal)
		require.Equal(t, before, p2.Applied())
	}
	race(10, "wrong last sequence") // an empty stream
	race(20, "wrong last msg id")   // one with messages
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(2), info.State.Msgs, "only the first publisher's messages are in the stream")
}

// A message the node never saw (deleted from the stream) is a gap: every
// live query re-runs, and the stream goes on.
func TestFollowerGapResets(t *testing.T) {
	s, st := streamFixture(t, "gap")
	ctx := t.Context()
	p, err := s.newPublisher(ctx, st, func(error) {})
	require.NoError(t, err)
	go p.acks(ctx)
	require.NoError(t, p.Commit(ctx, reactive.Commit{EndLSN: 10}))
	require.NoError(t, p.Commit(ctx, reactive.Commit{EndLSN: 20}))
	require.NoError(t, p.Commit(ctx, reactive.Commit{EndLSN: 30}))
	eventually(t, "acknowledged", func() error {
		if p.Applied() != 30 {
			return errors.New("not yet")
		}
		return nil
	})
	require.NoError(t, st.DeleteMsg(ctx, 2))
	k := newSink()
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	followDirect(fctx, s, k, 1)
	eventually(t, "commits 10 and 30, with a reset between", func() error {
		c, resets := k.snapshot()
		if len(c) != 2 || c[0] != 10 || c[1] != 30 || resets != 1 {
			return fmt.Errorf("commits %v resets %d", c, resets)
		}
		return nil
	})
	require.Equal(t, int64(1), s.gaps.Load())
}

// followDirect runs s's follower from sequence start into k, as on a
// node whose sink was told its first Reset already: deliver, the only
// caller of the sink, with it.
func followDirect(ctx context.Context, s *Source, k reactive.ChangeSink, start uint64) {
	s.started = true
	go s.deliver(ctx, k)
	go func() { _ = s.followFrom(ctx, k, start) }()
}

// streamFixture is a Source of cluster name on a NATS server of the
// test's own (no election: its parts are driven directly) and its stream.
func streamFixture(t *testing.T, name string) (*Source, jetstream.Stream) {
	t.Helper()
	ns, err := StartEmbedded(EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	s, err := New(Config{NATS: nc, DatabaseURL: "unused", Reader: (&wal{}).reader, Name: name, NodeID: "x"})
	require.NoError(t, err)
	st, err := s.ensureStream(t.Context())
	require.NoError(t, err)
	return s, st
}

func TestEncodeCommit(t *testing.T) {
	c := reactive.Commit{XID: 7, LSN: 99, EndLSN: 100, CommitTime: time.Unix(0, 12345), Changes: []reactive.Change{
		{Table: "messages", Op: reactive.OpUpdate, Old: []reactive.Column{{Name: "a", Value: "1"}, {Name: "b", Null: true}},
			New: []reactive.Column{{Name: "a", Value: "2"}, {Name: "b", Value: ""}}},
		{Table: "typing_state", Op: reactive.OpDelete, Old: []reactive.Column{{Name: "x", Value: "y"}}},
	}}
	b, err := encodeCommit(c, 1<<20)
	require.NoError(t, err)
	got, err := decodeCommit(b)
	require.NoError(t, err)
	require.Equal(t, c.XID, got.XID)
	require.Equal(t, c.EndLSN, got.EndLSN)
	require.True(t, c.CommitTime.Equal(got.CommitTime))
	require.Equal(t, c.Changes, got.Changes)

	// Too big for one message: the tables are named as overflowed.
	b, err = encodeCommit(c, 50)
	require.NoError(t, err)
	got, err = decodeCommit(b)
	require.NoError(t, err)
	require.Empty(t, got.Changes)
	require.ElementsMatch(t, []string{"messages", "typing_state"}, got.Overflow)
}

// A slot made anew (a new database on the same NATS) starts positions
// over: commits below the stream's old last position are not taken for
// repeats.
func TestResetStartsPositionsOver(t *testing.T) {
	s, st := streamFixture(t, "reset")
	ctx := t.Context()
	k := newSink()
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	followDirect(fctx, s, k, 1)
	p, err := s.newPublisher(ctx, st, func(error) {})
	require.NoError(t, err)
	actx, acancel := context.WithCancel(ctx)
	go p.acks(actx)
	require.NoError(t, p.Commit(ctx, reactive.Commit{EndLSN: 1000}))
	eventually(t, "the old database's commit", func() error { c, _ := k.snapshot(); return has(c, 1000) })
	acancel()
	// The next term, on a new slot: pgrepl calls Reset at its start.
	p2, err := s.newPublisher(ctx, st, func(error) {})
	require.NoError(t, err)
	require.Equal(t, reactive.LSN(1000), p2.Applied())
	go p2.acks(ctx)
	p2.Reset(50)
	require.NoError(t, p2.Commit(ctx, reactive.Commit{EndLSN: 60}))
	require.NoError(t, p2.Commit(ctx, reactive.Commit{EndLSN: 70}))
	eventually(t, "the new database's commits", func() error {
		c, resets := k.snapshot()
		if len(c) != 3 || c[1] != 60 || c[2] != 70 || resets != 1 {
			return fmt.Errorf("commits %v resets %d", c, resets)
		}
		return nil
	})
	eventually(t, "the slot confirms the new positions", func() error {
		if p2.Applied() != 70 {
			return fmt.Errorf("applied %s", p2.Applied())
		}
		return nil
	})
}

// orderSink checks the sequence a Source makes of the sink's calls: one
// call at a time, a Reset before any commit, commits in order, and after
// an Interrupted a Resume (never a second Reset).
type orderSink struct {
	*sink
	active atomic.Int32
	mu     sync.Mutex
	events []string
	bad    []string
}

func (k *orderSink) enter(ev string) {
	if k.active.Add(1) != 1 {
		k.fail("%s while another call ran", ev)
	}
	k.mu.Lock()
	k.events = append(k.events, ev)
	k.mu.Unlock()
	// Widen the window an overlapping call would fall in: a transition's
	// more than a commit's, as commits come more often.
	if ev == "commit" {
		time.Sleep(time.Millisecond)
	} else {
		time.Sleep(20 * time.Millisecond)
	}
}

func (k *orderSink) leave() { k.active.Add(-1) }

func (k *orderSink) fail(format string, args ...any) {
	k.mu.Lock()
	k.bad = append(k.bad, fmt.Sprintf(format, args...))
	k.mu.Unlock()
}

func (k *orderSink) Commit(ctx context.Context, c reactive.Commit) error {
	k.enter("commit")
	defer k.leave()
	_, resets := k.snapshot()
	if resets == 0 {
		k.fail("commit %s before the first Reset", c.EndLSN)
	}
	return k.sink.Commit(ctx, c)
}

func (k *orderSink) Reset(l reactive.LSN) {
	k.enter("reset")
	defer k.leave()
	k.sink.Reset(l)
}

func (k *orderSink) Resume(l reactive.LSN) {
	k.enter("resume")
	defer k.leave()
	if _, resets := k.snapshot(); resets == 0 {
		k.fail("Resume before the first Reset")
	}
	k.sink.Resume(l)
}

func (k *orderSink) Interrupted() {
	k.enter("interrupted")
	defer k.leave()
	k.sink.Interrupted()
}

func (k *orderSink) Progress(l reactive.LSN) {
	k.enter("progress")
	defer k.leave()
	k.sink.Progress(l)
}

// The sink sees one call at a time, in an order that makes sense: a
// node that does not follow yet holds the commits it receives until its
// first Reset, and health transitions never interleave with commits.
func TestSinkCallsAreOrdered(t *testing.T) {
	s, st := streamFixture(t, "order")
	s.cfg.Heartbeat, s.cfg.StaleAfter, s.cfg.ElectEvery = 20*time.Millisecond, 300*time.Millisecond, time.Hour
	ctx := t.Context()
	k := &orderSink{sink: newSink()}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx, k) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	eventually(t, "consumer attached", func() error {
		if !s.follower.Load() {
			return errors.New("not yet")
		}
		return nil
	})

	p, err := s.newPublisher(ctx, st, func(error) {})
	require.NoError(t, err)
	go p.acks(ctx)
	lsn := reactive.LSN(0)
	for range 5 {
		lsn += 10
		require.NoError(t, p.Commit(ctx, reactive.Commit{EndLSN: lsn}))
	}
	// No reader's heartbeat yet: the node does not follow, and its sink
	// has been told nothing.
	time.Sleep(500 * time.Millisecond)
	k.mu.Lock()
	require.Empty(t, k.events, "before the node follows")
	k.mu.Unlock()

	// A reader's heartbeat, on and off, while commits flow.
	var beating atomic.Bool
	beating.Store(true)
	bctx, bstop := context.WithCancel(ctx)
	defer bstop()
	b, err := jsonMarshal(beat{Node: "r", Streaming: true})
	require.NoError(t, err)
	go func() {
		for bctx.Err() == nil {
			if beating.Load() {
				_ = s.cfg.NATS.Publish(s.beatSubject(), b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	eventually(t, "the held commits, after a Reset", func() error { c, _ := k.snapshot(); return has(c, lsn) })
	var mu sync.Mutex
	pctx, pstop := context.WithCancel(ctx)
	pdone := make(chan struct{})
	go func() {
		defer close(pdone)
		for pctx.Err() == nil {
			mu.Lock()
			lsn += 10
			err := p.Commit(pctx, reactive.Commit{EndLSN: lsn})
			mu.Unlock()
			if err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for range 5 {
		beating.Store(false)
		eventually(t, "interrupted", func() error {
			if s.healthy.Load() {
				return errors.New("still following")
			}
			return nil
		})
		beating.Store(true)
		eventually(t, "following again", func() error {
			if !s.healthy.Load() {
				return errors.New("not yet")
			}
			return nil
		})
	}
	pstop()
	<-pdone
	mu.Lock()
	last := lsn
	mu.Unlock()
	eventually(t, "every commit", func() error { c, _ := k.snapshot(); return has(c, last) })
	k.mu.Lock()
	require.Empty(t, k.bad)
	k.mu.Unlock()
	eventually(t, "told it follows again", func() error {
		k.sink.mu.Lock()
		defer k.sink.mu.Unlock()
		if k.sink.resumes != 5 {
			return fmt.Errorf("%d resumes", k.sink.resumes)
		}
		return nil
	})

	k.mu.Lock()
	defer k.mu.Unlock()
	require.Empty(t, k.bad)
	require.Equal(t, "reset", k.events[0])
	var interrupts, resumes int
	state := "following"
	for i, ev := range k.events[1:] {
		switch ev {
		case "reset":
			t.Fatalf("a second Reset at %d: %v", i+1, k.events)
		case "interrupted":
			require.Equal(t, "following", state, "event %d", i+1)
			state = "interrupted"
			interrupts++
		case "resume":
			require.Equal(t, "interrupted", state, "event %d", i+1)
			state = "following"
			resumes++
		}
	}
	require.Equal(t, 5, interrupts)
	require.Equal(t, 5, resumes)
	require.Equal(t, reactive.LSN(0), k.resetAt, "joined an empty stream")
}

// The reader keeps a quiet stream from emptying: a progress mark at
// least every Retention/4, so that after a long silence the stream's
// last message still says where it is. A node joining then starts from
// there, and the next reader resumes the slot from there (not from the
// slot's beginning), without a gap or a second Reset anywhere.
func TestIdleStreamKeepsItsPosition(t *testing.T) {
	const retention = 2 * time.Second
	ns, err := StartEmbedded(EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	defer ns.Shutdown()
	db := pgtest.NewDB(t)
	w := &wal{grew: make(chan struct{}, 1)}
	short := func(c *Config) { c.Retention = retention }
	nodes := []*node{startNode(t, ns.URL(), db, "a", w, short), startNode(t, ns.URL(), db, "b", w, short)}
	leader := func() int {
		for i, n := range nodes {
			if n.cancel != nil && n.src.ClusterStatus().Leader {
				return i
			}
		}
		return -1
	}
	following := func() error {
		if leader() < 0 {
			return errors.New("no reader")
		}
		for i, n := range nodes {
			if n.cancel != nil && !n.src.Status().Connected {
				return fmt.Errorf("node %d does not follow", i)
			}
		}
		return nil
	}
	eventually(t, "a reader, every node following", following)
	lsn := reactive.LSN(100)
	for range 5 {
		lsn += 10
		w.append(lsn)
	}
	for i, n := range nodes {
		eventually(t, fmt.Sprintf("node %d has every commit", i), func() error { c, _ := n.sink.snapshot(); return has(c, lsn) })
	}

	time.Sleep(3 * retention) // no commit at all
	ctx := t.Context()
	st, err := nodes[0].src.js.Stream(ctx, nodes[0].src.stream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.NotZero(t, info.State.Msgs, "the quiet stream emptied")
	m, err := st.GetMsg(ctx, info.State.LastSeq)
	require.NoError(t, err)
	at, err := msgLSN(m.Header)
	require.NoError(t, err)
	require.Equal(t, lsn, at, "the last message is at the last commit's position")
	require.Equal(t, kindProgress, m.Header.Get(kindHdr))

	joiner := startNode(t, ns.URL(), db, "c", w, short)
	nodes = append(nodes, joiner)
	eventually(t, "the joiner follows", following)
	require.Equal(t, lsn, joiner.src.Status().ReceivedLSN, "the joiner knows where the stream is")
	joiner.sink.mu.Lock()
	require.Equal(t, lsn, joiner.sink.resetAt, "the joiner's Reset is at the stream's position")
	joiner.sink.mu.Unlock()

	first := leader()
	nodes[first].stop()
	eventually(t, "another reader", func() error {
		if l := leader(); l < 0 || l == first {
			return fmt.Errorf("reader %d", l)
		}
		return nil
	})
	for range 5 {
		lsn += 10
		w.append(lsn)
	}
	for i, n := range nodes {
		if i == first {
			continue
		}
		eventually(t, fmt.Sprintf("node %d has every commit", i), func() error { c, _ := n.sink.snapshot(); return has(c, lsn) })
	}
	w.mu.Lock()
	starts := append([]reactive.LSN(nil), w.starts...)
	w.mu.Unlock()
	require.Equal(t, []reactive.LSN{0, 150}, starts, "the second reader resumes from the quiet stream's position")
	for i, n := range nodes {
		_, resets := n.sink.snapshot()
		require.Equal(t, 1, resets, "node %d: only the join re-runs everything", i)
		require.Zero(t, n.src.gaps.Load(), "node %d: no gap", i)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
