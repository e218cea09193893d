package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/bench/dataset"
	"github.com/parley-chat/parley/internal/bench/scrape"
)

// GapResult is what one replication gap cost the server: the stream was
// cut (its walsender terminated), Writes messages were committed by SQL
// while it was down, and the server caught up.
type GapResult struct {
	// Mode is "resume" when the reconnect resumed the permanent slot,
	// "reset" when it made a new slot and re-ran every live query.
	Mode string `json:"mode"`
	// ConnectedMs is when /healthz first said streaming again after the
	// cut; FreshMs when the applied position passed the last gap write:
	// every live query then reflects every commit of the gap, and its
	// result has been handed to its sessions.
	ConnectedMs float64 `json:"connectedMs"`
	FreshMs     float64 `json:"freshMs"`
	// QueryRuns and ServerCPUS are parley_query_runs_total's and the
	// server process's CPU seconds' growth from the cut to fresh.
	QueryRuns  float64 `json:"queryRuns"`
	ServerCPUS float64 `json:"serverCpuSeconds"`
}

// gapPoll is how often the gap scenario reads /healthz while it waits.
const (
	gapPoll    = 10 * time.Millisecond
	gapTimeout = 5 * time.Minute
	gapSettle  = 2 * time.Second // between rounds
)

// scenarioGap: replication cut while Subscriptions idle subscriptions and
// a few active conversations are live; see GapResult.
func (r *Runner) scenarioGap(ctx context.Context) []Row {
	c := r.cfg.Gap
	g := dataset.Group{Prefix: dataset.IDPrefix + "g", Convs: c.Conversations, Staff: 1, History: r.cfg.PageSize}
	idle := dataset.IdleGroup{Prefix: dataset.IDPrefix + "gi", Convs: c.Subscriptions, PerCustomer: c.PerSession}
	if err := r.prepare(ctx, g); err != nil {
		return failed(ScenarioGap, err)
	}
	if err := dataset.SeedIdle(ctx, r.pool, idle); err != nil {
		return failed(ScenarioGap, err)
	}
	if err := r.waitReplicated(ctx, replicatedTimeout); err != nil {
		return failed(ScenarioGap, err)
	}
	f := r.newFleet(ScenarioGap, convIDs(g))
	defer f.close()
	if err := f.connect(ctx, twoParty(g, 2*g.Convs)); err != nil {
		return failed(ScenarioGap, err)
	}
	var specs []viewerSpec
	for k := 0; k*c.PerSession < c.Subscriptions; k++ {
		spec := viewerSpec{ident: idle.Customer(k), conv: -1}
		for i := k * c.PerSession; i < min((k+1)*c.PerSession, c.Subscriptions); i++ {
			spec.idle = append(spec.idle, idle.ConvID(i))
		}
		specs = append(specs, spec)
	}
	if _, err := r.connectMeasured(ctx, f, specs); err != nil {
		return failed(ScenarioGap, err)
	}
	sessions, subs := f.counts()
	row := Row{Scenario: ScenarioGap, Sessions: sessions, Subscriptions: subs}
	for round := range c.Rounds {
		res, err := r.gapRound(ctx, g, round)
		if err != nil {
			row.Error = fmt.Sprintf("round %d: %v", round+1, err)
			return []Row{row}
		}
		row.Gap = append(row.Gap, res)
		row.Notes = append(row.Notes, fmt.Sprintf("round %d (%s): streaming again after %.0f ms, every query fresh after %.0f ms; %.0f query runs, %.2f s server CPU",
			round+1, res.Mode, res.ConnectedMs, res.FreshMs, res.QueryRuns, res.ServerCPUS))
		r.log.Info("gap round", slog.Int("round", round+1), slog.String("mode", res.Mode),
			slog.Float64("fresh_ms", res.FreshMs), slog.Float64("query_runs", res.QueryRuns))
		select {
		case <-ctx.Done():
			return []Row{row}
		case <-time.After(gapSettle):
		}
	}
	return []Row{row}
}

// gapRound cuts the stream, writes in the gap and waits until the server
// has caught up.
func (r *Runner) gapRound(ctx context.Context, g dataset.Group, round int) (GapResult, error) {
	var res GapResult
	before, err := r.srv.Metrics(ctx)
	if err != nil {
		return res, err
	}
	h0, err := r.srv.Health(ctx)
	if err != nil {
		return res, err
	}
	var killed int
	cut := time.Now()
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
		WHERE active_pid IS NOT NULL AND database = current_database()) k`).Scan(&killed); err != nil {
		return res, fmt.Errorf("cut the stream: %w", err)
	}
	if killed != 1 {
		return res, fmt.Errorf("cut the stream: %d replication connections, want 1", killed)
	}
	for i := range r.cfg.Gap.Writes {
		conv := i % g.Convs
		seq := uint64(round*r.cfg.Gap.Writes + i + 1)
		content := fmt.Sprintf("bench %s gap #%d", r.run, seq)
		if err := dataset.InsertMessage(ctx, r.pool, r.run+"gap", seq, g.ConvID(conv), g.Customer(conv), content); err != nil {
			return res, err
		}
	}
	var lsnText string
	if err := r.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsnText); err != nil {
		return res, err
	}
	last, err := functions.ParseLSN(lsnText)
	if err != nil {
		return res, err
	}
	deadline := cut.Add(gapTimeout)
	for {
		h, err := r.srv.Health(ctx)
		if err == nil && h.Replication.Connected && res.ConnectedMs == 0 && h.Replication.Reconnects > h0.Replication.Reconnects {
			res.ConnectedMs = millis(time.Since(cut))
		}
		if err == nil && h.Replication.Connected {
			if applied, perr := functions.ParseLSN(h.Replication.AppliedLSN); perr == nil && applied >= last {
				res.FreshMs = millis(time.Since(cut))
				break
			}
		}
		if time.Now().After(deadline) {
			return res, errors.New("the server did not catch up")
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(gapPoll):
		}
	}
	after, err := r.srv.Metrics(ctx)
	if err != nil {
		return res, err
	}
	res.QueryRuns = after.Get(scrape.QueryRuns) - before.Get(scrape.QueryRuns)
	res.ServerCPUS = after.Get(scrape.CPU) - before.Get(scrape.CPU)
	res.Mode = "reset"
	if after.Get(scrape.Resumes) > before.Get(scrape.Resumes) {
		res.Mode = "resume"
	}
	return res, nil
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
