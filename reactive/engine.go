package reactive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

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
	// Metrics receives the engine's Prometheus metrics. Nil means none.
	Metrics *Metrics
	// Logger receives the engine's logs. Nil discards them.
	Logger *slog.Logger
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
	queued   int
	reset    bool
	progress LSN
	space    chan struct{} // signalled when the queue is drained

	wmu     sync.Mutex // guards waiting
	waiting map[*Session]struct{}

	wake           chan struct{}
	progressWanted chan struct{}
	applied        atomic.Uint64
	runs           atomic.Uint64 // query instance runs so far
	received       atomic.Uint64 // highest position known delivered
	replicating    atomic.Bool   // a Reset has been applied

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
	e.m.resets.Inc()
	signal(e.wake)
}

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

// step matches everything queued, re-runs what it invalidated and advances
// the applied position. It returns when the next timed refresh is due.
func (e *Engine) step(ctx context.Context) (next time.Time) {
	e.qmu.Lock()
	commits, reset, progress := e.queue, e.reset, e.progress
	e.queue, e.queued, e.reset = nil, 0, false
	e.qmu.Unlock()
	signal(e.space)
	reset = reset || e.pendingReset

	now := time.Now()
	target := max(e.pendingTarget, progress)
	dirty := e.retry
	e.retry = map[*instance]struct{}{}
	var xids []uint32
	times := e.pendingTimes
	e.pendingTimes = nil

	e.mu.Lock()
	if reset {
		for in := range e.instances.all() {
			dirty[in] = struct{}{}
		}
	}
	for i := range commits {
		c := &commits[i]
		for j := range c.Changes {
			e.index.match(&c.Changes[j], dirty)
		}
		for _, t := range c.Overflow {
			e.index.matchTable(t, dirty)
		}
		target = max(target, c.EndLSN)
		xids = append(xids, c.XID)
		if !c.CommitTime.IsZero() {
			times = append(times, c.CommitTime)
		}
	}
	for _, in := range e.fresh {
		dirty[in] = struct{}{}
	}
	e.fresh = e.fresh[:0]
	for in, at := range e.refresh {
		if !at.After(now) {
			dirty[in] = struct{}{}
		}
	}
	run := make([]*instance, 0, len(dirty))
	for in := range dirty {
		if !in.removed() {
			run = append(run, in)
		}
	}
	e.mu.Unlock()
	e.m.changes.Add(float64(countChanges(commits)))

	// A commit that invalidated nothing still has to be visible to the next
	// snapshot: a query created after it must see it.
	e.unconfirmed = append(e.unconfirmed, xids...)
	if over := len(e.unconfirmed) - maxUnconfirmed; over > 0 {
		e.unconfirmed = append(e.unconfirmed[:0], e.unconfirmed[over:]...)
	}
	if len(run) > 0 {
		start := time.Now()
		outs, retry, stale, err := e.runBatch(ctx, run, e.unconfirmed)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("re-run batch", slog.Int("instances", len(run)), slog.Any("error", err))
			}
			for _, in := range run {
				e.retry[in] = struct{}{}
			}
			e.pendingReset, e.pendingTarget, e.pendingTimes = reset, target, times
			return time.Now().Add(100 * time.Millisecond)
		}
		e.install(outs)
		if stale {
			// The snapshot never saw every commit: results may be stale.
			// Run them again shortly instead of claiming the position.
			for _, o := range outs {
				e.retry[o.in] = struct{}{}
			}
			e.pendingReset, e.pendingTarget, e.pendingTimes = reset, target, times
			return time.Now().Add(100 * time.Millisecond)
		}
		e.unconfirmed = e.unconfirmed[:0]
		e.m.batches.Inc()
		e.m.batchSeconds.Observe(time.Since(start).Seconds())
		e.m.runs.Add(float64(len(outs)))
		e.runs.Add(uint64(len(outs)))
		if len(retry) > 0 {
			for _, in := range retry {
				e.retry[in] = struct{}{}
			}
			e.pendingReset, e.pendingTarget, e.pendingTimes = reset, target, times
			signal(e.wake)
			return time.Time{}
		}
	}
	e.pendingReset, e.pendingTarget = false, 0
	pushed := time.Now()
	for _, t := range times {
		e.m.writeToPush.Observe(pushed.Sub(t).Seconds())
	}
	if reset {
		e.replicating.Store(true)
	}
	if uint64(target) > e.applied.Load() && e.replicating.Load() {
		e.applied.Store(uint64(target))
		e.notifyWaiting()
	}
	next = e.nextRefresh()
	// Held mutation responses wait for a position no keepalive has
	// confirmed yet: keep asking, paced, until one does.
	e.wmu.Lock()
	waiting := len(e.waiting) > 0
	e.wmu.Unlock()
	if waiting {
		signal(e.progressWanted)
		if retryAt := time.Now().Add(progressRetry); next.IsZero() || retryAt.Before(next) {
			next = retryAt
		}
	}
	return next
}

// progressRetry paces repeated keepalive requests for held responses.
const progressRetry = 5 * time.Millisecond

func countChanges(cs []Commit) int {
	n := 0
	for i := range cs {
		n += len(cs[i].Changes)
	}
	return n
}

func (e *Engine) nextRefresh() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	var next time.Time
	for _, at := range e.refresh {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

type runOut struct {
	in        *instance
	res       *Result
	deps      []depEntry
	refreshAt time.Time
}

// maxUnconfirmed bounds the xids carried to the next snapshot check. Far
// older commits are long visible.
const maxUnconfirmed = 4096

// parallelThreshold is the batch size from which a batch is spread over
// several connections sharing one exported snapshot.
const parallelThreshold = 8

// runBatch runs instances in one snapshot that sees every commit in xids.
// Instances it could not run (their transaction broke) come back in retry;
// stale reports that no snapshot saw every commit within SnapshotWait.
func (e *Engine) runBatch(ctx context.Context, ins []*instance, xids []uint32) (outs []runOut, retry []*instance, stale bool, err error) {
	conn, err := e.cfg.Pool.Acquire(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("acquire: %w", err)
	}
	defer conn.Release()
	parallel := e.cfg.Workers > 1 && len(ins) >= parallelThreshold
	tx, snapID, stale, err := e.beginSnapshot(ctx, conn.Conn(), xids, parallel)
	if err != nil {
		return nil, nil, false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	now := time.Now()
	// The snapshot transactions are read-only and only ever rolled back: a
	// query that failed with an SQL error aborts its transaction, and that
	// must cost only the queries after it in its chunk (they are retried),
	// never the batch.
	if !parallel {
		outs, retry = e.runChunk(ctx, tx, ins, now)
		return outs, retry, stale, nil
	}
	workers := min(e.cfg.Workers, (len(ins)+parallelThreshold/2-1)/(parallelThreshold/2))
	chunks := make([][]*instance, workers)
	for i, in := range ins {
		chunks[i%workers] = append(chunks[i%workers], in)
	}
	results := make([][]runOut, workers)
	retries := make([][]*instance, workers)
	g, gctx := errgroup.WithContext(ctx)
	for w := 1; w < workers; w++ {
		g.Go(func() error {
			c, err := e.cfg.Pool.Acquire(gctx)
			if err != nil {
				return fmt.Errorf("acquire worker: %w", err)
			}
			defer c.Release()
			wtx, err := c.BeginTx(gctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
			if err != nil {
				return fmt.Errorf("begin worker: %w", err)
			}
			defer wtx.Rollback(context.WithoutCancel(gctx)) //nolint:errcheck
			if _, err := wtx.Exec(gctx, "SET TRANSACTION SNAPSHOT '"+snapID+"'"); err != nil {
				return fmt.Errorf("import snapshot: %w", err)
			}
			results[w], retries[w] = e.runChunk(gctx, wtx, chunks[w], now)
			return nil
		})
	}
	results[0], retries[0] = e.runChunk(ctx, tx, chunks[0], now)
	if err := g.Wait(); err != nil {
		return nil, nil, false, err
	}
	for w := range results {
		outs = append(outs, results[w]...)
		retry = append(retry, retries[w]...)
	}
	return outs, retry, stale, nil
}

// beginSnapshot opens a read-only repeatable-read transaction whose
// snapshot sees every transaction in xids. A commit can arrive through
// replication a moment before the committing backend makes it visible, so
// the snapshot is retaken until it does; stale reports giving up after
// SnapshotWait.
func (e *Engine) beginSnapshot(ctx context.Context, conn *pgx.Conn, xids []uint32, export bool) (tx pgx.Tx, id string, stale bool, err error) {
	deadline := time.Now().Add(e.cfg.SnapshotWait)
	for attempt := 0; ; attempt++ {
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, "", false, fmt.Errorf("begin snapshot: %w", err)
		}
		var snap string
		if export {
			err = tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text, pg_export_snapshot()`).Scan(&snap, &id)
		} else {
			err = tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&snap)
		}
		if err != nil {
			tx.Rollback(ctx) //nolint:errcheck
			return nil, "", false, fmt.Errorf("take snapshot: %w", err)
		}
		ok, err := snapshotSees(snap, xids)
		if err != nil {
			tx.Rollback(ctx) //nolint:errcheck
			return nil, "", false, err
		}
		if ok {
			return tx, id, false, nil
		}
		if time.Now().After(deadline) {
			e.log.Warn("snapshot does not see replicated commits", slog.String("snapshot", snap))
			return tx, id, true, nil
		}
		tx.Rollback(ctx) //nolint:errcheck
		e.m.snapshotRetries.Inc()
		time.Sleep(time.Duration(min(attempt+1, 20)) * 100 * time.Microsecond)
	}
}

// snapshotSees reports whether a pg_current_snapshot() text value
// ("xmin:xmax:xip,…", 64-bit xids) sees every 32-bit xid in xids as
// committed-before-snapshot.
func snapshotSees(snap string, xids []uint32) (bool, error) {
	parts := strings.SplitN(snap, ":", 3)
	if len(parts) != 3 {
		return false, fmt.Errorf("bad snapshot %q", snap)
	}
	xmin, err1 := strconv.ParseUint(parts[0], 10, 64)
	xmax, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return false, fmt.Errorf("bad snapshot %q", snap)
	}
	inProgress := map[uint64]bool{}
	if parts[2] != "" {
		for _, s := range strings.Split(parts[2], ",") {
			x, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return false, fmt.Errorf("bad snapshot %q", snap)
			}
			inProgress[x] = true
		}
	}
	for _, x32 := range xids {
		if x32 == 0 {
			continue
		}
		full := widenXID(x32, xmax)
		if full >= xmax || (full >= xmin && inProgress[full]) {
			return false, nil
		}
	}
	return true, nil
}

// widenXID turns a 32-bit xid into the 64-bit xid nearest xmax: the xid is
// recent, either just below xmax (committed) or just above it (committing
// while the snapshot was taken), possibly across an epoch boundary.
func widenXID(x32 uint32, xmax uint64) uint64 {
	best := xmax&^0xffffffff | uint64(x32)
	dist := func(v uint64) uint64 {
		if v > xmax {
			return v - xmax
		}
		return xmax - v
	}
	if best >= 1<<32 && dist(best-(1<<32)) < dist(best) {
		best -= 1 << 32
	}
	if dist(best+(1<<32)) < dist(best) {
		best += 1 << 32
	}
	return best
}

// runChunk runs instances one after another in q. If the transaction
// breaks (a query hit an SQL error), the rest come back in retry.
func (e *Engine) runChunk(ctx context.Context, tx pgx.Tx, ins []*instance, now time.Time) ([]runOut, []*instance) {
	outs := make([]runOut, 0, len(ins))
	for i, in := range ins {
		outs = append(outs, e.runOne(ctx, tx, in, now))
		if tx.Conn().PgConn().TxStatus() == 'E' && i+1 < len(ins) {
			return outs, ins[i+1:]
		}
	}
	return outs, nil
}

// internalRetry is how soon a query that failed with an internal error is
// tried again.
const internalRetry = time.Second

func (e *Engine) runOne(ctx context.Context, q schema.Querier, in *instance, now time.Time) runOut {
	journal := in.journal()
	var out functions.QueryOutput
	args, err := decodeCanonical(in.key.fn, in.key.args)
	if err == nil {
		out, err = in.key.fn.RunPart(ctx, q, in.identity, args, now, journal, in.key.part)
	}
	o := runOut{in: in, deps: compileDeps(out.Deps.List()), refreshAt: out.RefreshAt}
	var value json.RawMessage
	if err == nil {
		value, err = json.Marshal(out.Value)
	}
	if err != nil {
		we, internal := functions.AsError(err)
		if internal {
			e.log.Error("query failed", slog.String("function", in.key.fn.Name), slog.Any("error", err))
			if retryAt := now.Add(internalRetry); o.refreshAt.IsZero() || retryAt.Before(o.refreshAt) {
				o.refreshAt = retryAt
			}
		}
		o.res = newResult(nil, we, journal)
		return o
	}
	if string(value) == "null" && out.Journal == "" {
		o.res = nullResult
	} else {
		o.res = newResult(value, nil, out.Journal)
	}
	return o
}

// install publishes a batch's results: new dependencies into the index,
// changed results to subscribers.
func (e *Engine) install(outs []runOut) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, o := range outs {
		in := o.in
		if in.removed() {
			continue
		}
		e.index.replace(in, in.deps, o.deps)
		in.deps = o.deps
		if o.refreshAt.IsZero() {
			delete(e.refresh, in)
		} else {
			e.refresh[in] = o.refreshAt
		}
		prev := in.result.Load()
		if prev != nil && prev.Hash == o.res.Hash {
			e.m.unchanged.Inc()
			continue
		}
		in.result.Store(o.res)
		if prev == nil {
			if ch := in.ready.Swap(closedReady); ch != closedReady {
				close(*ch)
			}
		}
		for ref := range in.subs.all() {
			ref.s.queryChanged(ref.qid, o.res)
		}
	}
}

// caller is who subscribes: an identity (nil: anonymous) and its Key,
// made once and shared by the instances keyed by it.
type caller struct {
	id  *functions.Identity
	key string
}

func callerOf(id *functions.Identity) caller { return caller{id, id.Key()} }

// attach subscribes session s's query qid to the shared instance of one
// part of (fn, canon, caller, journal), creating it (and scheduling its
// first run) if needed; canon is the arguments as canonical JSON
// (canonicalArgs).
// The caller is part of the key only where the part depends on it: whole
// non-public queries and access checks. Wait for the first result with
// ready.
func (e *Engine) attach(s *Session, qid uint32, fn *functions.Function, canon string, who caller, journal string, part functions.Part) *instance {
	if len(journal) > maxJournal || part == functions.Access {
		journal = "" // not one of ours (or not used): start afresh
	}
	key := instanceKey{fn: fn, part: part, args: canon, journal: journal}
	id := who.id
	switch part {
	case functions.Access:
		key.identity = who.key
	case functions.Whole:
		if id = fn.Caller(id); id == who.id {
			key.identity = who.key
		} else {
			key.identity = id.Key()
		}
	default:
		id = nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	in := e.instances.get(key)
	if in == nil {
		in = newInstance(key, id)
		e.instances.add(in)
		e.fresh = append(e.fresh, in)
		signal(e.wake)
	}
	if in.subs.add(subRef{s, qid}) {
		e.subscriptions++
	}
	return in
}

// canonicalArgs is decoded arguments as JSON, the same for every client
// spelling of them: part of an instance's key, and all an instance keeps
// of its arguments (decodeCanonical makes them again for each run).
// Decoded arguments were three heap objects per subscription, two with
// pointers for the garbage collector to scan.
func canonicalArgs(args reflect.Value) (string, error) {
	canon, err := json.Marshal(args.Interface())
	if err != nil {
		return "", fmt.Errorf("canonical args: %w", err)
	}
	return string(canon), nil
}

// decodeCanonical turns canonicalArgs' JSON back into fn's arguments. They
// were validated when the client's arguments were decoded, and JSON of a
// Go value decodes to an equal one, so plain json.Unmarshal does: it takes
// a fraction of validation's time. An error is an internal one.
//
// Its strings are then made parts of canon (shareStrings): a query's
// dependencies keep argument values (a conversation's id), and so they
// cost no memory beyond the instance's key.
func decodeCanonical(fn *functions.Function, canon string) (reflect.Value, error) {
	args := reflect.New(fn.Args)
	if err := json.Unmarshal([]byte(canon), args.Interface()); err != nil {
		return reflect.Value{}, fmt.Errorf("%s: decode canonical args %s: %w", fn.Name, canon, err)
	}
	shareStrings(args.Elem(), canon)
	return args.Elem(), nil
}

// shareStrings replaces each string in v (a settable value: through
// pointers, structs, slices and arrays) by an equal substring of canon
// where there is one. Strings JSON escapes, and those in maps and
// interfaces, keep their own copy.
func shareStrings(v reflect.Value, canon string) {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); s != "" {
			if i := strings.Index(canon, s); i >= 0 {
				v.SetString(canon[i : i+len(s)])
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			shareStrings(v.Elem(), canon)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				shareStrings(f, canon)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			shareStrings(v.Index(i), canon)
		}
	}
}

// maxJournal bounds the journal a client may send back; Parley's journals
// are cursors of a few dozen bytes.
const maxJournal = 1024

// ready waits for an attached instance's first result.
func ready(ctx context.Context, in *instance) error {
	select {
	case <-*in.ready.Load():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) unsubscribe(s *Session, qid uint32, in *instance) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !in.subs.remove(subRef{s, qid}) {
		return
	}
	e.subscriptions--
	if in.removed() { // the last subscriber left
		e.instances.remove(in)
		e.index.replace(in, in.deps, nil)
		in.deps = nil
		delete(e.refresh, in)
	}
}

// awaitApplied registers s to be woken when the applied position advances.
func (e *Engine) awaitApplied(s *Session) {
	e.wmu.Lock()
	e.waiting[s] = struct{}{}
	e.wmu.Unlock()
	signal(e.progressWanted)
}

func (e *Engine) notifyWaiting() {
	e.wmu.Lock()
	ws := e.waiting
	e.waiting = map[*Session]struct{}{}
	e.wmu.Unlock()
	for s := range ws {
		s.signal()
	}
}

// Query runs a query once, outside any subscription (HTTP API).
func (e *Engine) Query(ctx context.Context, udfPath string, args json.RawMessage, id *functions.Identity) (json.RawMessage, error) {
	fn, err := e.cfg.Registry.Lookup(udfPath)
	if err != nil {
		return nil, err
	}
	if fn.Kind != functions.KindQuery {
		return nil, functions.Invalid("%s is a %s, not a query", udfPath, fn.Kind)
	}
	v, err := fn.DecodeArgs(args)
	if err != nil {
		return nil, err
	}
	var out functions.QueryOutput
	err = pgx.BeginTxFunc(ctx, e.cfg.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		out, err = fn.RunQuery(ctx, tx, id, v, time.Now(), "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(out.Value)
}

// Mutate runs a mutation (HTTP API and sessions).
func (e *Engine) Mutate(ctx context.Context, udfPath string, args json.RawMessage, id *functions.Identity, key functions.RequestKey) (functions.MutationResult, error) {
	fn, err := e.cfg.Registry.Lookup(udfPath)
	if err != nil {
		return functions.MutationResult{}, err
	}
	if fn.Kind != functions.KindMutation {
		return functions.MutationResult{}, functions.Invalid("%s is a %s, not a mutation", udfPath, fn.Kind)
	}
	v, err := fn.DecodeArgs(args)
	if err != nil {
		return functions.MutationResult{}, err
	}
	start := time.Now()
	res, err := fn.RunMutation(ctx, e.cfg.Pool, id, v, key)
	e.m.mutations.Inc()
	e.m.mutationSeconds.Observe(time.Since(start).Seconds())
	return res, err
}

// Stats is a snapshot of the engine's size.
type Stats struct {
	Sessions, Subscriptions, Instances, Dependencies int
	Runs                                             uint64 // query runs since the engine started
}

// Stats reports the engine's current size.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Stats{Sessions: len(e.sessions), Subscriptions: e.subscriptions, Instances: e.instances.len(),
		Dependencies: len(e.index.byKey), Runs: e.runs.Load()}
}
