package support_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/support"
)

// envInt is the environment variable name as an int, else def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// queryRuns reads the server's query runs so far (/metrics).
func queryRuns(b *testing.B, e *env) float64 {
	resp, err := http.Get(e.s.URL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "parley_query_runs_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	b.Fatal("no parley_query_runs_total")
	return 0
}

// BenchmarkPickToETA measures issue 19's desk at size: agents online
// (PARLEY_DESK_AGENTS, 200) and customers waiting (PARLEY_DESK_CUSTOMERS,
// 5,000), each holding getMyQueueStatus over a WebSocket of their own.
// Each iteration is one pickNext by an agent; the clock runs from the
// call until each waiting customer's subscription shows their new
// position (one less). Reports, over all picks and customers, p50 and p99
// of that time, the p50 and max of the time until the last customer of a
// pick has it, and the query runs per pick.
//
//	go test -run '^$' -bench PickToETA -benchtime 10x ./support/
func BenchmarkPickToETA(b *testing.B) {
	nAgents, nCustomers := envInt("PARLEY_DESK_AGENTS", 200), envInt("PARLEY_DESK_CUSTOMERS", 5000)
	if b.N > nAgents*support.DefaultCapacity || b.N >= nCustomers {
		b.Fatalf("%d picks need more agents' capacity or customers", b.N)
	}
	e := newEnv(b, 10*time.Minute, func(c *support.Config) { c.Timers.Interval = -1 })
	ctx := context.Background()

	agents := make([]functions.Identity, nAgents)
	for i := range agents {
		agents[i] = functions.Identity{Subject: fmt.Sprintf("bench-agent-%d", i), Role: functions.RoleAdmin, Name: fmt.Sprintf("Agent %d", i)}
		e.online(agents[i])
	}
	// The customers queue in order (one at a time, so positions are
	// 1..n), then subscribe, in parallel.
	convs := make([]string, nCustomers)
	for i := range convs {
		convs[i] = e.request(customer(fmt.Sprintf("bench-%d", i)), map[string]any{}).ConversationID
	}
	pos := make([]atomic.Int64, nCustomers)     // latest position seen
	arrived := make([]atomic.Int64, nCustomers) // when (unix ns) it reached want
	want := make([]atomic.Int64, nCustomers)    // the position awaited
	var g errgroup.Group
	g.SetLimit(16)
	for i := range convs {
		g.Go(func() error {
			c := e.dial(customer(fmt.Sprintf("bench-%d", i)), "")
			sub, err := c.Subscribe("shared/support:getMyQueueStatus", map[string]any{"conversationId": convs[i]})
			if err != nil {
				return err
			}
			if _, err := sub.Wait(ctx); err != nil {
				return err
			}
			go func() { // owned: ends when the client closes (test cleanup)
				for u := range sub.Updates() {
					var st support.QueueStatus
					if json.Unmarshal(u.Value, &st) != nil || st.Position == nil {
						pos[i].Store(0)
						continue
					}
					p := int64(*st.Position)
					pos[i].Store(p)
					if p == want[i].Load() {
						arrived[i].CompareAndSwap(0, time.Now().UnixNano())
					}
				}
			}()
			u, _ := sub.Current()
			var st support.QueueStatus
			if err := json.Unmarshal(u.Value, &st); err != nil {
				return err
			}
			if st.Position != nil {
				pos[i].CompareAndSwap(0, int64(*st.Position))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}

	var lat, last []time.Duration
	runs := 0.0
	b.ResetTimer()
	for k := range b.N {
		// Customers k+1.. wait; after the pick each is one place ahead.
		for i := k + 1; i < nCustomers; i++ {
			arrived[i].Store(0)
			want[i].Store(int64(i - k))
		}
		before := queryRuns(b, e)
		t0 := time.Now()
		got := e.pick(agents[k%nAgents])
		if got.ConversationID == nil || *got.ConversationID != convs[k] {
			b.Fatalf("pick %d took %v, want %s", k, got.ConversationID, convs[k])
		}
		deadline := time.Now().Add(2 * time.Minute)
		for i := k + 1; i < nCustomers; i++ {
			for arrived[i].Load() == 0 && pos[i].Load() != want[i].Load() {
				if time.Now().After(deadline) {
					b.Fatalf("pick %d: customer %d at %d, want %d", k, i, pos[i].Load(), want[i].Load())
				}
				time.Sleep(time.Millisecond)
			}
		}
		var worst time.Duration
		for i := k + 1; i < nCustomers; i++ {
			at := arrived[i].Load()
			if at == 0 {
				continue // seen by a result that raced the reset
			}
			d := time.Duration(at - t0.UnixNano())
			lat = append(lat, d)
			worst = max(worst, d)
		}
		last = append(last, worst)
		runs += queryRuns(b, e) - before
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(last)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(last[len(last)/2]), "last-p50-ms")
	b.ReportMetric(ms(last[len(last)-1]), "last-max-ms")
	b.ReportMetric(runs/float64(b.N), "runs/pick")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkHeartbeats measures presence at size: PARLEY_PRESENCE_SESSIONS
// (9,000: both ends of every socket are in this process, and this
// machine's file limit is 20,000) WebSocket sessions, each calling
// heartbeat every 10s (a third
// of the default TTL), staggered, for a 30s window (b.N is ignored: one
// window). Reports beats/s, heartbeat round trip p50/p99, Postgres
// commits and rows written per second in the test database during the
// window (heartbeats write none; what shows is background work: the job
// queue's polls, and the activity tracker's batched last-seen rows, at
// most one per user per 30s, which any call causes), and the CPU of the test
// process — the server and all the clients together, so an upper bound
// on the server's.
//
//	go test -run '^$' -bench Heartbeats -benchtime 1x ./support/
func BenchmarkHeartbeats(b *testing.B) {
	n := envInt("PARLEY_PRESENCE_SESSIONS", 9000)
	const every, window = 10 * time.Second, 30 * time.Second
	e := newEnv(b, 0, func(c *support.Config) { c.HeartbeatsPerSecond = -1; c.Timers.Interval = -1 })
	ctx := context.Background()
	clients := make([]*syncclient.Client, n)
	var g errgroup.Group
	g.SetLimit(16)
	for i := range clients {
		g.Go(func() error {
			clients[i] = e.dial(customer(fmt.Sprintf("beat-%d", i)), "")
			_, err := beat(clients[i], map[string]any{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	// Commits and rows written in the test database so far (the
	// statistics lag by up to a second: the window is 30).
	commits := func() (c, rows int64) {
		if err := e.s.DB.QueryRow(ctx, `SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database
			WHERE datname = current_database()`).Scan(&c, &rows); err != nil {
			b.Fatal(err)
		}
		return c, rows
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ResetTimer()
	c0, r0 := commits()
	cpu0, t0 := cpu(), time.Now()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			// Staggered over the period, as sessions that connected at
			// different times are.
			next := t0.Add(every * time.Duration(i) / time.Duration(n))
			for {
				time.Sleep(time.Until(next))
				s := time.Now()
				if s.Sub(t0) >= window {
					return
				}
				if _, err := beat(c, map[string]any{}); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(s)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				next = next.Add(every)
			}
		})
	}
	time.Sleep(time.Until(t0.Add(window)))
	elapsed := time.Since(t0)
	c1, r1 := commits()
	cpu1 := cpu()
	b.StopTimer()
	wg.Wait() // each stops at its next beat past the window
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "beats/s")
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(float64(c1-c0)/elapsed.Seconds(), "pg-commits/s")
	b.ReportMetric(float64(r1-r0)/elapsed.Seconds(), "pg-rows/s")
	b.ReportMetric((cpu1-cpu0).Seconds()/elapsed.Seconds(), "process-cores")
	b.ReportMetric(0, "ns/op")
}
