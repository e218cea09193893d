package scrape

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// Every is how often a Sampler scrapes /metrics.
const Every = 500 * time.Millisecond

// Client reads one server's /metrics and /healthz. Safe for concurrent
// use.
type Client struct {
	base string // without a trailing slash
	http *http.Client
}

// New returns a Client for the server at base (http://127.0.0.1:3210).
func New(base string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 10 * time.Second}}
}

// Sample is one scrape of /metrics: the unlabelled series by name.
type Sample struct {
	At     time.Time // when the scrape returned
	Values map[string]float64
}

// Get returns the value of series name, or 0 when the scrape lacked it.
func (s Sample) Get(name string) float64 { return s.Values[name] }

// Metrics reads the server's /metrics. Only series without labels are
// kept.
func (c *Client) Metrics(ctx context.Context) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return Sample{}, err
	}
	// Uncompressed: see the package doc.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.http.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	s := Sample{At: time.Now(), Values: map[string]float64{}}
	if err := parse(resp.Body, s.Values); err != nil {
		return Sample{}, fmt.Errorf("scrape metrics: %w", err)
	}
	return s, nil
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

// Health reads the server's /healthz.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/healthz", nil)
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
