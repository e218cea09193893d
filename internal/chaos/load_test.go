package chaos

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// ledger is what the writers know about their writes: the markers the
// server (or Postgres) acknowledged, those whose outcome is unknown (the
// connection ended with the call in flight), and how often a write was
// retried after `unavailable`. Safe for concurrent use.
type ledger struct {
	mu       sync.Mutex
	acked    map[string]bool
	unknown  map[string]bool
	retries  int
	retried  map[string]int // marker → how often it was sent again after unavailable
	failures []string       // unexpected errors, first few
	nfail    int
	proto    []string // protocol violations the writers' clients saw, first few
}

func newLedger() *ledger {
	return &ledger{acked: map[string]bool{}, unknown: map[string]bool{}, retried: map[string]int{}}
}

func (l *ledger) ack(m string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked[m] = true
}

func (l *ledger) unsure(m string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unknown[m] = true
}

func (l *ledger) retry(m string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retries++
	l.retried[m]++
}

func (l *ledger) fail(m string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unknown[m] = true
	l.nfail++
	if len(l.failures) < 5 {
		l.failures = append(l.failures, err.Error())
	}
}

func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// load runs the writers of one fault: mutation writers over the sync
// protocol (as John, in the demo conversation) and a writer inserting
// messages by SQL straight into Postgres. Each write carries a marker of
// its own, prefix-kind-writer-seq, as its content.
type load struct {
	prefix string
	pause  time.Duration
	held   atomic.Bool  // writers wait while it is set; see hold
	busy   atomic.Int32 // writes in flight
	ledger *ledger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

const (
	mutationWriters   = 2
	defaultWritePause = 25 * time.Millisecond
	insertSQL         = `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
		VALUES ($1, $2, $3, 'store', 'text', $4)`
)

func startLoad(t *testing.T, e *env, prefix string, pause time.Duration) *load {
	ctx, cancel := context.WithCancel(context.Background())
	if pause == 0 {
		pause = defaultWritePause
	}
	l := &load{prefix: prefix, pause: pause, ledger: newLedger(), cancel: cancel}
	for w := range mutationWriters {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.mutationWriter(ctx, e, w)
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.sqlWriter(ctx, e)
	}()
	t.Cleanup(l.stop)
	return l
}

// hold makes the writers wait before their next write (on) or go on
// (off); writes in flight complete.
func (l *load) hold(on bool) { l.held.Store(on) }

// idle waits until no write is in flight (at most limit): after hold, no
// write of the load's is left to conflict with the one that follows.
func (l *load) idle(limit time.Duration) error {
	return poll(limit, func() error {
		if n := l.busy.Load(); n > 0 {
			return fmt.Errorf("%d writes in flight", n)
		}
		return nil
	})
}

// enter waits while the load is held, then counts a write in flight
// (leave ends it). It counts before it looks at held, so a write that
// starts after hold(true) backs out and idle never misses one.
func (l *load) enter(ctx context.Context) {
	for {
		l.busy.Add(1)
		if !l.held.Load() || ctx.Err() != nil {
			return
		}
		l.busy.Add(-1)
		sleep(ctx, 10*time.Millisecond)
	}
}

func (l *load) leave() { l.busy.Add(-1) }

// stop ends the writers and waits for them; idempotent.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func sendArgs(content string) map[string]any {
	return map[string]any{"conversationId": schema.DemoConversationID, "content": content, "messageType": "text"}
}

// isUnavailable reports the retryable refusal: the server did not apply
// the call (unavailable without mayHaveCommitted).
func isUnavailable(err error) bool {
	var fe *syncclient.FunctionError
	return errors.As(err, &fe) && fe.Code() == "unavailable" && fe.Data["mayHaveCommitted"] != true
}

// mayHaveCommitted reports an unavailable answer whose mutation may have
// been applied: resending it could apply it twice.
func mayHaveCommitted(err error) bool {
	var fe *syncclient.FunctionError
	return errors.As(err, &fe) && fe.Code() == "unavailable" && fe.Data["mayHaveCommitted"] == true
}

func (l *load) mutationWriter(ctx context.Context, e *env, w int) {
	var c *syncclient.Client
	drop := func() {
		c.Close()
		l.ledger.mu.Lock()
		l.ledger.proto = appendProto(l.ledger.proto, c)
		l.ledger.mu.Unlock()
		c = nil
	}
	defer func() {
		if c != nil {
			drop()
		}
	}()
	for seq := 0; ctx.Err() == nil; seq++ {
		marker := fmt.Sprintf("%s-mut-%d-%d", l.prefix, w, seq)
		for ctx.Err() == nil {
			if c == nil {
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				var err error
				c, err = syncclient.Dial(dctx, e.url, syncclient.Options{Token: e.john})
				cancel()
				if err != nil {
					c = nil
					sleep(ctx, 200*time.Millisecond)
					continue
				}
			}
			l.enter(ctx)
			mctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			_, err := c.Mutation(mctx, "shared/chat:sendMessage", sendArgs(marker))
			l.leave()
			cancel()
			switch {
			case err == nil:
				l.ledger.ack(marker)
			case isUnavailable(err):
				// Not applied: the same write again, as a client would.
				l.ledger.retry(marker)
				sleep(ctx, 200*time.Millisecond)
				continue
			case mayHaveCommitted(err), errors.Is(err, syncclient.ErrClosed), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
				// In flight when the connection ended: applied or not.
				l.ledger.unsure(marker)
				drop()
			default:
				l.ledger.fail(marker, err)
			}
			break
		}
		sleep(ctx, l.pause)
	}
}

func (l *load) sqlWriter(ctx context.Context, e *env) {
	for seq := 0; ctx.Err() == nil; seq++ {
		marker := fmt.Sprintf("%s-sql-%d", l.prefix, seq)
		l.enter(ctx)
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := e.db.Exec(ictx, insertSQL, schema.NewID("msgchaos"), schema.DemoConversationID, schema.DemoStaffID, marker)
		l.leave()
		cancel()
		if err == nil {
			l.ledger.ack(marker)
			sleep(ctx, l.pause)
			continue
		}
		// The commit may or may not have happened (the connection broke,
		// or the database is down): at most once.
		l.ledger.unsure(marker)
		sleep(ctx, 200*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// audit counts every marker of the load in the database.
type audit struct {
	acked, unknown, retries, lost, duplicated int
	lostExamples, dupExamples                 []string
	failures, proto                           []string
}

func (l *load) audit(t *testing.T, e *env) audit {
	t.Helper()
	counts := map[string]int{}
	err := poll(60*time.Second, func() error {
		rows, err := e.db.Query(t.Context(), `SELECT content, count(*) FROM messages WHERE content LIKE $1 || '-%' GROUP BY content`, l.prefix)
		if err != nil {
			return err
		}
		defer rows.Close()
		clear(counts)
		for rows.Next() {
			var c string
			var n int
			if err := rows.Scan(&c, &n); err != nil {
				return err
			}
			counts[c] = n
		}
		return rows.Err()
	})
	require.NoError(t, err)
	l.ledger.mu.Lock()
	defer l.ledger.mu.Unlock()
	a := audit{acked: len(l.ledger.acked), unknown: len(l.ledger.unknown), retries: l.ledger.retries, failures: l.ledger.failures, proto: l.ledger.proto}
	for m := range l.ledger.acked {
		if counts[m] == 0 {
			a.lost++
			a.lostExamples = append(a.lostExamples, m)
		}
	}
	for m, n := range counts {
		if n > 1 {
			a.duplicated++
			how := ""
			if k := l.ledger.retried[m]; k > 0 {
				how = fmt.Sprintf(", sent again %d× after unavailable", k)
			}
			if l.ledger.acked[m] {
				how += ", acknowledged"
			}
			a.dupExamples = append(a.dupExamples, fmt.Sprintf("%s ×%d%s", m, n, how))
		}
	}
	sort.Strings(a.lostExamples)
	sort.Strings(a.dupExamples)
	return a
}

// subscriber is anything holding a live getMessages result.
type subscriber interface {
	name() string
	args() map[string]any
	latest() (json.RawMessage, error)
}

// goSub is a Go subscriber over internal/syncclient that reconnects (a new
// session, and the subscription again) whenever its connection ends.
type goSub struct {
	label, url, token string
	queryArgs         map[string]any
	backoff           time.Duration

	mu         sync.Mutex
	sub        *syncclient.Subscription
	connects   int
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	firstReady chan struct{}
	readyOnce  sync.Once
	protoErrs  []string // protocol violations its clients saw, first few
}

// startGoSub starts a subscriber; backoff is its reconnect backoff (zero:
// 200 ms), set before its goroutine reads it.
func startGoSub(t *testing.T, e *env, label string, limit int, backoff time.Duration) *goSub {
	ctx, cancel := context.WithCancel(context.Background())
	g := &goSub{label: label, url: e.url, token: e.john, cancel: cancel, backoff: cmp.Or(backoff, 200*time.Millisecond),
		queryArgs:  map[string]any{"conversationId": schema.DemoConversationID, "limit": limit},
		firstReady: make(chan struct{})}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.run(ctx)
	}()
	t.Cleanup(g.stop)
	return g
}

func (g *goSub) stop() { g.cancel(); g.wg.Wait() }

func (g *goSub) run(ctx context.Context) {
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		c, err := syncclient.Dial(dctx, g.url, syncclient.Options{Token: g.token})
		cancel()
		if err != nil {
			sleep(ctx, g.backoff)
			continue
		}
		sub, err := c.Subscribe("shared/chat:getMessages", g.queryArgs)
		if err == nil {
			g.mu.Lock()
			g.sub = sub
			g.connects++
			g.mu.Unlock()
			if _, werr := sub.Wait(ctx); werr == nil {
				g.readyOnce.Do(func() { close(g.firstReady) })
			}
			select {
			case <-ctx.Done():
			case <-c.Done():
			}
		}
		c.Close()
		g.mu.Lock()
		g.sub = nil
		g.protoErrs = appendProto(g.protoErrs, c)
		g.mu.Unlock()
		sleep(ctx, g.backoff)
	}
}

func (g *goSub) name() string         { return g.label }
func (g *goSub) args() map[string]any { return g.queryArgs }

func (g *goSub) latest() (json.RawMessage, error) {
	g.mu.Lock()
	sub := g.sub
	g.mu.Unlock()
	if sub == nil {
		return nil, errors.New("not connected")
	}
	v, errData, ok := sub.Latest()
	if !ok {
		return nil, errors.New("no result yet")
	}
	if errData != nil {
		return nil, fmt.Errorf("query failed: %v", errData)
	}
	return v, nil
}

// protocolErrors returns the violations of the protocol its connections
// saw, the live one included.
func (g *goSub) protocolErrors() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.protoErrs
}

// appendProto adds c's protocol violations to list, keeping the first few.
func appendProto(list []string, c *syncclient.Client) []string {
	for _, err := range c.ProtocolErrors() {
		if len(list) < 5 {
			list = append(list, err.Error())
		}
	}
	return list
}

func (g *goSub) reconnects() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.connects - 1
}

// nodeSub is the official convex client (node/subscriber.mjs) subscribed
// to getMessages; it reconnects by itself.
type nodeSub struct {
	queryArgs map[string]any
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	lines     chan string
	done      chan struct{}
	mu        sync.Mutex // one dump at a time
}

func startNodeSub(t *testing.T, e *env, limit int) *nodeSub {
	t.Helper()
	nodeBin, err := exec.LookPath("node")
	require.NoError(t, err, "node is not on PATH: install Node.js 20 or newer (make test installs the rest)")
	pkgDir, err := filepath.Abs("../../e2e/node")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(pkgDir, "node_modules", "convex", "package.json"))
	require.NoError(t, err, "the convex npm package is not installed in e2e/node: run `make test` or scripts/ensure-deps.sh")
	script, err := filepath.Abs("node/subscriber.mjs")
	require.NoError(t, err)
	cmd := exec.Command(nodeBin, script)
	cmd.Env = append(os.Environ(), "PARLEY_URL="+e.url, "PARLEY_TOKEN="+e.john,
		"PARLEY_CONVERSATION="+schema.DemoConversationID, fmt.Sprintf("PARLEY_LIMIT=%d", limit),
		"CONVEX_PACKAGE_DIR="+pkgDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	n := &nodeSub{queryArgs: map[string]any{"conversationId": schema.DemoConversationID, "limit": limit},
		cmd: cmd, stdin: stdin, lines: make(chan string, 16), done: make(chan struct{})}
	go func() { // owned: ends when node exits; the cleanup waits for done
		defer close(n.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			n.lines <- sc.Text()
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-n.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		for { // drain, so that the scanner can reach the end
			select {
			case <-n.lines:
				continue
			case <-n.done:
			}
			break
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("node subscriber stderr:\n%s", stderr.String())
		}
	})
	select {
	case l := <-n.lines:
		require.Contains(t, l, `"ready":true`)
	case <-n.done:
		t.Fatalf("node subscriber exited: %s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("node subscriber did not start")
	}
	return n
}

func (n *nodeSub) name() string         { return "convex client" }
func (n *nodeSub) args() map[string]any { return n.queryArgs }

func (n *nodeSub) latest() (json.RawMessage, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.stdin.Write([]byte("dump\n")); err != nil {
		return nil, err
	}
	select {
	case l := <-n.lines:
		var d struct {
			Value   json.RawMessage `json:"value"`
			Updates int             `json:"updates"`
			Error   *string         `json:"error"`
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			return nil, err
		}
		if d.Updates == 0 {
			return nil, errors.New("no result yet")
		}
		return d.Value, nil
	case <-n.done:
		return nil, errors.New("node subscriber exited")
	case <-time.After(10 * time.Second):
		return nil, errors.New("node subscriber did not answer")
	}
}

// query is a fresh one-shot query over HTTP as John.
func query(e *env, args map[string]any) (json.RawMessage, error) {
	var v json.RawMessage
	err := httpCall(e, e.john, "query", "shared/chat:getMessages", args, &v)
	return v, err
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// converge waits until every subscriber holds what a fresh query returns
// and reports those that never do.
func converge(e *env, subs []subscriber, timeout time.Duration) []string {
	pending := subs
	deadline := time.Now().Add(timeout)
	var why map[string]string
	for {
		fresh := map[string]json.RawMessage{}
		why = map[string]string{}
		var next []subscriber
		for _, s := range pending {
			key := fmt.Sprint(s.args())
			want, ok := fresh[key]
			if !ok {
				var err error
				if want, err = query(e, s.args()); err != nil {
					why[s.name()] = "fresh query: " + err.Error()
					next = append(next, s)
					continue
				}
				fresh[key] = want
			}
			got, err := s.latest()
			switch {
			case err != nil:
				why[s.name()] = err.Error()
				next = append(next, s)
			case !sameJSON(got, want):
				why[s.name()] = "differs from a fresh query"
				next = append(next, s)
			}
		}
		pending = next
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	var out []string
	for _, s := range pending {
		out = append(out, s.name()+": "+why[s.name()])
	}
	sort.Strings(out)
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return out
}

// watch polls /healthz until stopped and keeps every state it saw.
type watch struct {
	mu     sync.Mutex
	seen   map[string]int
	cancel context.CancelFunc
	done   chan struct{}
}

func watchHealth(e *env) *watch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watch{seen: map[string]int{}, cancel: cancel, done: make(chan struct{})}
	go func() { // owned: stop waits for done
		defer close(w.done)
		for ctx.Err() == nil {
			_, s := e.health()
			w.mu.Lock()
			w.seen[s]++
			w.mu.Unlock()
			sleep(ctx, 100*time.Millisecond)
		}
	}()
	return w
}

// stop ends the watch and returns the states seen other than ok.
func (w *watch) stop() []string {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for s := range w.seen {
		if s != "ok" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// brief shortens a list for the table.
func brief(list []string) string { return strings.Join(list, "; ") }
