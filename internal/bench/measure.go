package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/bench/scrape"
)

// settle is the wait after connecting, before reading memory.
const settle = 500 * time.Millisecond

// memory is what connecting some sessions cost the server.
type memory struct {
	sessions int
	rss      float64 // RSS growth / sessions
	heap     float64 // heap in use growth / sessions
}

// connectMeasured connects specs and measures the server's memory growth.
func (r *Runner) connectMeasured(ctx context.Context, f *fleet, specs []viewerSpec) (memory, error) {
	before, err := r.srv.Metrics(ctx)
	if err != nil {
		return memory{}, err
	}
	start := time.Now()
	if err := f.connect(ctx, specs); err != nil {
		return memory{}, err
	}
	took := time.Since(start)
	wait := settle
	if len(specs) < minMemSessions { // too few to measure: do not wait
		wait = 0
	}
	select {
	case <-ctx.Done():
		return memory{}, ctx.Err()
	case <-time.After(wait):
	}
	after, err := r.srv.Metrics(ctx)
	if err != nil {
		return memory{}, err
	}
	n := len(specs)
	m := memory{sessions: n}
	if n > 0 {
		m.rss = (after.Get(scrape.RSS) - before.Get(scrape.RSS)) / float64(n)
		m.heap = (after.Get(scrape.HeapInuse) - before.Get(scrape.HeapInuse)) / float64(n)
	}
	r.log.Info("connected", slog.String("scenario", f.name), slog.Int("sessions", n),
		slog.Duration("took", took.Round(time.Millisecond)), slog.Float64("rssKBPerSession", m.rss/1024))
	return m, nil
}

// load describes the writes of one measurement.
type load struct {
	name     string
	rate     float64   // open loop, writes/s; zero means closed loop
	writers  []*viewer // closed loop
	sqlShare float64
	warmUp   time.Duration
	window   time.Duration
	padding  int
}

// measure runs l over f and reports it.
func (r *Runner) measure(ctx context.Context, f *fleet, l load) Row {
	row := Row{Scenario: l.name}
	row.Sessions, row.Subscriptions = f.counts()
	p := &phase{f: f}
	if l.padding > 0 {
		p.padding = " " + strings.Repeat("x", l.padding)
	}
	start := time.Now()
	measureFrom := start.Add(l.warmUp)
	end := measureFrom.Add(l.window)
	smp := r.srv.StartSampler(ctx, start)
	overflow0 := f.overflows.Load()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned: wg
		defer wg.Done()
		if l.rate > 0 {
			p.openLoop(ctx, l.rate, l.sqlShare, start, measureFrom, end)
		} else {
			p.closedLoop(ctx, l.writers, measureFrom, end)
		}
	}()
	r.log.Info("load", slog.String("scenario", l.name), slog.Float64("rate", l.rate), slog.Int("writers", len(l.writers)),
		slog.Duration("warmUp", l.warmUp), slog.Duration("window", l.window))

	sleepUntil(ctx, measureFrom)
	e0 := r.readEdge(ctx, f)
	sleepUntil(ctx, end)
	e1 := r.readEdge(ctx, f)
	wg.Wait()
	f.waitDrained(ctx, r.cfg.Drain)
	sum := smp.Stop()
	row.Overflows = f.overflows.Load() - overflow0
	if err := errors.Join(e0.err, e1.err, ctx.Err()); err != nil {
		row.Error = err.Error()
		return row
	}

	o := p.analyze(f.since(measureFrom), f.since(end))
	m0, m1 := e0.m, e1.m
	row.Writes, row.WriteErrors, row.Skipped = o.writes, o.errors, o.skipped
	if n := rates(&row, o, measureFrom, end, e0, e1, runtime.NumCPU()); n != "" {
		row.Notes = append(row.Notes, n)
	}
	row.Latency, row.MutationLatency, row.SQLLatency, row.Early = o.all, o.mut, o.sql, o.early
	row.LastViewerLatency = o.last
	row.Expected, row.Received, row.Dropped, row.Duplicates = o.expected, o.received, o.dropped, o.duplicates
	row.DroppedKeptUp, row.DroppedBeyondPage = o.droppedKeptUp, o.droppedBeyond
	row.MissedByAll, row.MissedBySome = o.missedByAll, o.missedBySome
	row.ViewersMissing, row.ViewersChecked = o.viewersMissing, o.viewersChecked
	if n := m1.Get(scrape.WriteToPushCount) - m0.Get(scrape.WriteToPushCount); n > 0 {
		row.ServerMeanPushS = (m1.Get(scrape.WriteToPushSum) - m0.Get(scrape.WriteToPushSum)) / n
	}
	row.ServerRSS = m1.Get(scrape.RSS)
	row.ServerSessions, row.ServerInstances = m1.Get(scrape.Sessions), m1.Get(scrape.QueryInstances)
	row.ServerRSSMax = max(sum.MaxRSS, row.ServerRSS)
	row.ReplicationLag = sum.MaxLag
	row.Series = sum.Series
	if sum.Errors > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("%d of %d metrics scrapes failed (last: %v)", sum.Errors, sum.Errors+sum.Scrapes, sum.LastErr))
	}
	if d := m1.Get(scrape.ClosedSlow) - m0.Get(scrape.ClosedSlow); d > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("the server closed %.0f sessions as too slow", d))
	}

	pe, firstPE, disc, firstDisc := f.health()
	row.ProtocolErrors, row.Disconnects = pe, disc
	if pe > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("%d protocol violations seen by clients (first: %v)", pe, firstPE))
	}
	if disc > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("%d sessions lost their connection (first: %v)", disc, firstDisc))
	}
	if n := o.errorNote(); n != "" {
		row.Notes = append(row.Notes, n)
	}
	var lat []string
	if o.mut.N > 0 {
		lat = append(lat, fmt.Sprintf("send→push (sendMessage) p50 %.2f p99 %.2f ms n=%d", o.mut.P50, o.mut.P99, o.mut.N))
	}
	if o.sql.N > 0 {
		lat = append(lat, fmt.Sprintf("commit→push (SQL) p50 %.2f p99 %.2f ms n=%d", o.sql.P50, o.sql.P99, o.sql.N))
	}
	lat = append(lat, fmt.Sprintf("server commit→queued mean %.2f ms", row.ServerMeanPushS*1000),
		fmt.Sprintf("server %.0f sessions, %.0f query instances", row.ServerSessions, row.ServerInstances),
		fmt.Sprintf("CPU (cores): server %.2f, postgres %.2f, bench %.2f, whole machine %.2f of %d (other processes %.2f if the server runs here)",
			row.ServerCPU, row.PostgresCPU, row.BenchCPU, row.HostCPU, runtime.NumCPU(),
			max(0, row.HostCPU-row.ServerCPU-row.PostgresCPU-row.BenchCPU)))
	row.Notes = append(row.Notes, strings.Join(lat, "; "))
	if o.dropped > 0 || o.duplicates > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("DROPS: %d of %d receipts missing, %d duplicated; %d messages no viewer held, %d held by some viewers only; %d of %d viewers missed a message",
			o.dropped, o.expected, o.duplicates, o.missedByAll, o.missedBySome, o.viewersMissing, o.viewersChecked))
	}
	if o.droppedKeptUp > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("SERVER DROPS: %d receipts missing although the viewer kept up (no whole page of new messages spans the write)",
			o.droppedKeptUp))
	}
	if row.Overflows > 0 || o.droppedBeyond > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("slow clients: %d getMessages results were a whole page (%d) of messages new to their viewer; "+
			"%d missing receipts fall in such a jump: pushes coalesce per query (newest result wins), so a viewer more than a page behind "+
			"never sees the messages between (by design; a bigger page checks deeper)",
			row.Overflows, f.page, o.droppedBeyond))
	}
	return row
}

// edge is what measure reads at either edge of the window. Each reading
// keeps its own time: under load some take long (f.pushes locks every
// subscription; the scrape waits for the server), and an edge read late
// must not shrink the window the writes are counted in.
type edge struct {
	at       time.Time // when cpu and host were read, first
	cpu      time.Duration
	host     hostCPU
	m        scrape.Sample // m.At: when the scrape returned
	err      error
	pushes   int64
	pushesAt time.Time // the middle of the count
}

func (r *Runner) readEdge(ctx context.Context, f *fleet) edge {
	e := edge{at: time.Now(), cpu: cpuTime(), host: readHostCPU()}
	e.m, e.err = r.srv.Metrics(ctx)
	t := time.Now()
	e.pushes = f.pushes()
	e.pushesAt = t.Add(time.Since(t) / 2)
	return e
}

// lateEdge is how late an edge may be read before the row says so.
const lateEdge = time.Second

// rates fills row's window and rates. Write counts are those of
// [measureFrom, end) (doneInWindow), so they are divided by that nominal
// window; every other counter by the interval between its own readings.
// It returns a note when an edge was read late (the generator is
// overloaded), or "".
func rates(row *Row, o outcome, measureFrom, end time.Time, e0, e1 edge, cpus int) string {
	per := func(x float64, a, b time.Time) float64 {
		if d := b.Sub(a).Seconds(); d > 0 {
			return x / d
		}
		return 0
	}
	win := end.Sub(measureFrom).Seconds()
	row.WindowS = win
	row.WritesPerSec = per(float64(o.doneInWindow), measureFrom, end)
	row.MutationsPerSec = per(float64(o.mutInWindow), measureFrom, end)
	row.PushesPerSec = per(float64(e1.pushes-e0.pushes), e0.pushesAt, e1.pushesAt)
	row.ServerMutationsPerSec = per(e1.m.Get(scrape.Mutations)-e0.m.Get(scrape.Mutations), e0.m.At, e1.m.At)
	row.QueryRunsPerSec = per(e1.m.Get(scrape.QueryRuns)-e0.m.Get(scrape.QueryRuns), e0.m.At, e1.m.At)
	row.ServerCPU = per(e1.m.Get(scrape.CPU)-e0.m.Get(scrape.CPU), e0.m.At, e1.m.At)
	row.BenchCPU = per((e1.cpu - e0.cpu).Seconds(), e0.at, e1.at)
	row.HostCPU, row.PostgresCPU = hostCores(e0.host, e1.host, cpus, e1.at.Sub(e0.at).Seconds())
	later := func(a, b time.Time) time.Time {
		if a.After(b) {
			return a
		}
		return b
	}
	lateStart := later(e0.pushesAt, e0.m.At).Sub(measureFrom)
	lateEnd := later(e1.pushesAt, e1.m.At).Sub(end)
	if lateStart > lateEdge || lateEnd > lateEdge {
		return fmt.Sprintf("the generator read the window's edges late (start +%.1fs, end +%.1fs): it is overloaded; "+
			"writes/s use the %.0fs window, every other rate the interval between its own readings",
			lateStart.Seconds(), lateEnd.Seconds(), win)
	}
	return ""
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}
