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
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/functions"
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
