package chaos

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// form is how hard the suite pushes: the short form runs in `go test
// ./...`, the long form in `make chaos`.
type form struct {
	name        string
	pgDown      time.Duration // Postgres stays down this long
	walKills    int           // walsender terminations, one a second
	serverDown  time.Duration // the killed server stays down this long
	linkDown    time.Duration // the cut link stays cut this long
	uploads     int           // uploads tried while the media directory is full
	stalled     int           // clients that stop reading
	stallFor    time.Duration // how long writers run while they do not read
	herd        int           // clients reconnecting at once
	afterWrites int           // acknowledged writes after recovery before the checks
	held        int           // idle sockets an attacker holds open
	holdFor     time.Duration // for this long
	replayed    int           // messages a client replays at once after being offline
	malformed   int           // sessions that break the protocol once each
}

var (
	shortForm = form{name: "short", pgDown: 2 * time.Second, walKills: 5, serverDown: time.Second, linkDown: 2 * time.Second,
		uploads: 3, stalled: 5, stallFor: 5 * time.Second, herd: 200, afterWrites: 20,
		held: 450, holdFor: 8 * time.Second, replayed: 300, malformed: 30}
	longForm = form{name: "long", pgDown: 15 * time.Second, walKills: 30, serverDown: 5 * time.Second, linkDown: 15 * time.Second,
		uploads: 10, stalled: 20, stallFor: 30 * time.Second, herd: 1000, afterWrites: 200,
		held: 2000, holdFor: 30 * time.Second, replayed: 1000, malformed: 300}
)

// Bounds on growth after recovery; see the package documentation.
const (
	goroutineSlackRatio = 0.20
	goroutineSlack      = 50
	rssSlackKiB         = 50 << 10
	convergeTimeout     = 90 * time.Second
	recoverTimeout      = 2 * time.Minute
	subscriberLimit     = 20 // getMessages' limit for the subscribers
	herdLimit           = 5  // and for the herd's
)

// row is one fault's line in the report.
type row struct {
	fault               string
	acked, unknown      int
	retries             int
	lost, duplicated    int
	events              int // message.created events of the load's messages
	hooksLost           int // of those, never delivered to the webhook
	redelivered         int // webhook deliveries beyond the first of an event
	recovered           time.Duration
	before, after       sample
	problems            []string
	notes               []string
	recoveredMeaningful bool
}

var (
	rowsMu sync.Mutex
	rows   []*row
)

// faultSpec is one fault: its setup options and what it does. inject runs
// with the load going and returns once the fault is lifted; it may add
// problems and notes to r.
type faultSpec struct {
	name string
	opts func(t *testing.T) envOptions
	herd bool // herd clients subscribe before the fault
	// writePause is the writers' pause between writes. Zero means
	// defaultWritePause.
	writePause time.Duration
	health     bool // /healthz must report the fault while it lasts
	// hookDelay is how long the webhook receiver takes to answer.
	hookDelay time.Duration
	inject    func(t *testing.T, e *env, f form, r *row)
	// recovered returns once the server has recovered from what inject
	// did; nil means: /healthz ok and a new mutation acknowledged.
	recovered func(t *testing.T, e *env) error
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos suite runs real Postgres clusters and servers")
	}
	f := shortForm
	if long() {
		f = longForm
	}
	rowsMu.Lock()
	rows = nil
	rowsMu.Unlock()
	t.Cleanup(func() { report(t, f) })
	for _, spec := range faults() {
		t.Run(spec.name, func(t *testing.T) { runFault(t, f, spec) })
	}
}

func runFault(t *testing.T, f form, spec faultSpec) {
	r := &row{fault: spec.name}
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
	defer func() {
		// Every Errorf in the fault also goes in the row.
		if t.Failed() && len(r.problems) == 0 {
			r.problems = append(r.problems, "test failed (see its log)")
		}
	}()
	problem := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		r.problems = append(r.problems, msg)
		t.Error(msg)
	}

	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	var opts envOptions
	if spec.opts != nil {
		opts = spec.opts(t)
	}
	e := newEnv(t, opts)
	hk := startHooks(t, e, spec.hookDelay)
	phase("cluster and server up")
	subs := []subscriber{}
	for i := range 2 {
		subs = append(subs, startGoSub(t, e, fmt.Sprintf("go subscriber %d", i), subscriberLimit, 0))
	}
	subs = append(subs, startNodeSub(t, e, subscriberLimit))
	var herd []*goSub
	if spec.herd {
		for i := range f.herd {
			g := startGoSub(t, e, fmt.Sprintf("herd client %d", i), herdLimit, 100*time.Millisecond)
			herd = append(herd, g)
		}
		for _, g := range herd {
			select {
			case <-g.firstReady:
			case <-time.After(2 * time.Minute):
				t.Fatalf("%s has no first result", g.label)
			}
		}
	}
	for _, s := range subs {
		eventually(t, time.Minute, s.name()+" first result", func() error { _, err := s.latest(); return err })
	}

	phase("subscribers hold results")
	l := startLoad(t, e, strings.ReplaceAll(spec.name, " ", "_")+fmt.Sprint(time.Now().UnixNano()%1e6), spec.writePause)
	eventually(t, time.Minute, "writes before the fault", func() error {
		if n := l.ledger.ackedCount(); n < 20 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	loads.Store(t.Name(), l)
	var err error
	r.before, err = e.srv.sample()
	require.NoError(t, err)

	phase("fault begins")
	w := watchHealth(e)
	spec.inject(t, e, f, r)
	lifted := time.Now()
	phase("fault lifted")
	recovered := spec.recovered
	if recovered == nil {
		recovered = func(t *testing.T, e *env) error { return probe(t, e, l) }
	}
	if err := poll(recoverTimeout, func() error { return recovered(t, e) }); err != nil {
		problem("did not recover within %s: %v", recoverTimeout, err)
	}
	if spec.herd {
		if err := poll(recoverTimeout, func() error { return herdBack(herd) }); err != nil {
			problem("the herd did not reconnect within %s: %v", recoverTimeout, err)
		}
	}
	r.recovered = time.Since(lifted)
	r.recoveredMeaningful = true
	phase("recovered")
	states := w.stop()
	if len(states) > 0 {
		r.notes = append(r.notes, "healthz: "+brief(states))
	}
	if spec.health && len(states) == 0 {
		problem("/healthz never reported the fault")
	}
	if _, s := e.health(); s != "ok" {
		problem("/healthz after recovery: %s", s)
	}

	// Load goes on for a while after recovery, then the checks.
	target := l.ledger.ackedCount() + f.afterWrites
	if err := poll(2*time.Minute, func() error {
		if n := l.ledger.ackedCount(); n < target {
			return fmt.Errorf("%d of %d acknowledged", n, target)
		}
		return nil
	}); err != nil {
		problem("writes after recovery: %v", err)
	}
	r.after = settle(e, r.before)
	l.stop()
	phase("writers stopped")

	a := l.audit(t, e)
	r.acked, r.unknown, r.retries, r.lost, r.duplicated = a.acked, a.unknown, a.retries, a.lost, a.duplicated
	if a.lost > 0 {
		problem("%d acknowledged writes lost, e.g. %s", a.lost, brief(first(a.lostExamples, 5)))
	}
	if a.duplicated > 0 {
		problem("%d writes duplicated: %s", a.duplicated, brief(first(a.dupExamples, 5)))
	}
	if len(a.failures) > 0 {
		problem("writes failed with unexpected errors: %s", brief(a.failures))
	}
	ha := hk.audit(t, e, l.prefix, convergeTimeout)
	r.events, r.hooksLost, r.redelivered = ha.events, ha.lost, ha.redelivered
	for _, p := range ha.problems {
		problem("webhook: %s", p)
	}
	phase("writes and events audited")
	if len(a.proto) > 0 {
		problem("the writers' sync clients saw protocol violations: %s", brief(a.proto))
	}
	for _, g := range herd {
		subs = append(subs, g)
	}
	if stale := converge(e, subs, convergeTimeout); len(stale) > 0 {
		problem("subscriptions not equal to a fresh query after %s: %s", convergeTimeout, brief(stale))
	}
	phase("subscriptions checked")
	var proto []string
	for _, s := range subs {
		if g, ok := s.(*goSub); ok {
			g.stop()
			for _, p := range g.protocolErrors() {
				proto = append(proto, g.label+": "+p)
			}
		}
	}
	if len(proto) > 0 {
		problem("subscribers saw protocol violations: %s", brief(first(proto, 5)))
	}
	if spec.herd {
		missed := 0
		for _, g := range herd {
			if g.reconnects() < 1 {
				missed++
			}
		}
		if missed > 0 {
			problem("%d of %d herd clients never reconnected", missed, len(herd))
		}
	}
	if maxG := r.before.goroutines + max(goroutineSlack, int(float64(r.before.goroutines)*goroutineSlackRatio)); r.after.goroutines > maxG {
		problem("goroutines grew from %d to %d (bound %d)", r.before.goroutines, r.after.goroutines, maxG)
	}
	if r.after.rssKiB > r.before.rssKiB+rssSlackKiB {
		problem("RSS grew from %d to %d MiB", r.before.rssKiB>>10, r.after.rssKiB>>10)
	}
}

// herdBack reports whether every herd client has reconnected and holds a
// result again.
func herdBack(herd []*goSub) error {
	back := 0
	for _, g := range herd {
		if _, err := g.latest(); err == nil && g.reconnects() >= 1 {
			back++
		}
	}
	if back < len(herd) {
		return fmt.Errorf("%d of %d back", back, len(herd))
	}
	return nil
}

// probe is recovery as a client sees it: /healthz ok, and a new mutation
// on a new connection acknowledged (it counts as a write of the load's).
func probe(t *testing.T, e *env, l *load) error {
	if _, s := e.health(); s != "ok" {
		return fmt.Errorf("healthz: %s", s)
	}
	return probeWrite(t, e, l)
}

var probeSeq sync.Map

// loads maps a subtest's name to its load, for faults that write too.
var loads sync.Map

func currentLoad(t *testing.T) *load {
	l, _ := loads.Load(t.Name())
	return l.(*load)
}

func probeWrite(t *testing.T, e *env, l *load) error {
	n, _ := probeSeq.LoadOrStore(t.Name(), new(int))
	seq := n.(*int)
	*seq++
	marker := fmt.Sprintf("%s-probe-%d", l.prefix, *seq)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := dialJohn(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Mutation(ctx, "shared/chat:sendMessage", sendArgs(marker)); err != nil {
		if !isUnavailable(err) {
			l.ledger.unsure(marker)
		}
		return err
	}
	l.ledger.ack(marker)
	return nil
}

// settle samples the server until its goroutines are within bounds of
// before (connections closed by the fault take a moment to go) or 30s
// pass, and returns the smallest sample.
func settle(e *env, before sample) sample {
	var best sample
	bound := before.goroutines + max(goroutineSlack, int(float64(before.goroutines)*goroutineSlackRatio))
	_ = poll(30*time.Second, func() error {
		s, err := e.srv.sample()
		if err != nil {
			return err
		}
		if best.goroutines == 0 || s.goroutines < best.goroutines {
			best.goroutines = s.goroutines
		}
		if best.rssKiB == 0 || s.rssKiB < best.rssKiB {
			best.rssKiB = s.rssKiB
		}
		if best.goroutines > bound || best.rssKiB > before.rssKiB+rssSlackKiB {
			time.Sleep(time.Second)
			return fmt.Errorf("not settled")
		}
		return nil
	})
	return best
}

func first(list []string, n int) []string {
	if len(list) > n {
		return list[:n]
	}
	return list
}

// report prints the table and writes it to $PARLEY_CHAOS_REPORT.
func report(t *testing.T, f form) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "chaos suite, %s form\n\n", f.name)
	b.WriteString("| fault | writes acknowledged | unknown | retries | lost | duplicated | events | webhook lost | redelivered | time to recover | goroutines before → after | RSS before → after | result |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		result := "ok"
		if len(r.problems) > 0 {
			result = "FAIL: " + brief(r.problems)
		}
		if len(r.notes) > 0 {
			result += " (" + brief(r.notes) + ")"
		}
		rec := "-"
		if r.recoveredMeaningful {
			rec = r.recovered.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %s | %d → %d | %d → %d MiB | %s |\n",
			r.fault, r.acked, r.unknown, r.retries, r.lost, r.duplicated, r.events, r.hooksLost, r.redelivered, rec,
			r.before.goroutines, r.after.goroutines, r.before.rssKiB>>10, r.after.rssKiB>>10, result)
	}
	t.Log("\n" + b.String())
	if path := os.Getenv("PARLEY_CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
	}
}
