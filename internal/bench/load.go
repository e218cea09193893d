package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/internal/bench/dataset"
	"github.com/parley-chat/parley/internal/syncclient"
)

// origin says how a message was written.
type origin uint8

const (
	viaMutation origin = iota // sendMessage over the sync protocol
	viaSQL                    // INSERT by direct SQL
)

// mutationTimeout bounds one sendMessage call.
const mutationTimeout = 60 * time.Second

// writeRec is one message the load wrote (or tried to).
//
// t0 is where write→push latency starts. For a direct SQL write it is the
// moment COMMIT returned: a true commit→push figure (a push can even beat
// the commit's acknowledgement; such latencies count as zero). For a
// sendMessage mutation it is the moment the Mutation message was sent: the
// server releases a MutationResponse only after its commit has been pushed
// to subscribers, so the response cannot mark the commit; send→push is an
// upper bound that includes running the mutation and committing it.
type writeRec struct {
	seq      uint64
	conv     int
	origin   origin
	measured bool  // issued inside the measurement window
	t0, t1   int64 // ns since the fleet's epoch; t1 is when the call returned
	err      error
}

// phase is one measured run of load over a fleet. Safe for concurrent use.
type phase struct {
	f       *fleet
	padding string

	mu     sync.Mutex // guards writes
	writes []writeRec

	skipped atomic.Int64 // open loop: writes due while MaxInFlight were outstanding
}

// write sends one message to conversation ci, by SQL or by sendMessage
// from sender (nil: a random viewer of the conversation).
func (p *phase) write(ctx context.Context, ci int, how origin, measured bool, sender *viewer) {
	f := p.f
	c := f.convs[ci]
	seq := f.r.seq.Add(1)
	rec := writeRec{seq: seq, conv: ci, origin: how, measured: measured}
	content := fmt.Sprintf("%s %s #%d%s", dataset.IDPrefix, f.r.run, seq, p.padding)
	switch {
	case len(c.viewers) == 0:
		rec.err = errNoViewers
	case how == viaSQL:
		who := c.viewers[rand.IntN(len(c.viewers))].ident
		rec.err = dataset.InsertMessage(ctx, f.r.pool, f.r.run, seq, c.id, who, content)
		rec.t0 = f.now()
		rec.t1 = rec.t0
	default:
		if sender == nil {
			sender = c.viewers[rand.IntN(len(c.viewers))]
		}
		mctx, cancel := context.WithTimeout(ctx, mutationTimeout)
		rec.t0 = f.now()
		rec.err = sender.mutate(mctx, fnSend,
			map[string]any{"conversationId": c.id, "content": content, "messageType": "text"})
		rec.t1 = f.now()
		cancel()
	}
	if rec.err == nil {
		f.expected.Add(int64(len(c.viewers)))
	}
	p.mu.Lock()
	p.writes = append(p.writes, rec)
	p.mu.Unlock()
}

// openLoop issues rate writes per second to random conversations from
// start until end, whatever the server's pace, sqlShare of them by SQL.
// Writes due before measureFrom are warm-up. It returns once every write
// it issued has returned.
func (p *phase) openLoop(ctx context.Context, rate, sqlShare float64, start, measureFrom, end time.Time) {
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, p.f.r.cfg.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for next := start; next.Before(end); next = next.Add(interval) {
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		measured := !next.Before(measureFrom)
		select {
		case sem <- struct{}{}:
		default:
			if measured {
				p.skipped.Add(1)
			}
			continue
		}
		ci := rand.IntN(len(p.f.convs))
		how := viaMutation
		if rand.Float64() < sqlShare {
			how = viaSQL
		}
		wg.Add(1)
		go func() { // owned: wg
			defer wg.Done()
			defer func() { <-sem }()
			p.write(ctx, ci, how, measured, nil)
		}()
	}
}

// closedLoop has each writer call sendMessage in its own conversation,
// one call after another, until end.
func (p *phase) closedLoop(ctx context.Context, writers []*viewer, measureFrom, end time.Time) {
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Add(1)
		go func() { // owned: wg
			defer wg.Done()
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(end) {
					return
				}
				p.write(ctx, w.conv, viaMutation, !now.Before(measureFrom), w)
			}
		}()
	}
	wg.Wait()
}

// latency summarises latencies in milliseconds.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func summarize(ns []int64) Latency {
	if len(ns) == 0 {
		return Latency{}
	}
	slices.Sort(ns)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(ns)))) - 1
		return float64(ns[max(0, min(i, len(ns)-1))]) / 1e6
	}
	return Latency{N: len(ns), P50: q(.50), P95: q(.95), P99: q(.99), Max: float64(ns[len(ns)-1]) / 1e6}
}

// outcome is what a phase measured on the client side.
type outcome struct {
	all, mut, sql Latency
	// last is each write's latency to the last of its conversation's
	// viewers, over the writes every viewer held: the time until the
	// last one has it, as a relay's fan-out is measured.
	last           Latency
	early          int // pushes that arrived before the writer's COMMIT returned
	writes         int // measured writes attempted
	ok, okMut      int // measured writes that succeeded
	doneInWindow   int // successful writes that returned inside the window
	mutInWindow    int // of them, mutations
	errors         int
	warmUpErrors   int
	rateLimited    int
	firstErr       error
	skipped        int64
	expected       int // receipts owed: every viewer of a conversation, for every measured write to it
	received       int
	dropped        int // receipts owed but never seen: droppedKeptUp + droppedCoalesced
	droppedKeptUp  int // of them, missing although no overflow of the viewer spans the write
	droppedBeyond  int // of them, within a gap: beyond a page in a coalesced result (a slow client)
	missedByAll    int // messages no viewer ever held
	missedBySome   int // messages some viewers held and others never did
	duplicates     int
	viewersMissing int // viewers that missed at least one message
	viewersChecked int
}

// analyze matches the measured writes against the viewers' receipts.
// [from, to) is the window in ns since the fleet's epoch.
func (p *phase) analyze(from, to int64) outcome {
	p.mu.Lock()
	writes := slices.Clone(p.writes)
	p.mu.Unlock()
	var o outcome
	o.skipped = p.skipped.Load()
	idx := map[uint64]int{}
	perConv := make([]int, len(p.f.convs))
	convWrites := make([][]int, len(p.f.convs)) // measured successful writes, by conversation
	for i, w := range writes {
		if w.err == nil && w.t1 >= from && w.t1 < to {
			o.doneInWindow++
			if w.origin == viaMutation {
				o.mutInWindow++
			}
		}
		if !w.measured {
			if w.err != nil {
				o.warmUpErrors++
				if o.firstErr == nil {
					o.firstErr = w.err
				}
			}
			continue
		}
		o.writes++
		if w.err != nil {
			o.errors++
			if o.firstErr == nil {
				o.firstErr = w.err
			}
			var fe *syncclient.FunctionError
			if errors.As(w.err, &fe) && fe.Code() == "rate_limited" {
				o.rateLimited++
			}
			continue
		}
		o.ok++
		if w.origin == viaMutation {
			o.okMut++
		}
		idx[w.seq] = i
		perConv[w.conv]++
		convWrites[w.conv] = append(convWrites[w.conv], i)
		o.expected += len(p.f.convs[w.conv].viewers)
	}
	count := make([]int, len(writes))
	slowest := make([]int64, len(writes))
	held := make([]bool, len(writes)) // by the viewer at hand
	var all, mut, sql []int64
	for _, v := range p.f.snapshot() {
		if !v.active {
			continue
		}
		got := 0
		v.mu.Lock()
		for _, rc := range v.receipts {
			i, ok := idx[rc.seq]
			if !ok {
				continue
			}
			got++
			count[i]++
			held[i] = true
			w := &writes[i]
			lat := rc.at - w.t0
			if lat < 0 {
				o.early++
				lat = 0
			}
			all = append(all, lat)
			slowest[i] = max(slowest[i], lat)
			if w.origin == viaSQL {
				sql = append(sql, lat)
			} else {
				mut = append(mut, lat)
			}
		}
		for _, i := range convWrites[v.conv] {
			if held[i] {
				held[i] = false
				continue
			}
			if inGap(v.gaps, writes[i]) {
				o.droppedBeyond++
			} else {
				o.droppedKeptUp++
			}
		}
		v.mu.Unlock()
		o.viewersChecked++
		if got < perConv[v.conv] {
			o.viewersMissing++
		}
	}
	var last []int64
	for _, i := range idx {
		n, want := count[i], len(p.f.convs[writes[i].conv].viewers)
		o.received += min(n, want)
		if n >= want {
			last = append(last, slowest[i])
		}
		switch {
		case n == 0:
			o.missedByAll++
		case n < want:
			o.missedBySome++
		}
		if n < want {
			o.dropped += want - n
		} else {
			o.duplicates += n - want
		}
	}
	o.all, o.mut, o.sql, o.last = summarize(all), summarize(mut), summarize(sql), summarize(last)
	return o
}

// inGap reports whether write w could have fallen between the two
// results of one of gaps: the result before the gap arrived before w
// returned (so it may lack w) and the overflowing result arrived after w
// began (so w may be older than its page).
func inGap(gaps []gap, w writeRec) bool {
	for _, g := range gaps {
		if g.from < w.t1 && g.to >= w.t0 {
			return true
		}
	}
	return false
}

func (o outcome) errorNote() string {
	var parts []string
	if o.errors > 0 {
		p := fmt.Sprintf("%d of %d writes failed", o.errors, o.writes)
		if o.rateLimited > 0 {
			p += fmt.Sprintf(" (%d rate limited: run the server with --message-rate -1)", o.rateLimited)
		}
		parts = append(parts, p)
	}
	if o.warmUpErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d writes failed during the warm-up", o.warmUpErrors))
	}
	if o.firstErr != nil {
		parts = append(parts, fmt.Sprintf("first error: %v", o.firstErr))
	}
	if o.skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d writes skipped: more than MaxInFlight outstanding", o.skipped))
	}
	return strings.Join(parts, "; ")
}
