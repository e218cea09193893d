package bench

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/bench/dataset"
	"github.com/parley-chat/parley/internal/bench/scrape"
)

// SoakPoint is one sample of the soak: the server's resources, and the
// fault injected since the previous sample ("" for none).
type SoakPoint struct {
	T          float64 `json:"t"` // seconds since the load started
	RSS        float64 `json:"rssBytes"`
	HeapInuse  float64 `json:"heapInuseBytes"`
	Goroutines float64 `json:"goroutines"`
	OpenFDs    float64 `json:"openFds"`
	LagBytes   float64 `json:"lagBytes"`
	Sessions   float64 `json:"sessions"`
	Fault      string  `json:"fault,omitempty"`
}

// SoakResult is the soak's verdict: per resource, the median of the
// samples of the first and of the second half of the run after its first
// fifth (warm-up), and whether the growth between them passed its bound.
type SoakResult struct {
	Samples int          `json:"samples"`
	Faults  int          `json:"faults"`
	Growth  []SoakGrowth `json:"growth"`
	Series  []SoakPoint  `json:"series"`
	FinalLg float64      `json:"finalLagBytes"`
}

// SoakGrowth is one resource's growth over the soak.
type SoakGrowth struct {
	Name   string  `json:"name"`
	First  float64 `json:"firstHalfMedian"`
	Second float64 `json:"secondHalfMedian"`
	Bound  float64 `json:"bound"` // the most Second may exceed First by
	OK     bool    `json:"ok"`
}

// Soak faults, injected in turn every FaultEvery.
const (
	faultWalsender = "walsender-terminated" // the replication connection
	faultBackends  = "backends-terminated"  // every pool connection of the server: a database blip
)

var soakFaults = []string{faultWalsender, faultBackends}

// soakTail is how long after the load the soak waits for replication to
// catch up before its last sample.
const soakTail = time.Minute

// scenarioSoak: scenario a's load for Soak.Duration with a fault every
// Soak.FaultEvery, the server sampled every Soak.Sample; see SoakResult.
func (r *Runner) scenarioSoak(ctx context.Context) []Row {
	c, sc := r.cfg.A, r.cfg.Soak
	per := ceilDiv(c.Sessions, c.Conversations)
	g := dataset.Group{Prefix: dataset.IDPrefix + "a", Convs: c.Conversations, Staff: max(1, per-1), History: r.cfg.PageSize}
	if err := r.prepare(ctx, g); err != nil {
		return failed(ScenarioSoak, err)
	}
	f := r.newFleet(ScenarioSoak, convIDs(g))
	defer f.close()
	if _, err := r.connectMeasured(ctx, f, twoParty(g, c.Sessions)); err != nil {
		return failed(ScenarioSoak, err)
	}

	start := time.Now()
	sctx, stop := context.WithCancel(ctx)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // guards series, faults, lastFault
		series []SoakPoint
		faults int
		last   string
	)
	wg.Go(func() { // faults
		t := time.NewTicker(sc.FaultEvery)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			name := soakFaults[i%len(soakFaults)]
			n, err := r.inject(sctx, name)
			if err != nil {
				if sctx.Err() == nil {
					r.log.Warn("soak: fault not injected", slog.String("fault", name), slog.Any("error", err))
				}
				continue
			}
			r.log.Info("soak: fault", slog.String("fault", name), slog.Int("connections", n))
			mu.Lock()
			faults++
			last = name
			mu.Unlock()
		}
	})
	sample := func(sctx context.Context) {
		m, err := r.srv.Metrics(sctx)
		if err != nil {
			r.log.Warn("soak: sample", slog.Any("error", err))
			return
		}
		mu.Lock()
		defer mu.Unlock()
		series = append(series, SoakPoint{T: time.Since(start).Seconds(), RSS: m.Get(scrape.RSS),
			HeapInuse: m.Get(scrape.HeapInuse), Goroutines: m.Get(scrape.Goroutines), OpenFDs: m.Get(scrape.OpenFDs),
			LagBytes: m.Get(scrape.ReplicationLag), Sessions: m.Get(scrape.Sessions), Fault: last})
		last = ""
	}
	wg.Go(func() { // samples
		t := time.NewTicker(sc.Sample)
		defer t.Stop()
		for {
			sample(sctx)
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	})
	row := r.measure(ctx, f, load{name: ScenarioSoak, rate: c.Rate, sqlShare: r.cfg.SQLShare, warmUp: r.cfg.WarmUp, window: sc.Duration})
	stop()
	wg.Wait()
	if err := r.waitReplicated(ctx, soakTail); err != nil {
		row.Notes = append(row.Notes, "after the load: "+err.Error())
	}
	sample(ctx)

	res := judgeSoak(series, faults)
	row.Soak = &res
	for _, g := range res.Growth {
		verdict := "ok"
		if !g.OK {
			verdict = "GROWS"
		}
		row.Notes = append(row.Notes, fmt.Sprintf("%s: median %.0f then %.0f (bound +%.0f): %s", g.Name, g.First, g.Second, g.Bound, verdict))
	}
	row.Notes = append(row.Notes, fmt.Sprintf("%d samples, %d faults; lag at the end %.0f bytes", res.Samples, res.Faults, res.FinalLg))
	if err := r.writeSoakFiles(res); err != nil {
		row.Notes = append(row.Notes, "files: "+err.Error())
	}
	var grows []string
	for _, g := range res.Growth {
		if !g.OK {
			grows = append(grows, g.Name)
		}
	}
	switch {
	case len(grows) > 0:
		row.Error = fmt.Sprintf("grows without bound: %v", grows)
	case res.FinalLg > soakMaxFinalLag:
		row.Error = fmt.Sprintf("replication did not catch up: %.0f bytes behind at the end", res.FinalLg)
	case res.Samples < 4:
		row.Error = fmt.Sprintf("only %d samples", res.Samples)
	}
	return []Row{row}
}

// soakMaxFinalLag is the replication lag the soak may end with.
const soakMaxFinalLag = 1 << 20

// inject applies one fault through the bench's own connection, which it
// spares: it returns how many connections it terminated.
func (r *Runner) inject(ctx context.Context, fault string) (int, error) {
	var q string
	switch fault {
	case faultWalsender:
		q = `SELECT count(*) FROM (SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
			WHERE active_pid IS NOT NULL AND database = current_database()) k`
	case faultBackends:
		q = `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND backend_type = 'client backend'
			  AND pid <> pg_backend_pid() AND application_name <> '` + benchAppName + `') k`
	default:
		return 0, fmt.Errorf("unknown fault %q", fault)
	}
	var n int
	err := r.pool.QueryRow(ctx, q).Scan(&n)
	return n, err
}

// judgeSoak compares the first and second half of the samples after the
// first fifth. Bounds: RSS and heap 10 % or 64 MiB, goroutines 10 % or
// 100, open files 10 % or 50, whichever is more — a leak of a few bytes
// per request or a goroutine per fault over 30 minutes exceeds them; the
// noise of garbage collection and reconnects does not.
func judgeSoak(series []SoakPoint, faults int) SoakResult {
	res := SoakResult{Samples: len(series), Faults: faults, Series: series}
	if len(series) > 0 {
		res.FinalLg = series[len(series)-1].LagBytes
	}
	rest := series[len(series)/5:]
	if len(rest) < 2 {
		return res
	}
	a, b := rest[:len(rest)/2], rest[len(rest)/2:]
	type metric struct {
		name  string
		get   func(SoakPoint) float64
		floor float64
	}
	for _, m := range []metric{
		{"rss", func(p SoakPoint) float64 { return p.RSS }, 64 << 20},
		{"heap", func(p SoakPoint) float64 { return p.HeapInuse }, 64 << 20},
		{"goroutines", func(p SoakPoint) float64 { return p.Goroutines }, 100},
		{"open files", func(p SoakPoint) float64 { return p.OpenFDs }, 50},
	} {
		first, second := median(a, m.get), median(b, m.get)
		bound := max(first/10, m.floor)
		res.Growth = append(res.Growth, SoakGrowth{Name: m.name, First: first, Second: second, Bound: bound, OK: second-first <= bound})
	}
	return res
}

func median(ps []SoakPoint, get func(SoakPoint) float64) float64 {
	vs := make([]float64, len(ps))
	for i, p := range ps {
		vs[i] = get(p)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

// writeSoakFiles writes the series as CSV and as an SVG plot where the
// configuration names them.
func (r *Runner) writeSoakFiles(res SoakResult) error {
	var errs []error
	if p := r.cfg.Soak.CSV; p != "" {
		errs = append(errs, writeSoakCSV(p, res.Series))
	}
	if p := r.cfg.Soak.SVG; p != "" {
		errs = append(errs, os.WriteFile(p, soakSVG(res.Series), 0o644))
	}
	return errors.Join(errs...)
}

func writeSoakCSV(path string, series []SoakPoint) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"t_seconds", "rss_bytes", "heap_inuse_bytes", "goroutines", "open_fds", "replication_lag_bytes", "sessions", "fault"})
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, p := range series {
		_ = w.Write([]string{num(p.T), num(p.RSS), num(p.HeapInuse), num(p.Goroutines), num(p.OpenFDs), num(p.LagBytes), num(p.Sessions), p.Fault})
	}
	w.Flush()
	return errors.Join(w.Error(), f.Close())
}
