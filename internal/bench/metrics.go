package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server metrics the bench reads from /metrics.
const (
	mQueryRuns   = "parley_query_runs_total"
	mMutations   = "parley_mutations_total"
	mSessions    = "parley_sessions"
	mSubs        = "parley_subscriptions"
	mInstances   = "parley_query_instances"
	mLag         = "parley_replication_lag_bytes"
	mClosedSlow  = "parley_sessions_closed_slow_total"
	mCPU         = "process_cpu_seconds_total"
	mRSS         = "process_resident_memory_bytes"
	mHeapInuse   = "go_memstats_heap_inuse_bytes"
	mGoroutines  = "go_goroutines"
	mOpenFDs     = "process_open_fds"
	mWritePushN  = "parley_write_to_push_seconds_count"
	mWritePushS  = "parley_write_to_push_seconds_sum"
	metricsEvery = 500 * time.Millisecond
)

// sample is one scrape of /metrics: the unlabelled series by name.
type sample struct {
	at     time.Time
	values map[string]float64
}

func (s sample) get(name string) float64 { return s.values[name] }

// scrape reads the server's /metrics. Only series without labels are kept.
func (r *Runner) scrape(ctx context.Context) (sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/metrics", nil)
	if err != nil {
		return sample{}, err
	}
	// Uncompressed: the bench scrapes every metricsEvery, and gzipping
	// each answer (a new compressor every time) would add to the load it
	// measures, in the server's allocations and CPU.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := r.http.Do(req)
	if err != nil {
		return sample{}, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sample{}, fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	s := sample{at: time.Now(), values: map[string]float64{}}
	sc := bufio.NewScanner(resp.Body)
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
			s.values[name] = v
		}
	}
	if err := sc.Err(); err != nil {
		return sample{}, fmt.Errorf("scrape metrics: %w", err)
	}
	return s, nil
}

// health is the part of /healthz the bench reads.
type health struct {
	Status      string `json:"status"`
	Replication struct {
		Connected bool   `json:"connected"`
		LagBytes  uint64 `json:"lagBytes"`
	} `json:"replication"`
	Sessions int `json:"sessions"`
}

func (r *Runner) health(ctx context.Context) (health, error) {
	var h health
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/healthz", nil)
	if err != nil {
		return h, err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return h, fmt.Errorf("healthz: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, fmt.Errorf("healthz: %s: %w", resp.Status, err)
	}
	return h, nil
}

// sampler scrapes /metrics every metricsEvery until stopped and keeps the
// extremes and a series of what a scenario reports over time. Its one
// goroutine is started by startSampler and waited for by stop.
type sampler struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards the fields below
	maxRSS  float64
	maxLag  float64
	series  []Point
	scrapes int
	errs    int
	lastErr error
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

func (r *Runner) startSampler(ctx context.Context, origin time.Time) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{cancel: cancel, done: make(chan struct{})}
	go func() { // owned: stop waits for it
		defer close(s.done)
		t := time.NewTicker(metricsEvery)
		defer t.Stop()
		for {
			m, err := r.scrape(ctx)
			s.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					s.errs++
					s.lastErr = err
				}
			} else {
				s.scrapes++
				s.maxRSS = max(s.maxRSS, m.get(mRSS))
				s.maxLag = max(s.maxLag, m.get(mLag))
				s.series = append(s.series, Point{T: m.at.Sub(origin).Seconds(), RSS: m.get(mRSS),
					HeapInuse: m.get(mHeapInuse), Goroutines: m.get(mGoroutines),
					Sessions: m.get(mSessions), LagBytes: m.get(mLag)})
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

// stop ends the sampling and waits for its goroutine.
func (s *sampler) stop() {
	s.cancel()
	<-s.done
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostCPU is a reading of the machine's CPU counters (Linux /proc/stat)
// and of the CPU time of the processes named postgres, in clock ticks.
type hostCPU struct {
	ok                bool
	busy, total, pg   uint64
	postgresProcesses int
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc.
const clockTicks = 100

func readHostCPU() hostCPU {
	var h hostCPU
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return h
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return h
	}
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		h.total += v
		if i != 3 && i != 4 { // idle, iowait
			h.busy += v
		}
	}
	h.ok = true
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open || string(b[open+1:end]) != "postgres" {
			continue
		}
		rest := strings.Fields(string(b[end+1:]))
		if len(rest) < 13 { // fields 3 … 15 of stat: utime is 14, stime 15
			continue
		}
		ut, _ := strconv.ParseUint(rest[11], 10, 64)
		st, _ := strconv.ParseUint(rest[12], 10, 64)
		h.pg += ut + st
		h.postgresProcesses++
	}
	return h
}

// cores returns the cores the machine and Postgres used between a and b,
// over wall seconds.
func hostCores(a, b hostCPU, cpus int, wall float64) (host, pg float64) {
	if !a.ok || !b.ok || b.total <= a.total || wall <= 0 {
		return 0, 0
	}
	host = float64(b.busy-a.busy) / float64(b.total-a.total) * float64(cpus)
	if b.pg >= a.pg {
		pg = float64(b.pg-a.pg) / clockTicks / wall
	}
	return host, pg
}
