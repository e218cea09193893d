package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/bench/dataset"
	"github.com/parley-chat/parley/internal/bench/lite"
	"github.com/parley-chat/parley/internal/bench/scrape"
)

// Scenario e: how long an edit and a delivery acknowledgement take to
// reach every viewer of a hot conversation (b's, with its viewers' lite
// clients). Row e/edit: the conversation's customer edits a message of
// theirs; e/ack: the customer sends a message, and once every viewer
// holds it, a staff member acknowledges it (markDelivered), which turns
// its status to "delivered" for everyone (chat.directStatus: the other
// side has received it).
//
// Unlike b, one operation is in flight at a time, at most ConfigE.Rate a
// second: a viewer's getMessages coalesces pushes (the newest result
// wins), so a second edit of the message before the first reached a
// viewer would hide the first from it. Each operation publishes a probe —
// what the viewers look for in a message object of their results — before
// it calls its mutation, and waits until every viewer has found it, or
// Config.Drain has passed, before the next. Latency runs from the
// mutation's call to the first result, timed when the client read it,
// whose message object matches; the acknowledgement's send and the wait
// for it are not measured.

const (
	fnEdit    = "shared/chat:editMessage"
	fnDeliver = "shared/chat:markDelivered"
)

// editRefresh is how old the edited message may get before the writer
// sends a fresh one to edit: well inside the server's edit window
// (chat.DefaultEditWindow), which binds a customer.
const editRefresh = chat.DefaultEditWindow / 3

// probe is what scenario e's viewers look for in their getMessages
// results: a message object whose members equal every field set, as JSON
// text (`"m123"`, quotes included). Safe for concurrent use.
type probe struct {
	seq     uint64 // unique in the run, recorded with each viewer's receipt
	id      []byte // the message's _id; nil: any
	content []byte // its content; nil: any
	status  []byte // its status; nil: any
	want    int64  // viewers
	hits    atomic.Int64
	all     chan struct{} // wake-up: the hit that made want
}

// matches reports whether a getMessages result holds a message object
// that matches p. It scans value without decoding it.
func (p *probe) matches(value []byte) bool {
	found := false
	lite.Elements(value, "messages", func(msg []byte) {
		if !found {
			found = p.matchesMessage(msg)
		}
	})
	return found
}

func (p *probe) matchesMessage(msg []byte) bool {
	id, content, status := p.id == nil, p.content == nil, p.status == nil
	lite.Fields(msg, func(k, v []byte) {
		switch string(k) {
		case "_id":
			id = id || bytes.Equal(v, p.id)
		case "content":
			content = content || bytes.Equal(v, p.content)
		case "status":
			status = status || bytes.Equal(v, p.status)
		}
	})
	return id && content && status
}

// prober publishes scenario e's probes to its fleet's viewers and records
// what they found. Its operations run on one goroutine; its viewers'
// readers call observe.
type prober struct {
	f   *fleet
	cur atomic.Pointer[probe]
	seq uint64 // the last probe's; the operations' goroutine only
}

// observe is the fleet's result hook: the first result of v that matches
// the current probe is v's receipt of it. Called by v's reader only.
func (pr *prober) observe(v *viewer, value []byte, at time.Time) {
	p := pr.cur.Load()
	if p == nil || v.probed == p.seq || !p.matches(value) {
		return
	}
	v.probed = p.seq
	v.mu.Lock()
	v.receipts = append(v.receipts, receipt{seq: p.seq, at: pr.f.since(at)})
	v.mu.Unlock()
	if p.hits.Add(1) == p.want {
		select {
		case p.all <- struct{}{}:
		default:
		}
	}
}

// newProbe returns a probe for every viewer of the conversation; the
// fields are JSON-encoded (nil stays nil).
func (pr *prober) newProbe(id, content, status *string) *probe {
	pr.seq++
	enc := func(s *string) []byte {
		if s == nil {
			return nil
		}
		b, _ := json.Marshal(*s)
		return b
	}
	return &probe{seq: pr.seq, id: enc(id), content: enc(content), status: enc(status),
		want: int64(len(pr.f.convs[0].viewers)), all: make(chan struct{}, 1)}
}

// await publishes p, calls call, and waits until every viewer has found
// p, Drain has passed, or ctx ends. It returns when the call was made (ns
// since the fleet's epoch) and the call's error (then it does not wait).
func (pr *prober) await(ctx context.Context, p *probe, call func(context.Context) error) (int64, error) {
	pr.cur.Store(p)
	defer pr.cur.Store(nil)
	mctx, cancel := context.WithTimeout(ctx, mutationTimeout)
	t0 := pr.f.now()
	err := call(mctx)
	cancel()
	if err != nil {
		return t0, err
	}
	timer := time.NewTimer(pr.f.r.cfg.Drain)
	defer timer.Stop()
	select {
	case <-p.all:
	case <-timer.C:
	case <-ctx.Done():
	}
	return t0, nil
}

// probeOp is one measured operation: its probe's seq, when its mutation
// was called, and how that went.
type probeOp struct {
	seq uint64
	t0  int64
	err error
}

// scenarioE: edits and acknowledgements pushed to one conversation's
// viewers.
func (r *Runner) scenarioE(ctx context.Context) []Row {
	c := r.cfg.E
	g := dataset.Group{Prefix: dataset.IDPrefix + "e", Convs: 1, Staff: max(1, c.Viewers-1), History: r.cfg.PageSize}
	if err := r.prepare(ctx, g); err != nil {
		return failed(ScenarioE, err)
	}
	f := r.newFleet(ScenarioE, convIDs(g))
	pr := &prober{f: f}
	f.lite, f.onResult = true, pr.observe // b's viewers: see scenarioB
	defer f.close()
	m, err := r.connectMeasured(ctx, f, twoParty(g, c.Viewers))
	if err != nil {
		return failed(ScenarioE, err)
	}
	var writer, acker *viewer // the customer, and a staff member of the store
	for _, v := range f.convs[0].viewers {
		switch v.ident.Subject {
		case g.Customer(0).Subject:
			writer = v
		case g.StaffMember(0, 0).Subject:
			acker = v
		}
	}
	if writer == nil || acker == nil {
		return failed(ScenarioE, errors.New("bench: scenario e's customer or first staff member has no session"))
	}
	convID := f.convs[0].id

	// send has the writer send a fresh message and waits until every
	// viewer holds it; it returns the message's id.
	var sendsShort int // sends that had not reached every viewer when Drain passed
	send := func(ctx context.Context) (string, error) {
		content := fmt.Sprintf("%s %s #%d", dataset.IDPrefix, r.run, r.seq.Add(1))
		p := pr.newProbe(nil, &content, nil)
		var id string
		_, err := pr.await(ctx, p, func(ctx context.Context) error {
			v, err := writer.call(ctx, fnSend, map[string]any{"conversationId": convID, "content": content, "messageType": "text"})
			if err == nil {
				err = json.Unmarshal(v, &id)
			}
			return err
		})
		if err == nil && p.hits.Load() < p.want {
			sendsShort++
		}
		return id, err
	}

	var target string // the message the writer edits
	var targetAt time.Time
	edits := 0
	edit := func(ctx context.Context) probeOp {
		if target == "" || time.Since(targetAt) > editRefresh {
			id, err := send(ctx)
			if err != nil {
				return probeOp{err: fmt.Errorf("send the message to edit: %w", err)}
			}
			target, targetAt = id, time.Now()
		}
		edits++
		content := fmt.Sprintf("%s %s edit #%d", dataset.IDPrefix, r.run, edits)
		p := pr.newProbe(&target, &content, nil)
		t0, err := pr.await(ctx, p, func(ctx context.Context) error {
			return writer.mutate(ctx, fnEdit, map[string]any{"messageId": target, "content": content})
		})
		return probeOp{seq: p.seq, t0: t0, err: err}
	}
	delivered := chat.StatusDelivered
	ack := func(ctx context.Context) probeOp {
		id, err := send(ctx)
		if err != nil {
			return probeOp{err: fmt.Errorf("send the message to acknowledge: %w", err)}
		}
		p := pr.newProbe(&id, nil, &delivered)
		t0, err := pr.await(ctx, p, func(ctx context.Context) error {
			v, err := acker.call(ctx, fnDeliver, map[string]any{"conversationId": convID, "upToMessageId": id})
			if err != nil {
				return err
			}
			var d chat.Delivered
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if !d.Moved {
				return errors.New("markDelivered moved nothing: the staff member's position already covered the message")
			}
			return nil
		})
		return probeOp{seq: p.seq, t0: t0, err: err}
	}

	rows := []Row{}
	for _, op := range []struct {
		name string
		do   func(context.Context) probeOp
		note string
	}{
		{ScenarioE + "/edit", edit, "edit→push: from the editMessage call (the customer edits a message of theirs) to the first getMessages result whose message object holds the new content"},
		{ScenarioE + "/ack", ack, "ack→push: from the markDelivered call (a staff member acknowledges the customer's newest message, once every viewer holds it) to the first getMessages result where that message's object has \"status\":\"delivered\""},
	} {
		sendsShort = 0
		row := r.measureProbes(ctx, f, op.name, op.do)
		row.Notes = append([]string{op.note}, row.Notes...)
		if sendsShort > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("%d messages sent had not reached every viewer after %s", sendsShort, r.cfg.Drain))
		}
		rows = append(rows, r.withMemory(row, m))
		if ctx.Err() != nil {
			break
		}
	}
	return rows
}

// measureProbes runs op one call after another, at most ConfigE.Rate a
// second, for the warm-up and then the window, and reports the window's
// operations.
func (r *Runner) measureProbes(ctx context.Context, f *fleet, name string, op func(context.Context) probeOp) Row {
	row := Row{Scenario: name}
	row.Sessions, row.Subscriptions = f.counts()
	interval := time.Duration(float64(time.Second) / r.cfg.E.Rate)
	start := time.Now()
	measureFrom := start.Add(r.cfg.WarmUp)
	end := measureFrom.Add(r.cfg.Duration)
	smp := r.srv.StartSampler(ctx, start)
	var ops []probeOp
	var mu sync.Mutex // guards ops
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned: wg
		defer wg.Done()
		for next := start; ctx.Err() == nil; {
			now := time.Now()
			if !now.Before(end) {
				return
			}
			o := op(ctx)
			if !now.Before(measureFrom) {
				mu.Lock()
				ops = append(ops, o)
				mu.Unlock()
			}
			next = next.Add(interval)
			if now := time.Now(); next.Before(now) {
				next = now
			}
			sleepUntil(ctx, next)
		}
	}()
	r.log.Info("load", slog.String("scenario", name), slog.Float64("rate", r.cfg.E.Rate),
		slog.Duration("warmUp", r.cfg.WarmUp), slog.Duration("window", r.cfg.Duration))
	sleepUntil(ctx, measureFrom)
	e0 := r.readEdge(ctx, f)
	sleepUntil(ctx, end)
	e1 := r.readEdge(ctx, f)
	wg.Wait()
	sum := smp.Stop()
	if err := errors.Join(e0.err, e1.err, ctx.Err()); err != nil {
		row.Error = err.Error()
		return row
	}
	o := analyzeProbes(f, ops)
	row.Writes, row.WriteErrors = len(ops), o.errors
	if n := rates(&row, outcome{doneInWindow: len(ops) - o.errors, mutInWindow: len(ops) - o.errors}, measureFrom, end, e0, e1, runtime.NumCPU()); n != "" {
		row.Notes = append(row.Notes, n)
	}
	row.Latency, row.LastViewerLatency = o.all, o.last
	row.Expected, row.Received, row.Dropped = o.expected, o.received, o.expected-o.received
	row.ViewersChecked, row.ViewersMissing = o.viewers, o.viewersMissing
	row.ServerRSS = e1.m.Get(scrape.RSS)
	row.ServerRSSMax = max(sum.MaxRSS, row.ServerRSS)
	row.ReplicationLag = sum.MaxLag
	if n := e1.m.Get(scrape.WriteToPushCount) - e0.m.Get(scrape.WriteToPushCount); n > 0 {
		row.ServerMeanPushS = (e1.m.Get(scrape.WriteToPushSum) - e0.m.Get(scrape.WriteToPushSum)) / n
	}
	row.Notes = append(row.Notes, fmt.Sprintf("%d operations one at a time (at most %v/s), each waited for at every one of %d viewers: "+
		"p50 %.2f p99 %.2f ms over %d receipts; the last viewer's p50 %.2f p99 %.2f max %.1f ms over %d operations every viewer saw",
		len(ops), r.cfg.E.Rate, o.viewers, o.all.P50, o.all.P99, o.all.N, o.last.P50, o.last.P99, o.last.Max, o.last.N))
	if o.firstErr != nil {
		row.Notes = append(row.Notes, fmt.Sprintf("%d of %d operations failed (first: %v)", o.errors, len(ops), o.firstErr))
	}
	if row.Dropped > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("DROPS: %d of %d receipts missing after %s: %d of %d viewers missed an operation",
			row.Dropped, o.expected, r.cfg.Drain, o.viewersMissing, o.viewers))
	}
	pe, firstPE, disc, firstDisc := f.health()
	row.ProtocolErrors, row.Disconnects = pe, disc
	if pe > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("%d protocol violations seen by clients (first: %v)", pe, firstPE))
	}
	if disc > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("%d sessions lost their connection (first: %v)", disc, firstDisc))
	}
	row.Notes = append(row.Notes, fmt.Sprintf("server commit→queued mean %.2f ms; CPU (cores): server %.2f, postgres %.2f, bench %.2f, whole machine %.2f of %d",
		row.ServerMeanPushS*1000, row.ServerCPU, row.PostgresCPU, row.BenchCPU, row.HostCPU, runtime.NumCPU()))
	return row
}

// probeOutcome is what analyzeProbes found.
type probeOutcome struct {
	all, last          Latency // every receipt; each operation's last one, where every viewer had it
	expected, received int
	errors             int
	firstErr           error
	viewers            int
	viewersMissing     int
}

// analyzeProbes matches ops against the receipts of f's viewers.
func analyzeProbes(f *fleet, ops []probeOp) probeOutcome {
	var o probeOutcome
	idx := map[uint64]int{}
	for i, op := range ops {
		if op.err != nil {
			o.errors++
			if o.firstErr == nil {
				o.firstErr = op.err
			}
			continue
		}
		idx[op.seq] = i
	}
	count := make([]int, len(ops))
	latest := make([]int64, len(ops))
	var all []int64
	for _, v := range f.snapshot() {
		if !v.active {
			continue
		}
		o.viewers++
		got := 0
		v.mu.Lock()
		for _, rc := range v.receipts {
			i, ok := idx[rc.seq]
			if !ok {
				continue
			}
			got++
			count[i]++
			lat := max(0, rc.at-ops[i].t0)
			latest[i] = max(latest[i], lat)
			all = append(all, lat)
		}
		v.mu.Unlock()
		if got < len(idx) {
			o.viewersMissing++
		}
	}
	var last []int64
	for i := range maps.Values(idx) {
		o.expected += o.viewers
		o.received += count[i]
		if count[i] == o.viewers {
			last = append(last, latest[i])
		}
	}
	o.all, o.last = summarize(all), summarize(last)
	return o
}
