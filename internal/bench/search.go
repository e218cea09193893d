package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/bench/dataset"
	"github.com/parley-chat/parley/internal/bench/scrape"
)

// The search scenario: searchMessages over a large history (a
// dataset.SearchGroup), one call at a time, for each kind of query a
// search box sends, with EXPLAIN (ANALYZE) of the statement it runs.
//
// A call is one POST /api/query: the server runs the query in a
// read-only transaction of its own and keeps no instance of it, so no
// call is answered from an earlier one's result (a subscription's first
// result would be the same work, plus the instance). Latency runs from
// the request to the end of the response's body.

const fnSearch = "shared/chat:searchMessages"

const (
	searchWarmUp   = 3    // calls of each kind before its window, not measured
	searchMaxCalls = 5000 // calls of each kind, at most
	searchTimeout  = 60 * time.Second
	planLines      = 24 // lines of a plan the table shows, at most
)

// searchKind is one kind of query the scenario measures: row search/name.
type searchKind struct {
	name    string
	queries []string // called in turn
	caller  functions.Identity
	conv    string           // conversationId, or "" for all the caller may see
	scope   chat.SearchScope // what the server searches for caller and conv (for EXPLAIN)
}

// scenarioSearch seeds the group (or finds it seeded), then measures
// every kind of query for Config.Duration.
func (r *Runner) scenarioSearch(ctx context.Context) []Row {
	c := r.cfg.Search
	g := dataset.SearchGroup{Prefix: dataset.IDPrefix + "q", Messages: c.Messages, Convs: c.Conversations, PerCustomer: c.PerCustomer}
	start := time.Now()
	last := start
	seeded, err := dataset.SeedSearch(ctx, r.pool, g, func(done, total int) {
		if time.Since(last) >= 5*time.Second || done == total {
			last = time.Now()
			r.log.Info("seeding search messages", slog.Int("done", done), slog.Int("of", total),
				slog.Duration("elapsed", time.Since(start).Round(time.Second)))
		}
	})
	if err != nil {
		return failed(ScenarioSearch, err)
	}
	seedNote := fmt.Sprintf("%d messages in %d conversations were already seeded (group %s): reused", c.Messages, c.Conversations, g.Prefix)
	if seeded {
		seedNote = fmt.Sprintf("seeded %d messages in %d conversations (group %s) in %s", c.Messages, c.Conversations, g.Prefix,
			time.Since(start).Round(time.Second))
	}
	r.log.Info("search data", slog.String("group", g.Prefix), slog.Bool("seeded", seeded), slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	if err := r.waitReplicated(ctx, 2*replicatedTimeout); err != nil {
		return failed(ScenarioSearch, err)
	}

	admin, cust := g.Admin(), g.Customer(0)
	common := "order" // dataset.Vocabulary's third word: in about a third of the messages
	kinds := []searchKind{
		{name: "rare", queries: dataset.RareWords, caller: admin},
		{name: "common", queries: []string{common}, caller: admin},
		{name: "two-word", queries: []string{"refund delayed"}, caller: admin},
		{name: "conversation", queries: []string{common}, caller: cust, conv: g.ConvID(0), scope: chat.SearchScope{ConversationID: g.ConvID(0)}},
		{name: "customer", queries: []string{common}, caller: cust, scope: chat.SearchScope{CustomerID: cust.Subject, MemberID: cust.Subject}},
	}
	var rows []Row
	for _, k := range kinds {
		row := r.searchKind(ctx, k)
		row.Notes = append([]string{seedNote}, row.Notes...)
		rows = append(rows, row)
		if ctx.Err() != nil {
			break
		}
	}
	return rows
}

// searchKind measures one kind of query: warm-up calls, then calls one
// after another for Config.Duration; then EXPLAIN of its first query.
func (r *Runner) searchKind(ctx context.Context, k searchKind) Row {
	c := r.cfg.Search
	row := Row{Scenario: ScenarioSearch + "/" + k.name}
	tok, err := r.cfg.Mint(k.caller)
	if err != nil {
		row.Error = fmt.Sprintf("mint token for %s: %v", k.caller.Subject, err)
		return row
	}
	hc := &http.Client{Timeout: searchTimeout}
	call := func(q string) (int, time.Duration, error) {
		args := map[string]any{"query": q, "limit": c.Limit}
		if k.conv != "" {
			args["conversationId"] = k.conv
		}
		t0 := time.Now()
		v, err := r.query(ctx, hc, tok, fnSearch, args)
		took := time.Since(t0)
		if err != nil {
			return 0, took, err
		}
		var res struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(v, &res); err != nil {
			return 0, took, fmt.Errorf("%s: decode its result: %w", fnSearch, err)
		}
		return len(res.Messages), took, nil
	}
	hits := map[string]int{}
	for i := range searchWarmUp {
		q := k.queries[i%len(k.queries)]
		n, _, err := call(q)
		if err != nil {
			row.Error = fmt.Sprintf("%s %q as %s: %v", fnSearch, q, k.caller.Subject, err)
			return row
		}
		hits[q] = n
	}
	f := r.newFleet(row.Scenario, nil) // no sessions: readEdge's push count is zero
	var lat []int64
	var firstErr error
	measureFrom := time.Now()
	end := measureFrom.Add(r.cfg.Duration)
	e0 := r.readEdge(ctx, f)
	for i := 0; i < searchMaxCalls && time.Now().Before(end) && ctx.Err() == nil; i++ {
		q := k.queries[i%len(k.queries)]
		n, took, err := call(q)
		row.Writes++
		if err != nil {
			row.WriteErrors++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		hits[q] = n
		lat = append(lat, int64(took))
	}
	end = time.Now()
	e1 := r.readEdge(ctx, f)
	if err := errors.Join(e0.err, e1.err, ctx.Err()); err != nil {
		row.Error = err.Error()
		return row
	}
	row.Latency = summarize(lat)
	if n := rates(&row, outcome{doneInWindow: len(lat)}, measureFrom, end, e0, e1, runtime.NumCPU()); n != "" {
		row.Notes = append(row.Notes, n)
	}
	row.ServerRSS = e1.m.Get(scrape.RSS)
	row.ServerRSSMax = row.ServerRSS

	row.Returned = hits[k.queries[0]]
	var hs []string
	for _, q := range k.queries {
		hs = append(hs, fmt.Sprintf("%q %d", q, hits[q]))
	}
	scope := "everything the caller may see"
	if k.conv != "" {
		scope = "conversationId " + k.conv
	}
	row.Notes = append(row.Notes, fmt.Sprintf("searchMessages as %s (%s), %s, limit %d, one call at a time over POST /api/query: "+
		"%d calls (the writes column), p50 %.2f p99 %.2f max %.1f ms; messages returned: %s",
		k.caller.Role, k.caller.Subject, scope, c.Limit, len(lat), row.Latency.P50, row.Latency.P99, row.Latency.Max, strings.Join(hs, ", ")))
	if firstErr != nil {
		row.Notes = append(row.Notes, fmt.Sprintf("%d of %d calls failed (first: %v)", row.WriteErrors, row.Writes, firstErr))
	}
	row.Notes = append(row.Notes, fmt.Sprintf("CPU (cores): server %.2f, postgres %.2f, bench %.2f, whole machine %.2f of %d",
		row.ServerCPU, row.PostgresCPU, row.BenchCPU, row.HostCPU, runtime.NumCPU()))

	plan, generic, err := r.explainSearch(ctx, k, k.queries[0])
	if err != nil {
		row.Notes = append(row.Notes, fmt.Sprintf("EXPLAIN failed: %v", err))
		return row
	}
	row.Plan, row.GenericPlan = plan, generic
	row.Notes = append(row.Notes, fmt.Sprintf("EXPLAIN (ANALYZE) of %q: %s; uses messages_search: %s (its parameters' plan), %s (the generic plan a prepared statement may switch to)",
		k.queries[0], planTime(plan), yesNo(usesIndex(plan)), yesNo(usesIndex(generic))))
	return row
}

// query calls a query over the HTTP API (POST /api/query) with token
// tok and returns its value.
func (r *Runner) query(ctx context.Context, hc *http.Client, tok, path string, args any) (json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"path": path, "args": args, "format": "json"})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/api/query", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read the response: %w", path, err)
	}
	var out struct {
		Status       string          `json:"status"`
		Value        json.RawMessage `json:"value"`
		ErrorMessage string          `json:"errorMessage"`
	}
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK || out.Status != "success" {
		return nil, fmt.Errorf("%s: HTTP %d: %s %.200s", path, resp.StatusCode, out.ErrorMessage, b)
	}
	return out.Value, nil
}

// explainSearch runs EXPLAIN (ANALYZE, BUFFERS) of the statement
// searchMessages runs for k and q, once with its parameters (the plan an
// unnamed statement gets) and once as the generic plan of a prepared
// statement (the server's pgx prepares its statements, and Postgres may
// switch to the generic plan after five runs).
func (r *Runner) explainSearch(ctx context.Context, k searchKind, q string) (plan, generic []string, err error) {
	sql, args := chat.SearchSQL(k.scope, q, r.cfg.Search.Limit+1) // the server asks for one more, to know whether there are more
	lines := func(rows pgx.Rows) ([]string, error) {
		defer rows.Close()
		var out []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				return nil, err
			}
			out = append(out, l)
		}
		return out, rows.Err()
	}
	rows, err := r.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("explain: %w", err)
	}
	if plan, err = lines(rows); err != nil {
		return nil, nil, fmt.Errorf("explain: %w", err)
	}

	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return plan, nil, err
	}
	defer conn.Release()
	lits := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(a, "'", "''") + "'"
		default:
			lits[i] = fmt.Sprint(a)
		}
	}
	for _, s := range []string{"SET plan_cache_mode = force_generic_plan", "PREPARE bench_search AS " + sql} {
		if _, err := conn.Exec(ctx, s); err != nil {
			return plan, nil, fmt.Errorf("generic plan: %w", err)
		}
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "DEALLOCATE bench_search")
		_, _ = conn.Exec(context.WithoutCancel(ctx), "RESET plan_cache_mode")
	}()
	rows, err = conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_search("+strings.Join(lits, ", ")+")", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return plan, nil, fmt.Errorf("generic plan: %w", err)
	}
	generic, err = lines(rows)
	return plan, generic, err
}

// planNodes returns a plan's first line, its nodes' lines and its
// execution time: at most planLines of them.
func planNodes(plan []string) []string {
	var out []string
	for i, l := range plan {
		t := strings.TrimSpace(l)
		if i == 0 || strings.HasPrefix(t, "->") || strings.HasPrefix(t, "Index Cond") || strings.HasPrefix(t, "Execution Time") {
			out = append(out, l)
		}
	}
	return out[:min(len(out), planLines)]
}

func usesIndex(plan []string) bool {
	for _, l := range plan {
		if strings.Contains(l, "messages_search") {
			return true
		}
	}
	return false
}

// planTime returns a plan's "Execution Time" line, trimmed.
func planTime(plan []string) string {
	for _, l := range plan {
		if strings.HasPrefix(strings.TrimSpace(l), "Execution Time") {
			return strings.ToLower(strings.TrimSpace(l))
		}
	}
	return "no execution time"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
