package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/bench"
	"github.com/parley-chat/parley/internal/bench/scrape"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// quickConfig is bench.Quick aimed at a fresh server of t's own, with
// parley serve's default session caps: the bench's loopback sessions must
// not hit them.
func quickConfig(t *testing.T) bench.Config {
	return quickConfigOf(t, parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.MaxSessionsPerIP, cfg.MaxSessionsPerUser = server.DefaultMaxSessionsPerIP, server.DefaultMaxSessionsPerUser
		cfg.SessionsPerIPExempt = server.Loopback
	}))
}

// quickConfigOf is bench.Quick aimed at s.
func quickConfigOf(t *testing.T, s *parleytest.Server) bench.Config {
	cfg := bench.Quick()
	cfg.URLs, cfg.DatabaseURL = []string{s.URL}, s.DBURL
	cfg.Mint = func(id functions.Identity) (string, error) { return s.Token(t, id), nil }
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return cfg
}

// TestQuickRun runs every scenario at the quick sizes against a real
// server and checks that the generator measured something and that the
// server delivered every message to every viewer. It asserts nothing about
// speed.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every bench scenario")
	}
	cfg := quickConfig(t)
	r, err := bench.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := r.Run(ctx)
	require.NoError(t, err)
	t.Logf("quick run took %s", time.Since(start))

	var names []string
	for _, row := range rep.Rows {
		names = append(names, row.Scenario)
		require.Empty(t, row.Error, row.Scenario)
		if row.Scenario == bench.ScenarioGap || strings.HasPrefix(row.Scenario, bench.ScenarioSearch+"/") {
			continue // no load of its own, no sessions: see below, and TestQuickSearch
		}
		require.Positive(t, row.Writes, "%s: no writes measured", row.Scenario)
		// A write the server fails (a serialization failure past its
		// retries, say) is the server's to fix; the generator reports it.
		require.LessOrEqual(t, row.WriteErrors, row.Writes/10, "%s: %v", row.Scenario, row.Notes)
		if row.WriteErrors > 0 {
			t.Logf("%s: %d of %d writes failed: %v", row.Scenario, row.WriteErrors, row.Writes, row.Notes)
		}
		require.Positive(t, row.Latency.N, "%s: no latency samples", row.Scenario)
		require.Zero(t, row.Dropped, "%s: every viewer receives every message: %v", row.Scenario, row.Notes)
		require.Zero(t, row.Duplicates, row.Scenario)
		require.Zero(t, row.ProtocolErrors, "%s: %v", row.Scenario, row.Notes)
		require.Zero(t, row.Disconnects, "%s: %v", row.Scenario, row.Notes)
		require.Positive(t, row.PushesPerSec, row.Scenario)
		require.Positive(t, row.QueryRunsPerSec, row.Scenario)
		require.Positive(t, row.ServerRSS, row.Scenario)
	}
	require.Equal(t, []string{"a", "b", "c/10", "c/1000", "d", "stall", "gap", "e/edit", "e/ack",
		"search/rare", "search/common", "search/two-word", "search/conversation", "search/customer"}, names)

	byName := map[string]bench.Row{}
	for _, row := range rep.Rows {
		byName[row.Scenario] = row
	}
	require.Equal(t, cfg.A.Sessions, byName["a"].Sessions)
	require.Equal(t, 4*cfg.A.Sessions, byName["a"].Subscriptions, "the mix: four queries per session")
	require.Equal(t, cfg.B.Viewers, byName["b"].ViewersChecked)
	require.Zero(t, byName["b"].ViewersMissing)
	b := byName["b"]
	require.Equal(t, b.Writes-b.WriteErrors, b.LastViewerLatency.N, "b: the time to the last viewer of every write every viewer held")
	require.GreaterOrEqual(t, b.LastViewerLatency.P50, b.Latency.P50, "b: the last viewer is no earlier than the median one")
	require.Equal(t, 4*2*cfg.C.Conversations+1000, byName["c/1000"].Subscriptions)
	require.Positive(t, byName["d"].MutationsPerSec)
	require.Zero(t, byName["d"].SQLLatency.N, "d writes by sendMessage only")
	require.NotNil(t, byName["stall"].Stall)
	require.Equal(t, cfg.Stall.Clients, byName["stall"].Stall.Clients)
	gap := byName["gap"]
	require.Equal(t, 4*2*cfg.Gap.Conversations+cfg.Gap.Subscriptions, gap.Subscriptions)
	require.Len(t, gap.Gap, cfg.Gap.Rounds)
	for _, g := range gap.Gap {
		require.Equal(t, "resume", g.Mode, "the server resumes its permanent slot")
		require.Positive(t, g.FreshMs)
		require.GreaterOrEqual(t, g.FreshMs, g.ConnectedMs)
	}
	require.NotNil(t, rep.CRatio)
	require.Contains(t, rep.Postgres, "synchronous_commit")

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "p99 ms")
	require.Contains(t, table.String(), "postgres durability")
	t.Log("\n" + table.String())
	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var back bench.Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Len(t, back.Rows, len(rep.Rows))
}

func TestNewValidates(t *testing.T) {
	mint := func(functions.Identity) (string, error) { return "", nil }
	base := func() bench.Config {
		return bench.Config{URLs: []string{"http://127.0.0.1:1"}, DatabaseURL: "postgres://x", Mint: mint}
	}
	tests := []struct {
		name   string
		modify func(*bench.Config)
		want   string
	}{
		{"ok with defaults", func(*bench.Config) {}, ""},
		{"missing url", func(c *bench.Config) { c.URLs = nil }, "required"},
		{"several urls, one repeated", func(c *bench.Config) {
			c.URLs = []string{"http://127.0.0.1:1", "http://127.0.0.1:2/", "http://127.0.0.1:1"}
		}, ""},
		{"a url without a scheme", func(c *bench.Config) { c.URLs = append(c.URLs, "127.0.0.1:2") }, `bad URL "127.0.0.1:2"`},
		{"an empty url", func(c *bench.Config) { c.URLs = append(c.URLs, "") }, `bad URL ""`},
		{"unknown scenario", func(c *bench.Config) { c.Scenarios = []string{"f"} }, `unknown scenario "f"`},
		{"e with one viewer", func(c *bench.Config) { c.E.Viewers = 1 }, "at least 2 viewers"},
		{"search limit above the limit", func(c *bench.Config) { c.Search.Limit = 51 }, "exceeds searchMessages' limit"},
		{"fewer searched messages than conversations", func(c *bench.Config) { c.Search.Messages, c.Search.Conversations = 10, 20 }, "a message per conversation"},
		{"sql share above 1", func(c *bench.Config) { c.SQLShare = 1.5 }, "not between 0 and 1"},
		{"page above the limit", func(c *bench.Config) { c.PageSize = 101 }, "exceeds getMessages' limit"},
		{"fewer sessions than conversations", func(c *bench.Config) { c.A.Sessions, c.A.Conversations = 10, 20 }, "at least one session per conversation"},
		{"idle counts descend", func(c *bench.Config) { c.C.Idle = []int{100, 10} }, "must ascend"},
		{"more writers than subscribers", func(c *bench.Config) { c.D.Writers, c.D.Subscribers = 20, 10 }, "writers are subscribers"},
		{"too few files", func(c *bench.Config) { c.MaxOpenFiles = 1024 }, "open files"},
		{"enough files for b", func(c *bench.Config) { c.MaxOpenFiles = 2000; c.Scenarios = []string{"b"} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.modify(&cfg)
			_, err := bench.New(cfg)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, bench.ErrConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestQuickE runs scenario e at the quick sizes: every viewer receives
// every edit and every acknowledgement, and the rows hold latencies.
func TestQuickE(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bench scenario e")
	}
	cfg := quickConfig(t)
	cfg.Scenarios = []string{bench.ScenarioE}
	r, err := bench.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	rep, err := r.Run(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Rows, 2)
	for i, name := range []string{"e/edit", "e/ack"} {
		row := rep.Rows[i]
		require.Equal(t, name, row.Scenario)
		require.Empty(t, row.Error, "%s: %v", name, row.Notes)
		require.Positive(t, row.Writes, name)
		require.Zero(t, row.WriteErrors, "%s: %v", name, row.Notes)
		require.Equal(t, cfg.E.Viewers, row.ViewersChecked, name)
		require.Equal(t, row.Writes*cfg.E.Viewers, row.Expected, name)
		require.Zero(t, row.Dropped, "%s: every viewer receives every operation: %v", name, row.Notes)
		require.Equal(t, row.Expected, row.Latency.N, name)
		require.Equal(t, row.Writes, row.LastViewerLatency.N, name)
		require.GreaterOrEqual(t, row.LastViewerLatency.Max, row.Latency.P50, name)
		require.Zero(t, row.ProtocolErrors, "%s: %v", name, row.Notes)
		require.Zero(t, row.Disconnects, "%s: %v", name, row.Notes)
		t.Logf("%s: %v", name, row.Notes)
	}
}

// TestQuickStall runs the stall scenario long enough for a server with a
// short write timeout to give up on its stalled clients: every one is
// closed, while its healthy viewers receive every message. The stalled
// clients' results wait as the engine's, so it is the write timeout that
// closes them, as in the full run.
func TestQuickStall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bench scenario stall")
	}
	s := parleytest.StartConfigured(t, func(cfg *server.Config) { cfg.WriteTimeout = 500 * time.Millisecond })
	cfg := quickConfigOf(t, s)
	cfg.Scenarios = []string{bench.ScenarioStall}
	// Pages of 50 messages of 3,900 bytes, 20 times a second: ~4 MB/s to
	// each stalled client, which fills any socket buffer within the window.
	cfg.PageSize = 50
	cfg.Stall = bench.ConfigStall{Clients: 3, Viewers: 2, Rate: 20, ContentBytes: 3900, Duration: 5 * time.Second}
	r, err := bench.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	rep, err := r.Run(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Rows, 1)
	row := rep.Rows[0]
	require.Empty(t, row.Error, "%v", row.Notes)
	require.Zero(t, row.Dropped, "every viewer receives every message: %v", row.Notes)
	require.Zero(t, row.Disconnects, "%v", row.Notes)
	require.NotNil(t, row.Stall)
	require.Equal(t, cfg.Stall.Clients, row.Stall.Closed, "every stalled client is closed: %v", row.Notes)
	require.Equal(t, uint64(cfg.Stall.Clients), s.Server.Engine.Stats().ClosedSlow, "closed as too slow")
	t.Logf("%v", row.Notes)
}

// TestQuickSearch runs the search scenario at the quick sizes twice: the
// first run seeds, the second finds the seed and reuses it; every kind of
// query returns messages and has its plan.
func TestQuickSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bench scenario search")
	}
	cfg := quickConfig(t)
	cfg.Scenarios = []string{bench.ScenarioSearch}
	cfg.Duration = 500 * time.Millisecond
	kinds := []string{"search/rare", "search/common", "search/two-word", "search/conversation", "search/customer"}
	for run, seed := range []string{"seeded 2000 messages", "already seeded"} {
		r, err := bench.New(cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		rep, err := r.Run(ctx)
		cancel()
		require.NoError(t, err)
		require.Len(t, rep.Rows, len(kinds), "run %d", run)
		for i, row := range rep.Rows {
			require.Equal(t, kinds[i], row.Scenario)
			require.Empty(t, row.Error, "%s: %v", row.Scenario, row.Notes)
			require.Positive(t, row.Writes, row.Scenario)
			require.Zero(t, row.WriteErrors, "%s: %v", row.Scenario, row.Notes)
			require.Equal(t, row.Writes, row.Latency.N, row.Scenario)
			require.Positive(t, row.Returned, "%s: its first query finds messages: %v", row.Scenario, row.Notes)
			require.NotEmpty(t, row.Plan, row.Scenario)
			require.NotEmpty(t, row.GenericPlan, row.Scenario)
			require.Contains(t, row.Notes[0], seed, "run %d", run)
			require.Contains(t, strings.Join(row.Notes, "\n"), "EXPLAIN (ANALYZE)", row.Scenario)
		}
		var table bytes.Buffer
		require.NoError(t, rep.WriteTable(&table))
		require.Contains(t, table.String(), "search/rare: plan (its nodes")
		if run == 0 {
			t.Log("\n" + table.String())
		}
	}
}

// TestQuickSoak runs the soak at the quick sizes: faults are injected
// while scenario a's load runs, the samples reach the CSV and the plot,
// and the server neither loses track nor grows.
func TestQuickSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the soak")
	}
	cfg := quickConfig(t)
	cfg.Scenarios = []string{bench.ScenarioSoak}
	dir := t.TempDir()
	cfg.Soak.CSV, cfg.Soak.SVG = dir+"/soak.csv", dir+"/soak.svg"
	r, err := bench.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rep, err := r.Run(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Rows, 1)
	row := rep.Rows[0]
	require.Empty(t, row.Error, "%v", row.Notes)
	require.NotNil(t, row.Soak)
	require.GreaterOrEqual(t, row.Soak.Faults, 2, "both faults injected")
	require.Len(t, row.Soak.Growth, 4)
	require.Positive(t, row.Writes)
	csv, err := os.ReadFile(cfg.Soak.CSV)
	require.NoError(t, err)
	require.Equal(t, row.Soak.Samples+1, bytes.Count(csv, []byte("\n")), "a header and a line per sample")
	require.Contains(t, string(csv), "backends-terminated")
	svg, err := os.ReadFile(cfg.Soak.SVG)
	require.NoError(t, err)
	require.Equal(t, 4, bytes.Count(svg, []byte("<polyline")))
	t.Logf("soak notes: %v", row.Notes)
}

// TestQuickCluster runs scenarios b and d at the quick sizes over three
// nodes of a cluster in this process (one database, an embedded NATS):
// every viewer receives every message whichever node it is on, the
// report names three nodes in one process, node metrics are summed over
// the nodes, and every node served writers of d's (round robin).
func TestQuickCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bench scenarios b and d on three nodes")
	}
	nodes := parleytest.StartCluster(t, 3)
	first := nodes[0]
	cfg := bench.Quick()
	cfg.DatabaseURL, cfg.Scenarios = first.DBURL, []string{bench.ScenarioB, bench.ScenarioD}
	for _, n := range nodes {
		cfg.URLs = append(cfg.URLs, n.URL)
	}
	cfg.Mint = func(id functions.Identity) (string, error) { return first.Token(t, id), nil }
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	r, err := bench.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	rep, err := r.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, rep.Nodes)
	require.Equal(t, 1, rep.ServerProcesses, "the three nodes share this process")
	require.Len(t, rep.Rows, 2)
	b, d := rep.Rows[0], rep.Rows[1]
	require.Empty(t, b.Error)
	require.Empty(t, d.Error)
	require.Positive(t, b.Writes)
	require.Equal(t, cfg.B.Viewers, b.ViewersChecked)
	require.Zero(t, b.Dropped, "every viewer receives every message, whichever node it is on: %v", b.Notes)
	require.Zero(t, b.Duplicates)
	require.Equal(t, float64(cfg.B.Viewers), b.ServerSessions, "sessions summed over the nodes, each counted once")
	require.Positive(t, d.MutationsPerSec)
	for _, n := range nodes {
		m, err := scrape.New(n.URL).Metrics(ctx)
		require.NoError(t, err)
		require.Positive(t, m.Get(scrape.Mutations), "node %s served none of the writes", n.URL)
	}
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "nodes: 3 driven (3 URLs")
}
