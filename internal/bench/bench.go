package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/internal/bench/dataset"
	"github.com/parley-chat/parley/internal/bench/scrape"
)

const (
	healthyTimeout    = 60 * time.Second
	replicatedTimeout = 5 * time.Minute
	sqlConns          = 16
	settle            = 500 * time.Millisecond // after connecting, before reading memory
)

// Runner runs the scenarios against one server. Not safe for concurrent
// use: one Run at a time.
type Runner struct {
	cfg  Config
	log  *slog.Logger
	base string // cfg.URL without a trailing slash
	run  string // random id of this Runner, in every message it writes
	srv  *scrape.Client
	pool *pgxpool.Pool // open during Run
	seq  atomic.Uint64 // the last message seq handed out, unique in the run
}

// New validates cfg and fills its zero fields with Defaults.
func New(cfg Config) (*Runner, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	base := strings.TrimRight(cfg.URL, "/")
	return &Runner{cfg: cfg, log: log, base: base, run: hex.EncodeToString(id[:]), srv: scrape.New(base)}, nil
}

// Run waits for the server to be healthy, then runs the configured
// scenarios one after another. A scenario that fails gives a Row with
// Error and the next one still runs; Run returns an error only when it
// cannot start or ctx ends.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
	pcfg, err := pgxpool.ParseConfig(r.cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pcfg.MaxConns = sqlConns
	r.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	defer r.pool.Close()
	if err := r.waitHealthy(ctx); err != nil {
		return nil, err
	}
	pg, err := dataset.Durability(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	c := r.cfg
	rep := &Report{Run: r.run, Started: time.Now(), URL: r.base, CPUs: runtime.NumCPU(), Postgres: pg,
		Config: ReportConfig{Duration: c.Duration.String(), WarmUp: c.WarmUp.String(), SQLShare: c.SQLShare,
			PageSize: c.PageSize, A: c.A, B: c.B, C: c.C, D: c.D, Stall: c.Stall, StallDurationS: c.Stall.Duration.Seconds(),
			LatencyStartsAt: "SQL writes: COMMIT returned; sendMessage: Mutation sent (its response is released only after the push)"}}
	scenarios := map[string]func(context.Context) []Row{
		ScenarioA: r.scenarioA, ScenarioB: r.scenarioB, ScenarioC: r.scenarioC, ScenarioD: r.scenarioD,
		ScenarioStall: r.scenarioStall,
	}
	for _, name := range AllScenarios {
		if !slices.Contains(c.Scenarios, name) {
			continue
		}
		start := time.Now()
		r.log.Info("scenario", slog.String("scenario", name))
		rows := scenarios[name](ctx)
		for i := range rows {
			rows[i].ElapsedS = time.Since(start).Seconds()
			if rows[i].Error != "" {
				r.log.Error("scenario failed", slog.String("scenario", rows[i].Scenario), slog.String("error", rows[i].Error))
			}
		}
		rep.Rows = append(rep.Rows, rows...)
		if name == ScenarioC {
			rep.CRatio = cRatio(rows)
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func cRatio(rows []Row) *Ratio {
	if len(rows) < 2 || rows[0].Error != "" || rows[len(rows)-1].Error != "" || rows[0].Latency.N == 0 {
		return nil
	}
	a, b := rows[0].Latency, rows[len(rows)-1].Latency
	div := func(x, y float64) float64 {
		if y == 0 {
			return 0
		}
		return x / y
	}
	return &Ratio{From: rows[0].Scenario, To: rows[len(rows)-1].Scenario,
		P50: div(b.P50, a.P50), P95: div(b.P95, a.P95), P99: div(b.P99, a.P99)}
}

// waitHealthy waits until /healthz says ok with replication connected.
func (r *Runner) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(healthyTimeout)
	for {
		h, err := r.srv.Health(ctx)
		if err == nil && h.Status == "ok" && h.Replication.Connected {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %q, replication connected %v", h.Status, h.Replication.Connected)
			}
			return fmt.Errorf("server at %s is not healthy after %s: %w", r.base, healthyTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// prepare seeds a group and waits for the server to have replicated it.
func (r *Runner) prepare(ctx context.Context, g dataset.Group) error {
	start := time.Now()
	if err := dataset.Seed(ctx, r.pool, g); err != nil {
		return err
	}
	if err := r.waitReplicated(ctx, replicatedTimeout); err != nil {
		return err
	}
	r.log.Info("seeded", slog.String("group", g.Prefix), slog.Int("conversations", g.Convs),
		slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	return nil
}

// waitReplicated waits until the server has applied the WAL written so
// far (its /healthz lag falls under 1 MiB), at most limit.
func (r *Runner) waitReplicated(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		h, err := r.srv.Health(ctx)
		if err == nil && h.Replication.Connected && h.Replication.LagBytes < 1<<20 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("replication still %d bytes behind after %s", h.Replication.LagBytes, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

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

func failed(name string, err error) []Row { return []Row{{Scenario: name, Error: err.Error()}} }

// twoParty returns the sessions of n conversations of g: conversation
// s%convs gets session s, its customer first, then its staff.
func twoParty(g dataset.Group, n int) []viewerSpec {
	specs := make([]viewerSpec, n)
	for s := range specs {
		i, j := s%g.Convs, s/g.Convs
		ident := g.Customer(i)
		if j > 0 {
			ident = g.StaffMember(i, j-1)
		}
		specs[s] = viewerSpec{ident: ident, conv: i}
	}
	return specs
}

func convIDs(g dataset.Group) []string {
	ids := make([]string, g.Convs)
	for i := range ids {
		ids[i] = g.ConvID(i)
	}
	return ids
}

func (r *Runner) withMemory(row Row, m memory) Row {
	row.MemPerSession, row.HeapPerSession, row.MemSessions = m.rss, m.heap, m.sessions
	return row
}

// scenarioA: many two-party conversations, open-loop writes.
func (r *Runner) scenarioA(ctx context.Context) []Row {
	c := r.cfg.A
	per := ceilDiv(c.Sessions, c.Conversations)
	g := dataset.Group{Prefix: dataset.IDPrefix + "a", Convs: c.Conversations, Staff: max(1, per-1), History: r.cfg.PageSize}
	if err := r.prepare(ctx, g); err != nil {
		return failed("a", err)
	}
	f := r.newFleet("a", convIDs(g))
	defer f.close()
	m, err := r.connectMeasured(ctx, f, twoParty(g, c.Sessions))
	if err != nil {
		return failed("a", err)
	}
	row := r.measure(ctx, f, load{name: "a", rate: c.Rate, sqlShare: r.cfg.SQLShare, warmUp: r.cfg.WarmUp, window: r.cfg.Duration})
	return []Row{r.withMemory(row, m)}
}

// scenarioB: one hot conversation; every viewer must receive every message.
func (r *Runner) scenarioB(ctx context.Context) []Row {
	c := r.cfg.B
	g := dataset.Group{Prefix: dataset.IDPrefix + "b", Convs: 1, Staff: max(1, c.Viewers-1), History: c.Page}
	if err := r.prepare(ctx, g); err != nil {
		return failed("b", err)
	}
	f := r.newFleet("b", convIDs(g))
	// Every viewer gets every push of the hot conversation: decoding them
	// all with syncclient would saturate the generator (see package lite).
	f.page, f.lite = c.Page, true
	defer f.close()
	m, err := r.connectMeasured(ctx, f, twoParty(g, c.Viewers))
	if err != nil {
		return failed("b", err)
	}
	row := r.measure(ctx, f, load{name: "b", rate: c.Rate, sqlShare: r.cfg.SQLShare, warmUp: r.cfg.WarmUp, window: r.cfg.Duration})
	if row.Error == "" {
		msgs := row.Writes - row.WriteErrors
		switch {
		case row.Dropped == 0 && row.Duplicates == 0:
			row.Notes = append(row.Notes, fmt.Sprintf("every one of %d viewers received every one of %d messages (%d receipts; getMessages limit %d; lite sessions)",
				row.ViewersChecked, msgs, row.Received, c.Page))
		case row.DroppedKeptUp == 0 && row.Duplicates == 0:
			row.Notes = append(row.Notes, fmt.Sprintf("every viewer that kept up received every message; %d receipts of %d viewers were beyond a page (%d) of a coalesced result: slow clients",
				row.DroppedBeyondPage, row.ViewersMissing, c.Page))
		default:
			row.Notes = append(row.Notes, fmt.Sprintf("NOT every viewer received every message: %d of %d viewers missed at least one of %d messages (%d receipts although the viewer kept up, %d beyond a page)",
				row.ViewersMissing, row.ViewersChecked, msgs, row.DroppedKeptUp, row.DroppedBeyondPage))
		}
	}
	return []Row{r.withMemory(row, m)}
}

// scenarioC: the same writes with more and more idle subscriptions.
func (r *Runner) scenarioC(ctx context.Context) []Row {
	c := r.cfg.C
	g := dataset.Group{Prefix: dataset.IDPrefix + "c", Convs: c.Conversations, Staff: 1, History: r.cfg.PageSize}
	most := c.Idle[len(c.Idle)-1]
	idle := dataset.IdleGroup{Prefix: dataset.IDPrefix + "ci", Convs: most, PerCustomer: c.IdlePerSession}
	if err := r.prepare(ctx, g); err != nil {
		return failed("c", err)
	}
	if most > 0 {
		start := time.Now()
		if err := dataset.SeedIdle(ctx, r.pool, idle); err != nil {
			return failed("c", err)
		}
		if err := r.waitReplicated(ctx, replicatedTimeout); err != nil {
			return failed("c", err)
		}
		r.log.Info("seeded", slog.String("group", idle.Prefix), slog.Int("conversations", most),
			slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	}
	f := r.newFleet("c", convIDs(g))
	defer f.close()
	if err := f.connect(ctx, twoParty(g, 2*c.Conversations)); err != nil {
		return failed("c", err)
	}
	var rows []Row
	sessions := 0 // idle sessions connected
	for _, level := range c.Idle {
		name := fmt.Sprintf("c/%d", level)
		var specs []viewerSpec
		for ; sessions*c.IdlePerSession < level; sessions++ {
			spec := viewerSpec{ident: idle.Customer(sessions), conv: -1}
			for i := sessions * c.IdlePerSession; i < min((sessions+1)*c.IdlePerSession, level); i++ {
				spec.idle = append(spec.idle, idle.ConvID(i))
			}
			specs = append(specs, spec)
		}
		m, err := r.connectMeasured(ctx, f, specs)
		if err != nil {
			rows = append(rows, Row{Scenario: name, Error: err.Error()})
			break
		}
		row := r.measure(ctx, f, load{name: name, rate: c.Rate, sqlShare: r.cfg.SQLShare, warmUp: r.cfg.WarmUp, window: r.cfg.Duration})
		row = r.withMemory(row, m)
		if m.sessions > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("KB/sess is per idle session added for this row (%d subscriptions each)", c.IdlePerSession))
		}
		rows = append(rows, row)
		if ctx.Err() != nil {
			break
		}
	}
	return rows
}

// scenarioD: peak sendMessage throughput, closed loop.
func (r *Runner) scenarioD(ctx context.Context) []Row {
	c := r.cfg.D
	g := dataset.Group{Prefix: dataset.IDPrefix + "d", Convs: ceilDiv(c.Subscribers, 2), Staff: 1, History: r.cfg.PageSize}
	if err := r.prepare(ctx, g); err != nil {
		return failed("d", err)
	}
	f := r.newFleet("d", convIDs(g))
	// At peak rate, decoding every push with syncclient took the generator
	// a quarter of a core, half of it in encoding/json: CPU the server and
	// Postgres share on this host (see package lite).
	f.lite = true
	defer f.close()
	specs := twoParty(g, c.Subscribers)
	m, err := r.connectMeasured(ctx, f, specs)
	if err != nil {
		return failed("d", err)
	}
	// Writers: the customers of the first conversations, one each.
	var writers []*viewer
	for _, v := range f.snapshot() {
		if v.ident.Role == g.Customer(0).Role && v.conv < c.Writers {
			writers = append(writers, v)
		}
	}
	if len(writers) < c.Writers { // more writers than conversations: staff write too
		for _, v := range f.snapshot() {
			if len(writers) < c.Writers && v.ident.Role != g.Customer(0).Role {
				writers = append(writers, v)
			}
		}
	}
	row := r.measure(ctx, f, load{name: "d", writers: writers, warmUp: r.cfg.WarmUp, window: r.cfg.Duration})
	row.Notes = append(row.Notes, fmt.Sprintf("closed loop: %d writers, each waiting for its sendMessage (read-your-writes) before the next", len(writers)))
	return []Row{r.withMemory(row, m)}
}
