package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/bench/dataset"
	"github.com/parley-chat/parley/internal/bench/lite"
	"github.com/parley-chat/parley/internal/syncclient"
)

// The chat API's functions the bench uses.
const (
	fnConversations = "shared/chat:getConversations"
	fnUnread        = "shared/chat:getUnreadCount"
	fnMessages      = "shared/chat:getMessages"
	fnTyping        = "shared/chat:getTypingIndicators"
	fnSend          = "shared/chat:sendMessage"
)

const (
	dialTimeout  = 30 * time.Second
	firstTimeout = 120 * time.Second // the first results, while thousands connect
	tokenTTL     = 12 * time.Hour
)

// viewerSpec is a session to connect: who, and what it subscribes to.
type viewerSpec struct {
	ident functions.Identity
	conv  int      // the open conversation (index into fleet.convs); -1 when idle
	idle  []string // idle: getMessages of these conversations, nothing else
}

// viewer is a connected session. An active viewer subscribes the mix of a
// chat screen: getConversations, getUnreadCount, and getMessages and
// getTypingIndicators of its open conversation; its watcher records when
// each bench message first appears in its getMessages results.
type viewer struct {
	ident  functions.Identity
	conv   int
	active bool                       // has a conversation open, watched
	client *syncclient.Client         // nil for a lite session
	lite   *lite.Client               // nil for a syncclient session
	subs   []*syncclient.Subscription // syncclient sessions only
	msgs   *syncclient.Subscription   // nil when idle or lite
	nsubs  int

	// The watch state, owned by the one goroutine that sees v's
	// getMessages results (its watcher, or its lite reader).
	prev, cur []uint64 // bench seqs of the previous and current result
	sorted    []uint64 // prev, sorted
	seen      bool     // a result arrived
	lastAt    int64    // when the previous result arrived
	probed    uint64   // scenario e: the last probe v found (see prober)

	mu       sync.Mutex // guards receipts and gaps
	receipts []receipt
	gaps     []gap
}

// gap is the interval between two results of a viewer's getMessages where
// the second was a whole page of messages new to it (an overflow): the
// server coalesces pushes per query, so messages written in between that
// fell off the page are in no result the viewer gets.
type gap struct{ from, to int64 } // ns since the fleet's epoch

// receipt is a viewer's first result holding message seq, at (ns since
// the fleet's epoch).
type receipt struct {
	seq uint64
	at  int64
}

// conv is a conversation the load writes to.
type conv struct {
	id      string
	viewers []*viewer // the sessions that have it open
}

// fleet is one scenario's sessions and the messages written to them.
// Viewers are added by connect; their watchers run until the fleet is
// closed. Safe for concurrent use.
type fleet struct {
	r    *Runner
	name string
	page int  // getMessages limit
	lite bool // active sessions are lite clients too, not syncclient (idle ones always are)
	// onResult, if set, replaces observe for the active lite sessions'
	// getMessages results (scenario e's probes); set before connect.
	onResult func(v *viewer, value []byte, at time.Time)
	epoch    time.Time
	marker   []byte // "bench <run> #": what precedes a message's seq in its content
	convs    []*conv

	mu      sync.Mutex // guards viewers
	viewers []*viewer

	watchers  sync.WaitGroup
	expected  atomic.Int64 // receipts owed by successful writes
	received  atomic.Int64 // receipts recorded by watchers
	overflows atomic.Int64 // results whose whole page was new (see watch)
	nextID    atomic.Int64 // session ids
	assigned  atomic.Int64 // sessions given a node so far (Runner.node)
}

func (r *Runner) newFleet(name string, convIDs []string) *fleet {
	f := &fleet{r: r, name: name, page: r.cfg.PageSize, epoch: time.Now(), marker: []byte(dataset.IDPrefix + " " + r.run + " #")}
	for _, id := range convIDs {
		f.convs = append(f.convs, &conv{id: id})
	}
	return f
}

func (f *fleet) now() int64 { return int64(time.Since(f.epoch)) }

func (f *fleet) since(t time.Time) int64 { return int64(t.Sub(f.epoch)) }

// connect opens a session for every spec, DialConcurrency at a time, and
// returns once each has its first results. Any failure fails it. The
// sessions go to the nodes round robin, in the order of specs, continuing
// from the fleet's previous connect.
func (f *fleet) connect(ctx context.Context, specs []viewerSpec) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.r.cfg.DialConcurrency)
	var done atomic.Int64
	start := time.Now()
	last := start
	for _, spec := range specs {
		base := f.r.node(int(f.assigned.Add(1) - 1))
		g.Go(func() error {
			v, err := f.open(gctx, spec, base)
			if err != nil {
				return err
			}
			f.mu.Lock()
			f.viewers = append(f.viewers, v)
			if v.active {
				f.convs[v.conv].viewers = append(f.convs[v.conv].viewers, v)
			}
			n := done.Add(1)
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				f.r.log.Info("connecting", slog.String("scenario", f.name), slog.Int64("sessions", n),
					slog.Int("of", len(specs)), slog.Duration("elapsed", time.Since(start).Round(time.Second)))
			}
			f.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// open connects one session to the node at base and waits for its first
// results.
func (f *fleet) open(ctx context.Context, spec viewerSpec, base string) (*viewer, error) {
	tok, err := f.r.cfg.Mint(spec.ident)
	if err != nil {
		return nil, fmt.Errorf("mint token for %s: %w", spec.ident.Subject, err)
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	sessionID := fmt.Sprintf("%s-%s-%s-%d", dataset.IDPrefix, f.r.run, f.name, f.nextID.Add(1))
	if f.lite || spec.conv < 0 {
		return f.openLite(ctx, dctx, spec, base, tok, sessionID)
	}
	c, err := syncclient.Dial(dctx, base, syncclient.Options{Token: tok, SessionID: sessionID})
	if err != nil {
		return nil, err
	}
	v := &viewer{ident: spec.ident, conv: spec.conv, client: c, active: spec.conv >= 0}
	fail := func(err error) (*viewer, error) {
		c.Close()
		return nil, fmt.Errorf("session of %s: %w", spec.ident.Subject, err)
	}
	if err := c.WaitAuth(dctx); err != nil {
		return fail(err)
	}
	qs := f.queries(spec)
	for _, q := range qs {
		s, err := c.Subscribe(q.Path, q.Args)
		if err != nil {
			return fail(err)
		}
		v.subs = append(v.subs, s)
	}
	v.nsubs = len(v.subs)
	wctx, cancel := context.WithTimeout(ctx, firstTimeout)
	defer cancel()
	for i, s := range v.subs {
		u, err := s.Wait(wctx)
		if err != nil {
			return fail(fmt.Errorf("first result of %s: %w", qs[i].Path, err))
		}
		if u.Failed {
			return fail(fmt.Errorf("%s failed: %s", qs[i].Path, u.ErrorMessage))
		}
	}
	if spec.conv >= 0 {
		v.msgs = v.subs[0]
		f.watchers.Add(1)
		go f.watch(v) // owned: ends when the client closes; close waits
	}
	return v, nil
}

// queries returns what spec's session subscribes; getMessages of its open
// conversation first.
func (f *fleet) queries(spec viewerSpec) []lite.Query {
	var qs []lite.Query
	if spec.conv >= 0 {
		id := f.convs[spec.conv].id
		qs = []lite.Query{
			{Path: fnMessages, Args: map[string]any{"conversationId": id, "limit": f.page}},
			{Path: fnConversations, Args: map[string]any{}},
			{Path: fnUnread, Args: map[string]any{}},
			{Path: fnTyping, Args: map[string]any{"conversationId": id}},
		}
	}
	for _, id := range spec.idle {
		qs = append(qs, lite.Query{Path: fnMessages, Args: map[string]any{"conversationId": id, "limit": f.page}})
	}
	return qs
}

// openLite connects one lite session (see package lite) and waits for its
// first results. An active one's reader records the receipts. Idle
// sessions are always lite: c's 10,000 as syncclient sessions kept a
// 200 MB heap in the generator, whose collections, on the host the server
// and Postgres share, showed in the latency measured.
func (f *fleet) openLite(ctx, dctx context.Context, spec viewerSpec, base, tok, sessionID string) (*viewer, error) {
	v := &viewer{ident: spec.ident, conv: spec.conv, active: spec.conv >= 0}
	qs := f.queries(spec)
	v.nsubs = len(qs)
	var onMessages func([]byte, time.Time)
	readBuf := 4 << 10 // idle: results only when it subscribes
	if v.active {
		onMessages = func(value []byte, at time.Time) { f.observe(v, value, at) }
		if f.onResult != nil {
			onMessages = func(value []byte, at time.Time) { f.onResult(v, value, at) }
		}
		readBuf = 16 << 10
	}
	c, err := lite.Dial(dctx, base, lite.Options{Token: tok, SessionID: sessionID, Queries: qs,
		OnMessages: onMessages, ReadBufferSize: readBuf, HandshakeTimeout: dialTimeout})
	if err != nil {
		return nil, err
	}
	v.lite = c
	wctx, cancel := context.WithTimeout(ctx, firstTimeout)
	defer cancel()
	if err := c.WaitFirst(wctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("session of %s: first results: %w", spec.ident.Subject, err)
	}
	return v, nil
}

// watch feeds v's getMessages results to observe, timed when the client
// read them (Update.Received). Updates holds one result, so a watcher that
// falls behind skips results: observe's overflow check covers that too.
func (f *fleet) watch(v *viewer) {
	defer f.watchers.Done()
	for u := range v.msgs.Updates() {
		if u.Failed {
			continue
		}
		at := u.Received
		if at.IsZero() {
			at = time.Now()
		}
		f.observe(v, u.Value, at)
	}
}

// observe records, for every bench message of this run, the first result
// of v's getMessages that holds it: value, read at at. Results are newest
// first and messages are never removed, so a message is new to v exactly
// when it was not in v's previous result. A result whose every message is
// new (a full page, after the first result) may have skipped messages that
// then are in no result v receives: it counts as an overflow, and the
// interval since the previous result is kept as a gap, which explains such
// drops (see analyze). Called by one goroutine per viewer.
func (f *fleet) observe(v *viewer, value []byte, at time.Time) {
	v.cur = extractSeqs(value, f.marker, v.cur[:0])
	atNS := f.since(at)
	n := 0
	v.mu.Lock()
	for _, s := range v.cur {
		if _, held := slices.BinarySearch(v.sorted, s); !held {
			v.receipts = append(v.receipts, receipt{seq: s, at: atNS})
			n++
		}
	}
	overflow := v.seen && n >= f.page
	if overflow {
		v.gaps = append(v.gaps, gap{from: v.lastAt, to: atNS})
	}
	v.mu.Unlock()
	f.received.Add(int64(n))
	if overflow {
		f.overflows.Add(1)
	}
	v.seen, v.lastAt = true, atNS
	v.prev, v.cur = v.cur, v.prev
	v.sorted = append(v.sorted[:0], v.prev...)
	slices.Sort(v.sorted)
}

// extractSeqs appends the seq of every bench message in a getMessages
// result (a JSON text) to out: the digits after each marker. It does not
// decode the JSON.
func extractSeqs(value, marker []byte, out []uint64) []uint64 {
	for {
		i := bytes.Index(value, marker)
		if i < 0 {
			return out
		}
		value = value[i+len(marker):]
		var n uint64
		j := 0
		for j < len(value) && value[j] >= '0' && value[j] <= '9' {
			n = n*10 + uint64(value[j]-'0')
			j++
		}
		if j > 0 {
			out = append(out, n)
		}
		value = value[j:]
	}
}

// snapshot returns the viewers connected so far.
func (f *fleet) snapshot() []*viewer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.viewers)
}

// pushes counts the results every session has received.
func (f *fleet) pushes() int64 {
	var n int64
	for _, v := range f.snapshot() {
		if v.lite != nil {
			n += v.lite.Pushes()
		}
		for _, s := range v.subs {
			n += int64(s.Stats().Updates)
		}
	}
	return n
}

// counts returns the sessions and subscriptions connected.
func (f *fleet) counts() (sessions, subs int) {
	for _, v := range f.snapshot() {
		sessions++
		subs += v.nsubs
	}
	return sessions, subs
}

// health reports protocol violations and sessions that ended early.
func (f *fleet) health() (protoErrs int, firstProto error, disconnected int, firstDisc error) {
	for _, v := range f.snapshot() {
		var pe []error
		var done <-chan struct{}
		var errOf func() error
		if v.lite != nil {
			pe, done, errOf = v.lite.ProtocolErrors(), v.lite.Done(), v.lite.Err
		} else {
			pe, done, errOf = v.client.ProtocolErrors(), v.client.Done(), v.client.Err
		}
		if len(pe) > 0 && firstProto == nil {
			firstProto = pe[0]
		}
		protoErrs += len(pe)
		select {
		case <-done:
			disconnected++
			if firstDisc == nil {
				firstDisc = errOf()
			}
		default:
		}
	}
	return
}

// close closes every session, DialConcurrency at a time, and waits for
// the watchers.
func (f *fleet) close() {
	var g errgroup.Group
	g.SetLimit(f.r.cfg.DialConcurrency)
	for _, v := range f.snapshot() {
		g.Go(func() error {
			if v.lite != nil {
				v.lite.Close()
				return nil
			}
			return v.client.Close()
		})
	}
	_ = g.Wait()
	f.watchers.Wait()
}

// waitDrained waits until the watchers have recorded every receipt the
// successful writes owe, until no receipt arrived for 2s, or for at most
// limit.
func (f *fleet) waitDrained(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, lastChange := f.received.Load(), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		got := f.received.Load()
		if got >= f.expected.Load() {
			return
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > 2*time.Second {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var errNoViewers = errors.New("bench: a conversation the load writes to has no viewers")

// mutate calls udfPath as v and returns when its response (syncclient:
// read-your-writes) arrives.
func (v *viewer) mutate(ctx context.Context, udfPath string, args any) error {
	if v.lite != nil {
		return v.lite.Mutation(ctx, udfPath, args)
	}
	_, err := v.client.Mutation(ctx, udfPath, args)
	return err
}

// call is mutate that also returns the mutation's result.
func (v *viewer) call(ctx context.Context, udfPath string, args any) (json.RawMessage, error) {
	if v.lite != nil {
		return v.lite.Call(ctx, udfPath, args)
	}
	return v.client.Mutation(ctx, udfPath, args)
}
