package reactive

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// step matches everything queued, re-runs what it invalidated and advances
// the applied position. It returns when the next timed refresh is due.
func (e *Engine) step(ctx context.Context) (next time.Time) {
	e.qmu.Lock()
	commits, reset, progress, touched := e.queue, e.reset, e.progress, e.touched
	e.queue, e.queued, e.reset, e.touched = nil, 0, false, nil
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
	for k := range touched {
		// An insert: every dependency on the key matches, watched or not.
		c := Change{Table: k.Table, Op: OpInsert, New: []Column{{Name: k.Column, Value: k.Value}}}
		e.index.match(&c, dirty)
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
	if len(run) == 0 {
		e.setDBDown(false) // nothing waits for a re-run, so nothing lags
	}
	if len(run) > 0 {
		start := time.Now()
		outs, retry, stale, err := e.runBatch(ctx, run, e.unconfirmed)
		if err != nil {
			e.setDBDown(functions.Unreachable(err))
			if ctx.Err() == nil {
				level := slog.LevelError
				if functions.Unreachable(err) {
					level = slog.LevelWarn // an outage, not a bug: results stay as they were
				}
				e.log.Log(ctx, level, "re-run batch", slog.Int("instances", len(run)), slog.Any("error", err))
			}
			for _, in := range run {
				e.retry[in] = struct{}{}
			}
			e.pendingReset, e.pendingTarget, e.pendingTimes = reset, target, times
			return time.Now().Add(100 * time.Millisecond)
		}
		outs, lost := reachable(outs)
		e.setDBDown(len(lost) > 0)
		e.install(outs)
		if stale || len(lost) > 0 {
			// The snapshot never saw every commit (results may be stale),
			// or the database went away during the batch: run them again
			// shortly instead of claiming the position.
			if stale {
				for _, o := range outs {
					e.retry[o.in] = struct{}{}
				}
			}
			for _, in := range slices.Concat(retry, lost) {
				e.retry[in] = struct{}{}
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
	if e.anyWaiting() {
		signal(e.progressWanted)
		if retryAt := time.Now().Add(progressRetry); next.IsZero() || retryAt.Before(next) {
			next = retryAt
		}
	}
	return next
}

// progressRetry paces repeated keepalive requests for held responses.
const progressRetry = 5 * time.Millisecond

// reachable splits outs into those that ran and the instances whose run
// lost the database.
func reachable(outs []runOut) (ran []runOut, lost []*instance) {
	ran = outs[:0]
	for _, o := range outs {
		if o.unreachable {
			lost = append(lost, o.in)
		} else {
			ran = append(ran, o)
		}
	}
	return ran, lost
}

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
	res       *Result // nil when unreachable
	deps      []depEntry
	refreshAt time.Time
	// unreachable: the database went away during the run. The instance
	// keeps its last result (a subscriber keeps what it had, not an
	// error) and runs again.
	unreachable bool
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
	// Every run of the batch reads one snapshot, so what one computes from
	// it (functions.Memoized) serves them all.
	ctx = functions.WithMemo(ctx, functions.NewMemo())
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
	if err != nil && functions.Unreachable(err) {
		return runOut{in: in, unreachable: true}
	}
	o := runOut{in: in, deps: compileDeps(out.Deps.List()), refreshAt: out.RefreshAt}
	var value json.RawMessage
	if err == nil {
		value, err = json.Marshal(out.Value)
	}
	if err != nil {
		we, internal := functions.AsError(err)
		if internal {
			e.log.Log(ctx, functions.LogLevel(we), "query failed", slog.String("function", in.key.fn.Name), slog.Any("error", err))
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
			ref.s.queryChanged(ref.qid)
		}
	}
}
