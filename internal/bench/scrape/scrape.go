package scrape

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Series the bench reads from /metrics.
const (
	QueryRuns        = "parley_query_runs_total"
	Resumes          = "parley_replication_resumes_total"
	Mutations        = "parley_mutations_total"
	Sessions         = "parley_sessions"
	Subscriptions    = "parley_subscriptions"
	QueryInstances   = "parley_query_instances"
	ReplicationLag   = "parley_replication_lag_bytes"
	ClosedSlow       = "parley_sessions_closed_slow_total"
	CPU              = "process_cpu_seconds_total"
	RSS              = "process_resident_memory_bytes"
	HeapInuse        = "go_memstats_heap_inuse_bytes"
	Goroutines       = "go_goroutines"
	OpenFDs          = "process_open_fds"
	WriteToPushCount = "parley_write_to_push_seconds_count"
	WriteToPushSum   = "parley_write_to_push_seconds_sum"
)

// StartTime is the series that tells server processes apart (see Merge).
const StartTime = "process_start_time_seconds"

// Every is how often a Sampler scrapes /metrics.
const Every = 500 * time.Millisecond

// Client reads the /metrics and /healthz of the nodes of one cluster and
// merges them (see Merge and Health). Safe for concurrent use.
type Client struct {
	bases []string // distinct, without a trailing slash
	http  *http.Client
}

// New returns a Client for the nodes at bases (http://127.0.0.1:3210).
// A base named more than once (after trailing slashes are trimmed) is
// read once. New panics without a base.
func New(bases ...string) *Client {
	if len(bases) == 0 {
		panic("scrape: New without a base URL")
	}
	var distinct []string
	for _, b := range bases {
		if b = strings.TrimRight(b, "/"); !slices.Contains(distinct, b) {
			distinct = append(distinct, b)
		}
	}
	return &Client{bases: distinct, http: &http.Client{Timeout: 10 * time.Second}}
}

// Nodes returns the distinct base URLs c reads.
func (c *Client) Nodes() []string { return slices.Clone(c.bases) }

// Sample is one scrape of /metrics: the unlabelled series by name, merged
// over the nodes (see Merge).
type Sample struct {
	At     time.Time // when the scrape returned
	Values map[string]float64
	// Nodes is how many nodes were scraped; Processes how many distinct
	// server processes they ran in.
	Nodes, Processes int
}

// Get returns the value of series name, or 0 when the scrape lacked it.
func (s Sample) Get(name string) float64 { return s.Values[name] }

// Metrics reads every node's /metrics, one after another, and merges them
// (Merge). Only series without labels are kept. It fails when any node's
// scrape fails.
func (c *Client) Metrics(ctx context.Context) (Sample, error) {
	nodes := make([]map[string]float64, 0, len(c.bases))
	for _, b := range c.bases {
		v, err := c.metrics(ctx, b)
		if err != nil {
			if len(c.bases) > 1 {
				return Sample{}, fmt.Errorf("%s: %w", b, err)
			}
			return Sample{}, err
		}
		nodes = append(nodes, v)
	}
	s := Merge(nodes)
	s.At = time.Now()
	return s, nil
}

func (c *Client) metrics(ctx context.Context, base string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	// Uncompressed: see the package doc.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	values := map[string]float64{}
	if err := parse(resp.Body, values); err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	return values, nil
}

// perProcess says whether series name describes the process rather than
// the node: the Go runtime's and the process collector's series.
func perProcess(name string) bool {
	return strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "go_")
}

// Merge merges the scrapes of the nodes of one cluster, one map each:
//
//   - A node's own series (parley_*) are summed over the nodes, except
//     parley_replication_lag_bytes, whose largest value is kept: how far
//     the furthest-behind node is.
//   - The process's series (process_*, go_*: CPU, RSS, heap, goroutines,
//     open files) are summed over distinct processes. Scrapes that report
//     the same process_start_time_seconds are one process, counted once:
//     the nodes of `parley dev --nodes N` share one process, and each
//     reports the whole process's series. A scrape without that series is
//     a process of its own.
//
// The rule errs only when two separate processes started within the same
// hundredth of a second (the resolution of the start time): their
// process series are then counted once.
func Merge(nodes []map[string]float64) Sample {
	s := Sample{Values: map[string]float64{}, Nodes: len(nodes)}
	var starts []float64
	for _, v := range nodes {
		start, known := v[StartTime]
		seen := known && slices.Contains(starts, start)
		if !seen {
			s.Processes++
			if known {
				starts = append(starts, start)
			}
		}
		for name, x := range v {
			switch {
			case name == StartTime:
				if _, ok := s.Values[name]; !ok || x < s.Values[name] {
					s.Values[name] = x // the earliest
				}
			case perProcess(name):
				if !seen {
					s.Values[name] += x
				}
			case name == ReplicationLag:
				s.Values[name] = max(s.Values[name], x)
			default:
				s.Values[name] += x
			}
		}
	}
	return s
}

// parse adds the unlabelled series of the Prometheus text in r to values.
// Comments, labelled series and lines it cannot read are skipped.
func parse(r io.Reader, values map[string]float64) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			values[name] = v
		}
	}
	return sc.Err()
}

// Health is the part of /healthz the bench reads.
type Health struct {
	Status      string `json:"status"`
	Replication struct {
		Connected  bool   `json:"connected"`
		LagBytes   uint64 `json:"lagBytes"`
		AppliedLSN string `json:"appliedLsn"`
		Reconnects int64  `json:"reconnects"`
	} `json:"replication"`
	Sessions int `json:"sessions"`
}

// Health reads every node's /healthz and merges them: the status is "ok"
// and replication connected only when they are so on every node; the lag
// is the largest, the applied LSN the lowest (what every node has
// applied), reconnects and sessions are summed. It fails when any node's
// read fails.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var all Health
	for i, b := range c.bases {
		h, err := c.health(ctx, b)
		if err != nil {
			if len(c.bases) > 1 {
				err = fmt.Errorf("%s: %w", b, err)
			}
			return h, err
		}
		if i == 0 {
			all = h
			continue
		}
		if h.Status != "ok" {
			all.Status = h.Status
		}
		all.Replication.Connected = all.Replication.Connected && h.Replication.Connected
		all.Replication.LagBytes = max(all.Replication.LagBytes, h.Replication.LagBytes)
		all.Replication.AppliedLSN = lowerLSN(all.Replication.AppliedLSN, h.Replication.AppliedLSN)
		all.Replication.Reconnects += h.Replication.Reconnects
		all.Sessions += h.Sessions
	}
	return all, nil
}

// lowerLSN returns the lower of two LSNs (X/Y, hexadecimal); one that does
// not parse wins, so that a comparison with it fails as it would have.
func lowerLSN(a, b string) string {
	x, errA := parseLSN(a)
	y, errB := parseLSN(b)
	switch {
	case errA != nil:
		return a
	case errB != nil || y < x:
		return b
	}
	return a
}

func parseLSN(s string) (uint64, error) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0, err
	}
	return uint64(hi)<<32 | uint64(lo), nil
}

func (c *Client) health(ctx context.Context, base string) (Health, error) {
	var h Health
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return h, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return h, fmt.Errorf("healthz: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, fmt.Errorf("healthz: %s: %w", resp.Status, err)
	}
	return h, nil
}

// Point is one sample of the server over time.
type Point struct {
	T          float64 `json:"t"`              // seconds since the scenario's load started
	RSS        float64 `json:"rssBytes"`       // process_resident_memory_bytes
	HeapInuse  float64 `json:"heapInuseBytes"` // go_memstats_heap_inuse_bytes
	Goroutines float64 `json:"goroutines"`     // go_goroutines
	Sessions   float64 `json:"sessions"`       // parley_sessions
	LagBytes   float64 `json:"lagBytes"`       // parley_replication_lag_bytes
}

// Summary is what a Sampler gathered.
type Summary struct {
	MaxRSS  float64 // the highest RSS scraped
	MaxLag  float64 // the highest replication lag scraped, bytes
	Series  []Point // one per successful scrape
	Scrapes int     // successful scrapes
	Errors  int     // failed scrapes, not counting those cut off by Stop
	LastErr error   // the last of those failures
}

// Sampler scrapes /metrics every Every until stopped and keeps the
// extremes and a series of what a scenario reports over time. Its one
// goroutine is started by StartSampler and waited for by Stop.
type Sampler struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex // guards sum
	sum Summary
}

// StartSampler starts sampling; each Point's T counts from origin.
func (c *Client) StartSampler(ctx context.Context, origin time.Time) *Sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &Sampler{cancel: cancel, done: make(chan struct{})}
	go func() { // owned: Stop waits for it
		defer close(s.done)
		t := time.NewTicker(Every)
		defer t.Stop()
		for {
			m, err := c.Metrics(ctx)
			s.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					s.sum.Errors++
					s.sum.LastErr = err
				}
			} else {
				s.sum.Scrapes++
				s.sum.MaxRSS = max(s.sum.MaxRSS, m.Get(RSS))
				s.sum.MaxLag = max(s.sum.MaxLag, m.Get(ReplicationLag))
				s.sum.Series = append(s.sum.Series, Point{T: m.At.Sub(origin).Seconds(), RSS: m.Get(RSS),
					HeapInuse: m.Get(HeapInuse), Goroutines: m.Get(Goroutines),
					Sessions: m.Get(Sessions), LagBytes: m.Get(ReplicationLag)})
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling, waits for its goroutine and returns what it
// gathered. Further calls return the same.
func (s *Sampler) Stop() Summary {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}
