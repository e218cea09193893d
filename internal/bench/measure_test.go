package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/bench/dataset"
	"github.com/parley-chat/parley/internal/bench/scrape"
)

// TestRatesLateEdge is scenario b of a saturated generator: reading the
// window's start edge (the scrape, and counting every subscription's
// pushes) took until just before the window's end. The window writes are
// counted in is still the nominal one, and every other rate uses the
// interval between its own readings.
func TestRatesLateEdge(t *testing.T) {
	measureFrom := time.Unix(1000, 0)
	end := measureFrom.Add(30 * time.Second)
	late := measureFrom.Add(30*time.Second - 9*time.Millisecond)
	e0 := edge{at: measureFrom, cpu: 10 * time.Second, pushes: 0, pushesAt: late,
		m: scrape.Sample{At: measureFrom.Add(20 * time.Millisecond), Values: map[string]float64{scrape.Mutations: 100, scrape.QueryRuns: 0, scrape.CPU: 5}}}
	e1 := edge{at: end, cpu: 25 * time.Second, pushes: 9_000, pushesAt: end.Add(time.Millisecond),
		m: scrape.Sample{At: end.Add(20 * time.Millisecond), Values: map[string]float64{scrape.Mutations: 550, scrape.QueryRuns: 600, scrape.CPU: 20}}}
	o := outcome{doneInWindow: 600, mutInWindow: 450}
	var row Row
	note := rates(&row, o, measureFrom, end, e0, e1, 2)

	require.Equal(t, 30.0, row.WindowS)
	require.InDelta(t, 20, row.WritesPerSec, 1e-9)
	require.InDelta(t, 15, row.MutationsPerSec, 1e-9)
	require.InDelta(t, 15, row.ServerMutationsPerSec, 1e-9)
	require.InDelta(t, 20, row.QueryRunsPerSec, 1e-9)
	require.InDelta(t, 0.5, row.ServerCPU, 1e-9)
	require.InDelta(t, 0.5, row.BenchCPU, 1e-9)
	require.InDelta(t, 9_000/0.010, row.PushesPerSec, 1e-6, "pushes over their own readings' interval")
	require.Contains(t, note, "late")

	// Edges read on time: no note, the same write rates.
	e0.pushesAt, e0.m.At = measureFrom.Add(5*time.Millisecond), measureFrom.Add(5*time.Millisecond)
	note = rates(&row, o, measureFrom, end, e0, e1, 2)
	require.Empty(t, note)
	require.Equal(t, 30.0, row.WindowS)
	require.InDelta(t, 20, row.WritesPerSec, 1e-9)
}

// TestObserveAndGaps: a viewer that keeps up holds every message; a
// result that is a whole page of new messages records a gap, and a write
// missing within that gap is a slow client's, one outside it a drop.
func TestObserveAndGaps(t *testing.T) {
	r := &Runner{run: "ab12"}
	f := &fleet{r: r, page: 3, epoch: time.Unix(0, 0), marker: []byte(dataset.IDPrefix + " ab12 #")}
	f.convs = []*conv{{id: "c"}}
	v := &viewer{conv: 0, active: true}
	f.convs[0].viewers = []*viewer{v}
	f.viewers = []*viewer{v}
	result := func(seqs ...int) []byte {
		var ms []string
		for _, s := range seqs {
			ms = append(ms, fmt.Sprintf(`{"_id":"m%d","content":"%s ab12 #%d"}`, s, dataset.IDPrefix, s))
		}
		return []byte(`{"messages":[` + strings.Join(ms, ",") + `]}`)
	}
	at := func(ms int) time.Time { return time.Unix(0, int64(ms)*1e6) }
	f.observe(v, result(), at(0))         // first result: nothing yet
	f.observe(v, result(1), at(10))       // 1 new
	f.observe(v, result(2, 1), at(20))    // 2 new
	f.observe(v, result(7, 6, 5), at(80)) // a whole page new: 3 and 4 fell off
	f.observe(v, result(8, 7, 6), at(90))
	require.Equal(t, int64(1), f.overflows.Load())
	require.Equal(t, []gap{{from: ms(20), to: ms(80)}}, v.gaps)
	var got []uint64
	for _, rc := range v.receipts {
		got = append(got, rc.seq)
	}
	require.Equal(t, []uint64{1, 2, 7, 6, 5, 8}, got)

	w := func(seq uint64, t0, t1 int) writeRec {
		return writeRec{seq: seq, measured: true, t0: ms(t0), t1: ms(t1)}
	}
	p := &phase{f: f, writes: []writeRec{
		w(1, 5, 6), w(2, 15, 16), w(3, 30, 31), w(4, 40, 41), w(5, 50, 51), w(6, 60, 61), w(7, 70, 71), w(8, 85, 86),
		w(9, 87, 88), // written before the last result, never held, no overflow spans it: a drop
	}}
	o := p.analyze(0, ms(100))
	require.Equal(t, 9, o.expected)
	require.Equal(t, 6, o.received)
	require.Equal(t, 3, o.dropped)
	require.Equal(t, 2, o.droppedBeyond, "3 and 4 fell off the overflowing page")
	require.Equal(t, 1, o.droppedKeptUp, "9 is missing although the viewer kept up")
	require.Equal(t, 1, o.viewersMissing)
}

func ms(n int) int64 { return int64(n) * 1e6 }
