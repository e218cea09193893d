package reactive

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Config configures an Engine.
type Config struct {
	// Pool runs queries and mutations. Required.
	Pool *pgxpool.Pool
	// Registry holds the named functions. Required.
	Registry *functions.Registry
	// Workers bounds the connections one re-run batch uses. Zero means 4.
	Workers int
	// MaxQueuedChanges bounds changes received but not yet matched; the
	// change source blocks beyond it. Zero means 100,000.
	MaxQueuedChanges int
	// SnapshotWait bounds how long a batch waits for the commits it covers
	// to become visible to a new snapshot. Zero means 2s.
	SnapshotWait time.Duration
	// DBGrace bounds how long a mutation that cannot reach the database
	// waits for it to come back before it fails as unavailable (see
	// Mutate). Zero means 10s; negative means no wait.
	DBGrace time.Duration
	// Metrics receives the engine's Prometheus metrics. Nil means none.
	Metrics *Metrics
	// Logger receives the engine's logs. Nil discards them.
	Logger *slog.Logger
	// Activity learns who is active: the identities sessions take and
	// leave, and every authenticated call. Nil means nobody is told.
	Activity Activity
	// IdentityLeft is called with a session's connection id (what its
	// mutations see as functions.MutationCtx.Connection) when the
	// connection stops speaking for an identity: the session closes, or
	// takes another identity (a logout, another user; not a refreshed
	// token of the same one). State kept per connection (presence) goes
	// with it. It must not block. Nil means nobody is told.
	IdentityLeft func(conn uint64)
}

// Activity is told who is active (package activity's Tracker keeps
// user_activity from it). Its methods must not block.
type Activity interface {
	Open(id *functions.Identity)  // a session took identity id
	Close(id *functions.Identity) // a session left identity id (it closed, or took another)
	Seen(id *functions.Identity)  // id made a call
}

// Engine keeps live queries up to date. It consumes the committed change
// stream (it is the ChangeSink), matches changes against the read
// dependencies of its query instances, re-runs the invalidated ones in one
// shared snapshot and publishes new results to subscribed sessions.
//
// Safe for concurrent use. See the package documentation for its locks.
type Engine struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

	mu        sync.Mutex // guards the fields below
	instances *instanceTable
	index     *depIndex
	fresh     []*instance // created, awaiting their first run
	// refresh holds when instances asked to run again (QueryCtx.RefreshAt):
	// few do, so the time is kept here rather than in every instance.
	refresh  map[*instance]time.Time
	sessions map[*Session]struct{}
	// subscriptions counts (session, query) attachments to instances, so
	// Stats (scraped as metrics) costs O(1), not O(instances).
	subscriptions int

	qmu      sync.Mutex // guards the change queue
	queue    []Commit
	touched  map[schema.Dep]struct{} // Invalidate's keys (a set: bounded by the distinct keys), matched with the queue
	queued   int
	reset    bool
	progress LSN
	space    chan struct{} // signalled when the queue is drained

	wmu     sync.Mutex // guards waiting
	waiting map[*Session]struct{}

	conns          atomic.Uint64 // the last connection id given to a session
	wake           chan struct{}
	progressWanted chan struct{}
	applied        atomic.Uint64
	runs           atomic.Uint64 // query instance runs so far
	slowClosed     atomic.Uint64 // sessions closed for not keeping up
	received       atomic.Uint64 // highest position known delivered
	replicating    atomic.Bool   // a Reset has been applied
	streaming      atomic.Bool   // between Reset or Resume and Interrupted
	dbDown         atomic.Bool   // the last re-run batch could not reach the database
	stale          staleNotifier // tells sessions when Stale changes (stale.go)

	// owned by the Run goroutine
	unconfirmed   []uint32 // xids of applied commits no snapshot was checked against yet
	retry         map[*instance]struct{}
	pendingReset  bool
	pendingTarget LSN
	pendingTimes  []time.Time
}

var _ ChangeSink = (*Engine)(nil)

// New returns an engine; call Run to start it.
func New(cfg Config) (*Engine, error) {
	if cfg.Pool == nil || cfg.Registry == nil {
		return nil, errors.New("reactive: Pool and Registry are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.MaxQueuedChanges <= 0 {
		cfg.MaxQueuedChanges = 100_000
	}
	if cfg.DBGrace == 0 {
		cfg.DBGrace = 10 * time.Second
	}
	if cfg.SnapshotWait <= 0 {
		cfg.SnapshotWait = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg: cfg, log: log, m: cfg.Metrics,
		instances: newInstanceTable(), index: newDepIndex(),
		refresh: map[*instance]time.Time{}, sessions: map[*Session]struct{}{},
		waiting: map[*Session]struct{}{}, retry: map[*instance]struct{}{},
		space: make(chan struct{}, 1), wake: make(chan struct{}, 1), progressWanted: make(chan struct{}, 1),
	}
	if e.m == nil {
		e.m = NewMetrics(nil)
	}
	e.m.bind(e)
	return e, nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Commit implements ChangeSink.
func (e *Engine) Commit(ctx context.Context, c Commit) error {
	for {
		e.qmu.Lock()
		if e.queued < e.cfg.MaxQueuedChanges || len(e.queue) == 0 {
			e.queue = append(e.queue, c)
			e.queued += len(c.Changes)
			e.qmu.Unlock()
			if uint64(c.EndLSN) > e.received.Load() {
				e.received.Store(uint64(c.EndLSN))
			}
			signal(e.wake)
			return nil
		}
		e.qmu.Unlock()
		select {
		case <-e.space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Invalidate re-runs, in the next batch, every query instance that
// recorded one of keys, as if a committed row had that column value: the
// way state kept outside the database (presence, in memory) makes the
// queries that read it live. Such state has no WAL position, so a re-run
// it causes moves no ts, and a mutation that changes only it has ts 0.
// Keys of a table name no Postgres table has (by convention "@name")
// cannot collide with a real change. Watch lists do not narrow them.
// Safe for concurrent use; it never blocks on the batch.
func (e *Engine) Invalidate(keys ...schema.Dep) {
	if len(keys) == 0 {
		return
	}
	e.qmu.Lock()
	if e.touched == nil {
		e.touched = make(map[schema.Dep]struct{}, len(keys))
	}
	for _, k := range keys {
		e.touched[k] = struct{}{}
	}
	e.qmu.Unlock()
	signal(e.wake)
}

// Progress implements ChangeSink.
func (e *Engine) Progress(lsn LSN) {
	e.qmu.Lock()
	if lsn > e.progress {
		e.progress = lsn
	}
	e.qmu.Unlock()
	if uint64(lsn) > e.received.Load() {
		e.received.Store(uint64(lsn))
	}
	signal(e.wake)
}

// Reset implements ChangeSink: every live query is re-run.
func (e *Engine) Reset(lsn LSN) {
	e.qmu.Lock()
	e.reset = true
	if lsn > e.progress {
		e.progress = lsn
	}
	e.qmu.Unlock()
	e.streaming.Store(true)
	e.staleChanged()
	e.m.resets.Inc()
	signal(e.wake)
}

// Resume implements ChangeSink: the stream goes on where it stopped, so
// only the commits it delivers next invalidate anything.
func (e *Engine) Resume(lsn LSN) {
	e.streaming.Store(true)
	e.staleChanged()
	e.m.resumes.Inc()
	signal(e.wake)
}

// Interrupted implements ChangeSink.
func (e *Engine) Interrupted() { e.streaming.Store(false); e.staleChanged() }

// Stale reports whether live results may lag the database: the change
// stream is down, or the last re-run could not reach the database.
func (e *Engine) Stale() bool { return !e.streaming.Load() || e.dbDown.Load() }

// Applied implements ChangeSink.
func (e *Engine) Applied() LSN { return LSN(e.applied.Load()) }

// ProgressWanted implements ChangeSink.
func (e *Engine) ProgressWanted() <-chan struct{} { return e.progressWanted }

// Replicating reports whether the change stream has started.
func (e *Engine) Replicating() bool { return e.replicating.Load() }

// Backlog returns the WAL bytes received from the source but not yet applied.
func (e *Engine) Backlog() uint64 {
	r, a := e.received.Load(), e.applied.Load()
	if r > a {
		return r - a
	}
	return 0
}

// Run processes changes until ctx is done. It returns only after every
// goroutine it started has exited.
func (e *Engine) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := e.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-timer.C:
		}
	}
}

// Stats is a snapshot of the engine's size.
type Stats struct {
	Sessions, Subscriptions, Instances, Dependencies int
	Runs                                             uint64 // query runs since the engine started
	ClosedSlow                                       uint64 // sessions closed for not keeping up, since the start
}

// Stats reports the engine's current size.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Stats{Sessions: len(e.sessions), Subscriptions: e.subscriptions, Instances: e.instances.len(),
		Dependencies: len(e.index.byKey), Runs: e.runs.Load(), ClosedSlow: e.slowClosed.Load()}
}
