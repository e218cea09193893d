package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/reactive"
)

// Defaults of Config's durations.
const (
	DefaultRetention  = time.Hour
	DefaultHeartbeat  = 250 * time.Millisecond
	DefaultStaleAfter = 2 * time.Second
	DefaultElectEvery = 500 * time.Millisecond
	DefaultIsolated   = 5 * time.Second
)

// Config configures a Source.
type Config struct {
	// NATS is the node's connection, reconnecting on its own (nats.go's
	// MaxReconnects(-1)). Required.
	NATS *nats.Conn
	// DatabaseURL is where the reader's lock is taken. Required.
	DatabaseURL string
	// Reader makes the replication reader of one term of leadership: a
	// pgrepl.Source on the cluster's permanent slot with Shared set, so it
	// resumes the slot the previous reader left and leaves it in place.
	// Required.
	Reader func() (reactive.ChangeSource, error)
	// Name is the cluster's name, the slot's: it names the reader's lock,
	// the JetStream stream (PARLEY_<NAME>) and the subjects
	// (parley.<name>.…). Every node of a cluster gives the same. Required:
	// [a-z0-9_].
	Name string
	// NodeID names this node in logs, heartbeats and /healthz. Required.
	NodeID string
	// Replicas is the stream's replica count on a NATS cluster. Zero
	// means 1.
	Replicas int
	// Retention is how long the stream keeps changes: a node away for
	// longer re-runs every live query when it comes back. The reader
	// publishes a progress mark at least every Retention/4, so a quiet
	// stream never empties. It also bounds the stream's duplicate window
	// (2 minutes otherwise). Zero means DefaultRetention.
	Retention time.Duration
	// Heartbeat is how often the reader says it is alive; StaleAfter how
	// long a node waits for one before it reports its results stale.
	// ElectEvery is how often a node that does not read tries to take
	// the lock. Zero means the defaults.
	Heartbeat, StaleAfter, ElectEvery time.Duration
	// Isolated(true), called once a node has been unable to follow the
	// stream for IsolatedAfter (zero: DefaultIsolated), closes its client
	// sessions and refuses new ones, so that clients reconnect to a node
	// that can; Isolated(false), once it follows again, lets them back.
	// Nil means sessions stay, told only that results are stale.
	Isolated      func(bool)
	IsolatedAfter time.Duration
	// Logger receives leadership changes and errors. Nil discards them.
	Logger *slog.Logger
}

// Source is a reactive.ChangeSource shared by the nodes of a cluster.
// Exactly one node at a time reads the replication slot: the holder of a
// Postgres advisory lock. It decodes each commit once and publishes it on
// a JetStream stream; every node, the reader included, follows that
// stream into its own engine. See the package doc.
type Source struct {
	cfg    Config
	log    *slog.Logger
	prefix string // parley.<name>
	stream string // PARLEY_<NAME>
	js     jetstream.JetStream

	leading  atomic.Bool
	terms    atomic.Int64
	gaps     atomic.Int64
	resets   atomic.Int64
	beatAt   atomic.Int64 // unix nanos of the last heartbeat seen
	beatFrom atomic.Pointer[string]
	streamOK atomic.Bool // the last heartbeat said the reader streams
	lastSeq  atomic.Uint64
	lastLSN  atomic.Uint64
	follower atomic.Bool // this node's consumer is attached
	healthy  atomic.Bool // this node follows the stream now

	wanted chan struct{}             // a node asked the reader for progress
	pub    atomic.Pointer[publisher] // the current term's, while this node reads

	// The sink is called by one goroutine only, deliver: the follower
	// hands it its calls (held, on ops, until the first Reset; at once,
	// on now) and waits for each; monitor queues its transitions.
	ops, now chan sinkOp
	tmu      sync.Mutex
	trans    []transition // monitor's, in order, not yet delivered
	tsig     chan struct{}
	started  bool // the sink was told Reset; deliver's goroutine only
}

// New validates cfg. It connects to nothing.
func New(cfg Config) (*Source, error) {
	if cfg.NATS == nil || cfg.DatabaseURL == "" || cfg.Reader == nil || cfg.NodeID == "" {
		return nil, errors.New("cluster: NATS, DatabaseURL, Reader and NodeID are required")
	}
	if cfg.Name == "" || strings.Trim(cfg.Name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return nil, fmt.Errorf("cluster: Name %q: want [a-z0-9_]+", cfg.Name)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Retention, DefaultRetention)
	def(&cfg.Heartbeat, DefaultHeartbeat)
	def(&cfg.StaleAfter, DefaultStaleAfter)
	def(&cfg.ElectEvery, DefaultElectEvery)
	def(&cfg.IsolatedAfter, DefaultIsolated)
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(cfg.NATS, jetstream.WithPublishAsyncMaxPending(4*maxInFlight))
	if err != nil {
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	s := &Source{cfg: cfg, log: cfg.Logger.With(slog.String("node", cfg.NodeID)), prefix: "parley." + cfg.Name,
		stream: "PARLEY_" + strings.ToUpper(cfg.Name), js: js, wanted: make(chan struct{}, 1),
		ops: make(chan sinkOp), now: make(chan sinkOp), tsig: make(chan struct{}, 1)}
	s.beatFrom.Store(new(string))
	return s, nil
}

// Subjects of the change stream and of the control messages beside it.
func (s *Source) walSubject(kind string) string { return s.prefix + ".wal." + kind }
func (s *Source) beatSubject() string           { return s.prefix + ".ctl.beat" }
func (s *Source) wantedSubject() string         { return s.prefix + ".ctl.wanted" }

// Run follows the cluster's change stream into sink and takes part in
// the reader's election, until ctx is done. It returns after every
// goroutine it started has exited.
func (s *Source) Run(ctx context.Context, sink reactive.ChangeSink) error {
	nc := s.cfg.NATS
	beats, err := nc.Subscribe(s.beatSubject(), s.onBeat)
	if err != nil {
		return fmt.Errorf("cluster: subscribe to heartbeats: %w", err)
	}
	defer beats.Unsubscribe() //nolint:errcheck // the connection may be gone
	wants, err := nc.Subscribe(s.wantedSubject(), func(*nats.Msg) { signal(s.wanted) })
	if err != nil {
		return fmt.Errorf("cluster: subscribe to progress requests: %w", err)
	}
	defer wants.Unsubscribe() //nolint:errcheck
	wanted := sink.ProgressWanted()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.elect(gctx) })
	g.Go(func() error { s.deliver(gctx, sink); return nil })
	g.Go(func() error { return s.follow(gctx, sink) })
	g.Go(func() error { s.monitor(gctx); return nil })
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-wanted:
				_ = nc.Publish(s.wantedSubject(), nil) // lost while disconnected: the waiter asks again
			}
		}
	})
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// ensureStream creates the change stream or brings its settings up to
// date.
func (s *Source) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	st, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.stream,
		Description: "Parley: committed changes of slot " + s.cfg.Name + ", in commit order",
		Subjects:    []string{s.prefix + ".wal.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      s.cfg.Retention,
		Duplicates:  min(2*time.Minute, s.cfg.Retention), // NATS wants it within MaxAge
		Replicas:    s.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: stream %s: %w", s.stream, err)
	}
	return st, nil
}

func (s *Source) onBeat(m *nats.Msg) {
	var b beat
	if err := jsonUnmarshal(m.Data, &b); err != nil {
		return
	}
	s.beatAt.Store(time.Now().UnixNano())
	s.beatFrom.Store(&b.Node)
	s.streamOK.Store(b.Streaming)
}

// monitor decides, every heartbeat, whether this node follows the stream
// (NATS reachable, its consumer attached, a reader alive and streaming)
// and, through deliver, tells the sink when that changes: Interrupted
// when it stops, Reset (first time) or Resume when it starts again. A
// node that stays unable to follow for IsolatedAfter calls
// Config.Isolated.
func (s *Source) monitor(ctx context.Context) {
	t := time.NewTicker(s.cfg.Heartbeat / 2)
	defer t.Stop()
	started := false
	var downSince time.Time
	isolated := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok := s.cfg.NATS.IsConnected() && s.follower.Load() && s.streamOK.Load() &&
			time.Since(time.Unix(0, s.beatAt.Load())) < s.cfg.StaleAfter
		switch {
		case ok && !s.healthy.Load():
			s.healthy.Store(true)
			if isolated && s.cfg.Isolated != nil {
				s.cfg.Isolated(false)
			}
			downSince, isolated = time.Time{}, false
			started = true
			s.tell(follows)
			s.log.Info("cluster: following the change stream", slog.String("reader", *s.beatFrom.Load()))
		case !ok && s.healthy.Load():
			s.healthy.Store(false)
			s.tell(interrupted)
			downSince = time.Now()
			s.log.Warn("cluster: cannot follow the change stream; live results may be stale",
				slog.Bool("nats", s.cfg.NATS.IsConnected()), slog.Bool("consumer", s.follower.Load()),
				slog.Bool("readerStreaming", s.streamOK.Load()))
		case !ok && started && !isolated && !downSince.IsZero() && time.Since(downSince) > s.cfg.IsolatedAfter:
			isolated = true
			if s.cfg.Isolated != nil {
				s.log.Warn("cluster: still cut off from the change stream; closing client sessions so they move to another node",
					slog.Duration("after", s.cfg.IsolatedAfter))
				s.cfg.Isolated(true)
			}
		}
	}
}

// transition is a change of monitor's verdict, for the sink.
type transition int

const (
	follows     transition = iota // Reset the first time, Resume after
	interrupted                   // Interrupted
)

// tell queues t for deliver; it never blocks (monitor keeps its clock).
func (s *Source) tell(t transition) {
	s.tmu.Lock()
	s.trans = append(s.trans, t)
	s.tmu.Unlock()
	signal(s.tsig)
}

// sinkOp is one of the follower's turns at the sink, run by deliver.
type sinkOp struct {
	f    func() error
	done chan error
}

// deliver is the only goroutine that calls sink, so that it sees one
// well-ordered sequence: monitor's transitions and the follower's
// commits never overlap, and a Reset comes before any commit. The
// follower's commits wait (the follower with them) until that first
// Reset; its calls made on now (a stream made anew) do not. Reset and
// Resume carry the position of the last message applied.
func (s *Source) deliver(ctx context.Context, sink reactive.ChangeSink) {
	for {
		var ops chan sinkOp
		if s.started {
			ops = s.ops
		}
		select {
		case <-ctx.Done():
			return
		case <-s.tsig:
			s.tmu.Lock()
			ts := s.trans
			s.trans = nil
			s.tmu.Unlock()
			for _, t := range ts {
				switch {
				case t == interrupted:
					sink.Interrupted()
				case !s.started:
					s.started = true
					sink.Reset(reactive.LSN(s.lastLSN.Load()))
				default:
					sink.Resume(reactive.LSN(s.lastLSN.Load()))
				}
			}
		case op := <-ops:
			op.done <- op.f()
		case op := <-s.now:
			op.done <- op.f()
		}
	}
}

// do runs f on deliver's goroutine and returns its error; held, it
// waits for the sink's first Reset. f may read s.started.
func (s *Source) do(ctx context.Context, held bool, f func() error) error {
	ch := s.now
	if held {
		ch = s.ops
	}
	op := sinkOp{f: f, done: make(chan error, 1)}
	select {
	case ch <- op:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-op.done
}

// Status reports the node's view (reactive.StatusReporter): connected
// while it follows the stream.
func (s *Source) Status() reactive.SourceStatus {
	return reactive.SourceStatus{Connected: s.healthy.Load(), Slot: s.cfg.Name, ReceivedLSN: reactive.LSN(s.lastLSN.Load()),
		Reconnects: s.gaps.Load() + s.resets.Load()}
}

// Status of a node in its cluster, for /healthz.
type Status struct {
	Node     string `json:"node"`
	Leader   bool   `json:"reader"`     // this node reads the slot
	Reader   string `json:"readerNode"` // the node whose heartbeat came last
	NATS     bool   `json:"nats"`
	Follows  bool   `json:"follows"`  // this node applies the stream now
	Sequence uint64 `json:"sequence"` // last stream message applied
	Terms    int64  `json:"terms"`    // times this node became the reader
	Gaps     int64  `json:"gaps"`     // sequence gaps seen (every live query re-ran)
}

// ClusterStatus reports the node's place in the cluster.
func (s *Source) ClusterStatus() Status {
	return Status{Node: s.cfg.NodeID, Leader: s.leading.Load(), Reader: *s.beatFrom.Load(), NATS: s.cfg.NATS.IsConnected(),
		Follows: s.healthy.Load(), Sequence: s.lastSeq.Load(), Terms: s.terms.Load(), Gaps: s.gaps.Load()}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var _ reactive.ChangeSource = (*Source)(nil)
var _ reactive.StatusReporter = (*Source)(nil)
