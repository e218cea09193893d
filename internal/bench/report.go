package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parley-chat/parley/internal/bench/scrape"
)

// Report is the result of a Run: one Row per scenario measurement.
type Report struct {
	Run     string    `json:"run"`
	Started time.Time `json:"started"`
	URL     string    `json:"url"`  // the nodes' URLs, comma-separated
	URLs    []string  `json:"urls"` // the nodes' URLs, in the order sessions were spread over them
	// Nodes is how many distinct node URLs were driven; ServerProcesses
	// how many server processes they ran in, by their metrics (see
	// scrape.Merge): `parley dev --nodes 3` is 3 nodes in 1 process.
	Nodes           int               `json:"nodes"`
	ServerProcesses int               `json:"serverProcesses"`
	CPUs            int               `json:"cpus"`
	Postgres        map[string]string `json:"postgres"` // durability settings (SHOW)
	Config          ReportConfig      `json:"config"`
	Rows            []Row             `json:"rows"`
	// CRatio compares scenario c's last row with its first: latency
	// percentiles at the most idle subscriptions over the fewest.
	CRatio *Ratio `json:"cRatio,omitempty"`
}

// ReportConfig is the configuration a Report was measured with.
type ReportConfig struct {
	Duration        string       `json:"duration"`
	WarmUp          string       `json:"warmUp"`
	SQLShare        float64      `json:"sqlShare"`
	PageSize        int          `json:"pageSize"`
	A               ConfigA      `json:"a"`
	B               ConfigB      `json:"b"`
	C               ConfigC      `json:"c"`
	D               ConfigD      `json:"d"`
	Stall           ConfigStall  `json:"stall"`
	Gap             ConfigGap    `json:"gap"`
	E               ConfigE      `json:"e"`
	Search          ConfigSearch `json:"search"`
	StallDurationS  float64      `json:"stallDurationSeconds"`
	LatencyStartsAt string       `json:"latencyStartsAt"`
}

// Ratio is one latency over another.
type Ratio struct {
	From string  `json:"from"`
	To   string  `json:"to"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
}

// Row is one scenario measurement.
type Row struct {
	Scenario string `json:"scenario"`
	// Error is set when the scenario could not run; the other fields are
	// then partial.
	Error string `json:"error,omitempty"`

	Sessions      int     `json:"sessions"`
	Subscriptions int     `json:"subscriptions"`
	WindowS       float64 `json:"windowSeconds"`  // the measurement window
	ElapsedS      float64 `json:"elapsedSeconds"` // the whole scenario: seeding, connecting, load, drain

	Writes       int     `json:"writes"` // measured writes attempted
	WritesPerSec float64 `json:"writesPerSec"`
	WriteErrors  int     `json:"writeErrors"`
	Skipped      int64   `json:"skipped"`

	// Latency is write→push over every receipt: from COMMIT returning
	// (SQL writes) or from sending sendMessage (mutations) to the moment
	// a subscribed client first held a result with the message.
	Latency Latency `json:"latencyMs"`
	// LastViewerLatency is each write's (in scenario e: each
	// operation's) latency to the last of its viewers, over the writes
	// every viewer saw: the time until the last viewer has it.
	LastViewerLatency Latency `json:"lastViewerLatencyMs"`
	MutationLatency   Latency `json:"mutationLatencyMs"` // send→push
	SQLLatency        Latency `json:"sqlLatencyMs"`      // commit→push
	Early             int     `json:"early"`             // SQL pushes that beat COMMIT's return

	Expected int `json:"expectedReceipts"`
	Received int `json:"receivedReceipts"`
	Dropped  int `json:"dropped"` // DroppedKeptUp + DroppedBeyondPage
	// DroppedKeptUp are receipts missing although the viewer kept up: no
	// whole page of new messages (an overflow) spans the write. Server
	// drops.
	DroppedKeptUp int `json:"droppedKeptUp"`
	// DroppedBeyondPage are receipts missing where an overflow of the
	// viewer spans the write: the server coalesces per query (newest
	// result wins), so a viewer that fell more than a page behind never
	// sees what fell off the page. A slow client, by the engine's design.
	DroppedBeyondPage int `json:"droppedBeyondPage"`
	MissedByAll       int `json:"missedByAll"`  // messages no viewer held
	MissedBySome      int `json:"missedBySome"` // messages some viewers never held
	Duplicates        int `json:"duplicates"`
	// Overflows counts getMessages results whose whole page was new to
	// the viewer: messages between it and the previous result were never
	// in a result the viewer got.
	Overflows      int64 `json:"overflows"`
	ViewersMissing int   `json:"viewersMissing"`
	ViewersChecked int   `json:"viewersChecked"`

	PushesPerSec          float64 `json:"pushesPerSec"`          // results received by clients
	MutationsPerSec       float64 `json:"mutationsPerSec"`       // sendMessage calls completed, client side
	ServerMutationsPerSec float64 `json:"serverMutationsPerSec"` // parley_mutations_total
	QueryRunsPerSec       float64 `json:"queryRunsPerSec"`       // parley_query_runs_total

	ServerCPU       float64 `json:"serverCpu"`   // cores: process_cpu_seconds_total / wall
	BenchCPU        float64 `json:"benchCpu"`    // cores used by this process
	PostgresCPU     float64 `json:"postgresCpu"` // cores used by local processes named postgres (0 when not on this host)
	HostCPU         float64 `json:"hostCpu"`     // cores busy on this machine
	ServerRSS       float64 `json:"serverRssBytes"`
	ServerRSSMax    float64 `json:"serverRssMaxBytes"`
	MemPerSession   float64 `json:"memPerSessionBytes"`  // RSS growth while the sessions connected / sessions
	HeapPerSession  float64 `json:"heapPerSessionBytes"` // go_memstats_heap_inuse_bytes growth / sessions
	MemSessions     int     `json:"memSessions"`         // the sessions MemPerSession divides by
	ReplicationLag  float64 `json:"replicationLagMaxBytes"`
	ServerSessions  float64 `json:"serverSessions"`
	ServerInstances float64 `json:"serverQueryInstances"`
	ServerMeanPushS float64 `json:"serverMeanWriteToPushSeconds"` // parley_write_to_push_seconds sum/count over the window

	ProtocolErrors int `json:"protocolErrors"`
	Disconnects    int `json:"disconnects"`

	Stall  *StallResult   `json:"stall,omitempty"`
	Gap    []GapResult    `json:"gap,omitempty"`
	Soak   *SoakResult    `json:"soak,omitempty"`
	Series []scrape.Point `json:"series,omitempty"`
	// Plan and GenericPlan are, in the search scenario, EXPLAIN (ANALYZE,
	// BUFFERS) of searchMessages' statement: with its parameters, and as
	// the generic plan of a prepared statement.
	// Returned is, in the search scenario, how many messages its kind's
	// first query returned.
	Returned    int      `json:"returned,omitempty"`
	Plan        []string `json:"plan,omitempty"`
	GenericPlan []string `json:"genericPlan,omitempty"`
	Notes       []string `json:"notes,omitempty"`
}

// StallResult is what the stall scenario saw of its stalled clients.
type StallResult struct {
	Clients int `json:"clients"`
	// Closed counts the stalled clients whose connection the server had
	// closed when the scenario ended.
	Closed int `json:"closed"`
	// ClosedAfterS is when the server's session count fell back to what
	// it was before the stalled clients connected, in seconds after the
	// load started; negative when it never did.
	ClosedAfterS float64 `json:"closedAfterSeconds"`
	RSSStart     float64 `json:"rssStartBytes"`
	RSSMax       float64 `json:"rssMaxBytes"`
	RSSEnd       float64 `json:"rssEndBytes"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// minMemSessions is the fewest sessions whose memory the table shows: RSS
// moves by more than a few sessions cost.
const minMemSessions = 100

// WriteTable prints one row per measurement, then the notes.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tsessions\tsubs\twrites/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\tlast p50\tlast p99\tdropped\tpushes/s\tmut/s\truns/s\tcpu %\trss MB\tKB/sess\tlag KB\tsecs\t")
	for _, row := range r.Rows {
		if row.Error != "" {
			fmt.Fprintf(tw, "%s\t%d\t%d\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%.0f\t\n", row.Scenario, row.Sessions, row.Subscriptions, row.ElapsedS)
			continue
		}
		memPer := "-"
		if row.MemSessions >= minMemSessions && row.MemPerSession > 0 {
			memPer = fmt.Sprintf("%.1f", row.MemPerSession/1024)
		}
		lat := []string{"-", "-", "-", "-"}
		if l := row.Latency; l.N > 0 {
			lat = []string{fmt.Sprintf("%.2f", l.P50), fmt.Sprintf("%.2f", l.P95), fmt.Sprintf("%.2f", l.P99), fmt.Sprintf("%.1f", l.Max)}
		}
		last := []string{"-", "-"}
		if l := row.LastViewerLatency; l.N > 0 {
			last = []string{fmt.Sprintf("%.2f", l.P50), fmt.Sprintf("%.2f", l.P99)}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%.0f\t%.0f\t\n",
			row.Scenario, row.Sessions, row.Subscriptions, row.WritesPerSec,
			lat[0], lat[1], lat[2], lat[3], last[0], last[1], row.Dropped,
			row.PushesPerSec, row.MutationsPerSec, row.QueryRunsPerSec, 100*row.ServerCPU,
			row.ServerRSSMax/(1<<20), memPer, row.ReplicationLag/1024, row.ElapsedS)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.URLs) > 1 {
		fmt.Fprintf(w, "nodes: %d driven (%d URLs, round robin: %s); node metrics summed over the %d, process metrics (cpu, rss) over %d server process(es)\n",
			r.Nodes, len(r.URLs), r.URL, r.Nodes, r.ServerProcesses)
	}
	fmt.Fprintf(w, "latency: write→push, from COMMIT's return (SQL writes) or from the sendMessage call (mutations; its response comes only after the push) to the first result holding the message\n")
	fmt.Fprintf(w, "last p50/p99: each write's latency to the last of its conversation's viewers (time until the last has it), over the writes every viewer held\n")
	fmt.Fprintf(w, "cpu: server process, %% of one core; rss: server max; KB/sess: server RSS growth while the row's sessions connected, per session\n")
	fmt.Fprintf(w, "  (clean on a fresh server only — the first scenario of a run; later ones reuse memory freed before them; \"-\" when RSS fell or too few sessions)\n")
	if len(r.Postgres) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(r.Postgres)) {
			kv = append(kv, k+"="+r.Postgres[k])
		}
		fmt.Fprintf(w, "postgres durability (d's throughput holds for these): %s\n", strings.Join(kv, " "))
	}
	if c := r.CRatio; c != nil {
		fmt.Fprintf(w, "c: latency at %s over %s: p50 %.2f×, p95 %.2f×, p99 %.2f× (target ≤ 1.2×)\n", c.To, c.From, c.P50, c.P95, c.P99)
	}
	for _, row := range r.Rows {
		if row.Error != "" {
			fmt.Fprintf(w, "%s: FAILED: %s\n", row.Scenario, row.Error)
		}
		for _, n := range row.Notes {
			fmt.Fprintf(w, "%s: %s\n", row.Scenario, n)
		}
		if len(row.Plan) > 0 {
			fmt.Fprintf(w, "%s: plan (its nodes; the JSON report has all of it):\n", row.Scenario)
			for _, l := range planNodes(row.Plan) {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	return nil
}
