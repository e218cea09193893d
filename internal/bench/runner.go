package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
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
)

// Runner runs the scenarios against one server, of one node or several. Not safe for concurrent
// use: one Run at a time.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	base  string   // the first node's URL: search's calls, messages
	nodes []string // cfg.URLs without trailing slashes, repeats kept: the sessions' nodes (node)
	run   string   // random id of this Runner, in every message it writes
	srv   *scrape.Client
	pool  *pgxpool.Pool // open during Run
	seq   atomic.Uint64 // the last message seq handed out, unique in the run
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
	nodes := nodeURLs(cfg.URLs)
	return &Runner{cfg: cfg, log: log, base: nodes[0], nodes: nodes, run: hex.EncodeToString(id[:]), srv: scrape.New(nodes...)}, nil
}

// benchAppName is the application_name of the bench's own connections.
const benchAppName = "parley_bench"

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
	pcfg.ConnConfig.RuntimeParams["application_name"] = benchAppName // the soak's faults spare it
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
	rep := &Report{Run: r.run, Started: time.Now(), URL: strings.Join(r.nodes, ","), URLs: r.nodes,
		Nodes: len(distinct(r.nodes)), CPUs: runtime.NumCPU(), Postgres: pg,
		Config: ReportConfig{Duration: c.Duration.String(), WarmUp: c.WarmUp.String(), SQLShare: c.SQLShare,
			PageSize: c.PageSize, A: c.A, B: c.B, C: c.C, D: c.D, Stall: c.Stall, Gap: c.Gap, E: c.E, Search: c.Search, StallDurationS: c.Stall.Duration.Seconds(),
			LatencyStartsAt: "SQL writes: COMMIT returned; sendMessage: Mutation sent (its response is released only after the push)"}}
	if m, err := r.srv.Metrics(ctx); err == nil {
		rep.ServerProcesses = m.Processes
	}
	r.log.Info("nodes", slog.Int("nodes", rep.Nodes), slog.Int("processes", rep.ServerProcesses), slog.String("urls", rep.URL))
	scenarios := map[string]func(context.Context) []Row{
		ScenarioA: r.scenarioA, ScenarioB: r.scenarioB, ScenarioC: r.scenarioC, ScenarioD: r.scenarioD,
		ScenarioStall: r.scenarioStall, ScenarioGap: r.scenarioGap, ScenarioSoak: r.scenarioSoak,
		ScenarioE: r.scenarioE, ScenarioSearch: r.scenarioSearch,
	}
	for _, name := range slices.Concat(AllScenarios, ExtraScenarios) {
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
