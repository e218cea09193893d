package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// The measurements of BENCHMARKS.md's "Issue 18: SSE and long-poll",
// against a `parley dev` of their own ($PARLEY_BIN), in a process apart from
// the clients so that its memory is its own:
//
//	PARLEY_BIN=$PWD/bin/parley PARLEY_TRANSPORT_BENCH=1 \
//	  go test -run TestTransportBench -v -count=1 -timeout 30m ./reactive/transport/
//
// PARLEY_TRANSPORT_BENCH_RUNS (default 5) and _WRITES (default 40, per run)
// size the latency part; PARLEY_TRANSPORT_BENCH_IDLE (default 1000) is the
// number of idle sessions per transport in the memory part.

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// devServer is a `parley dev` process.
type devServer struct {
	url, debug, data, bin string
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func startDev(t *testing.T) *devServer {
	bin := os.Getenv("PARLEY_BIN")
	require.NotEmpty(t, bin, "PARLEY_BIN")
	d := &devServer{data: filepath.Join(t.TempDir(), "data"), bin: bin}
	addr, debug := freeAddr(t), freeAddr(t)
	d.url, d.debug = "http://"+addr, "http://"+debug
	cmd := exec.Command(bin, "dev", "--data", d.data, "--addr", addr, "--debug-addr", debug, "--log-level", "warn",
		"--message-rate", "-1", "--typing-rate", "-1")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck
		cmd.Wait()                       //nolint:errcheck
	})
	pgtest.Eventually(t, 120*time.Second, func() error {
		resp, err := http.Get(d.url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %d", resp.StatusCode)
		}
		return nil
	})
	return d
}

func (d *devServer) token(t *testing.T, args ...string) string {
	out, err := exec.Command(d.bin, append([]string{"token", "--data", d.data}, args...)...).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// receiver is one transport's subscriber to the demo conversation's
// messages: it reports when each content first appears.
type receiver struct {
	name string
	mu   sync.Mutex
	seen map[string]time.Time
	// contents is the set of message contents waited for.
	contents map[string]bool
}

func newReceiver(name string) *receiver {
	return &receiver{name: name, seen: map[string]time.Time{}, contents: map[string]bool{}}
}

func (r *receiver) expect(content string) {
	r.mu.Lock()
	r.contents[content] = true
	r.mu.Unlock()
}

// got notes the contents of value received at at.
func (r *receiver) got(value []byte, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.contents {
		if _, ok := r.seen[c]; !ok && bytes.Contains(value, []byte(c)) {
			r.seen[c] = at
		}
	}
}

func (r *receiver) when(content string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.seen[content]
	return at, ok
}

// openReceivers subscribes one receiver per transport as token's caller,
// in the given order.
func openReceivers(t *testing.T, ctx context.Context, wg *sync.WaitGroup, d *devServer, token string, order []string) []*receiver {
	var rs []*receiver
	args := []any{map[string]any{"conversationId": schema.DemoConversationID, "limit": 20}}
	msgs := func() []any {
		return []any{
			map[string]any{"type": "Connect", "sessionId": fmt.Sprintf("bench-%d", time.Now().UnixNano()), "connectionCount": 0},
			map[string]any{"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": token},
			map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []any{
				map[string]any{"type": "Add", "queryId": 0, "udfPath": "shared/chat:getMessages", "args": args}}},
		}
	}
	for _, name := range order {
		r := newReceiver(name)
		rs = append(rs, r)
		switch name {
		case "websocket":
			c, err := syncclient.Dial(ctx, d.url, syncclient.Options{Token: token})
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			sub, err := c.Subscribe("shared/chat:getMessages", args[0])
			require.NoError(t, err)
			wg.Go(func() {
				for {
					select {
					case u := <-sub.Updates():
						r.got(u.Value, u.Received)
					case <-ctx.Done():
						return
					}
				}
			})
		case "sse":
			b, _ := json.Marshal(args[0])
			streamLines(t, ctx, wg, d.url+"/api/sse?path=shared/chat:getMessages&args="+string(b), bearer(token), nil, r)
		case "sse-sync":
			first := make(chan string, 1)
			streamLines(t, ctx, wg, d.url+"/api/1.48.0/sse-sync", nil, first, r)
			var c struct{ Send string }
			require.NoError(t, json.Unmarshal([]byte(<-first), &c))
			postMessages(t, d.url+c.Send, msgs())
		case "poll-sync":
			resp, err := http.Post(d.url+"/api/1.48.0/poll-sync", "text/plain", nil)
			require.NoError(t, err)
			var c struct{ URL string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&c))
			resp.Body.Close()
			postMessages(t, d.url+c.URL, msgs())
			wg.Go(func() {
				var after uint64
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s%s&after=%d", d.url, c.URL, after), nil)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return
					}
					body, err := io.ReadAll(resp.Body)
					at := time.Now()
					resp.Body.Close()
					var a struct{ Last uint64 }
					if err != nil || json.Unmarshal(body, &a) != nil {
						return
					}
					after = a.Last
					r.got(body, at)
				}
			})
		}
	}
	return rs
}

// streamLines reads an event stream: the first event's data goes to first
// (when set), every data line after to r, stamped when read.
func streamLines(t *testing.T, ctx context.Context, wg *sync.WaitGroup, rawURL string, h http.Header, first chan string, r *receiver) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	if h != nil {
		req.Header = h
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	wg.Go(func() {
		defer resp.Body.Close()
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				return
			}
			if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				if first != nil {
					first <- string(data)
					first = nil
					continue
				}
				r.got(data, time.Now())
			}
		}
	})
}

// percentile of sorted ds (p in [0,1]).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func TestTransportBench(t *testing.T) {
	if os.Getenv("PARLEY_TRANSPORT_BENCH") == "" {
		t.Skip("set PARLEY_TRANSPORT_BENCH=1 (and PARLEY_BIN) to measure")
	}
	t.Run("latency", benchLatency)
	t.Run("idle-memory", benchIdleMemory)
}

// benchLatency: each write (sendMessage over the HTTP API, by the store)
// reaches four subscribers of the same query (one shared instance), one per
// transport; write→push is from just before the write's request to the
// moment each subscriber read the result holding it. Each run opens fresh
// subscribers in a rotated order.
func benchLatency(t *testing.T) {
	runs, writes := benchEnv("PARLEY_TRANSPORT_BENCH_RUNS", 5), benchEnv("PARLEY_TRANSPORT_BENCH_WRITES", 40)
	d := startDev(t)
	john := d.token(t, "--sub", schema.DemoCustomerID, "--role", "customer", "--name", "John Doe")
	staff := d.token(t, "--sub", schema.DemoStaffID, "--role", "store", "--store-id", schema.DemoStoreID)
	transports := []string{"websocket", "sse", "sse-sync", "poll-sync"}
	all := map[string][]time.Duration{}
	perRun := map[string][]time.Duration{} // p50 per run
	// delta: per write, the transport's latency minus the WebSocket's.
	delta := map[string][]time.Duration{}
	for run := range runs {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		order := append(slices.Clone(transports[run%len(transports):]), transports[:run%len(transports)]...)
		rs := openReceivers(t, ctx, &wg, d, john, order)
		time.Sleep(500 * time.Millisecond) // every subscriber has its first result
		lat := map[string][]time.Duration{}
		for i := range writes {
			content := fmt.Sprintf("bench r%d w%d %d", run, i, time.Now().UnixNano())
			for _, r := range rs {
				r.expect(content)
			}
			t0 := time.Now()
			sendAs(t, d.url, staff, content)
			pgtest.Eventually(t, 10*time.Second, func() error {
				for _, r := range rs {
					if _, ok := r.when(content); !ok {
						return fmt.Errorf("%s has not seen %q", r.name, content)
					}
				}
				return nil
			})
			var ws time.Time
			for _, r := range rs {
				if r.name == "websocket" {
					ws, _ = r.when(content)
				}
			}
			for _, r := range rs {
				at, _ := r.when(content)
				lat[r.name] = append(lat[r.name], at.Sub(t0))
				delta[r.name] = append(delta[r.name], at.Sub(ws))
			}
			time.Sleep(20 * time.Millisecond)
		}
		for name, ds := range lat {
			slices.Sort(ds)
			perRun[name] = append(perRun[name], percentile(ds, 0.5))
			all[name] = append(all[name], ds...)
		}
		cancel()
		wg.Wait()
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n| transport | writes | p50 ms | p95 ms | p99 ms | max ms | p50 per run (ms) | vs websocket, per write: p50 / p95 ms |\n|---|---|---|---|---|---|---|---|\n")
	for _, name := range transports {
		ds := all[name]
		slices.Sort(ds)
		var runsText []string
		for _, p := range perRun[name] {
			runsText = append(runsText, ms(p))
		}
		dd := delta[name]
		slices.Sort(dd)
		fmt.Fprintf(&out, "| %s | %d | %s | %s | %s | %s | %s | %s / %s |\n", name, len(ds), ms(percentile(ds, 0.5)), ms(percentile(ds, 0.95)),
			ms(percentile(ds, 0.99)), ms(ds[len(ds)-1]), strings.Join(runsText, ", "), ms(percentile(dd, 0.5)), ms(percentile(dd, 0.95)))
	}
	t.Log(out.String())
}

func sendAs(t *testing.T, base, token, content string) {
	body, _ := json.Marshal(map[string]any{"path": "shared/chat:sendMessage",
		"args": map[string]any{"conversationId": schema.DemoConversationID, "content": content, "messageType": "text"}})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/mutation", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
}

// serverMemory is what the server's /metrics says of its memory, after a
// collection (/debug/pprof/heap?gc=1).
type serverMemory struct {
	rss, heap, stack, goroutines float64
}

var metricLine = regexp.MustCompile(`(?m)^(process_resident_memory_bytes|go_memstats_heap_inuse_bytes|go_memstats_stack_inuse_bytes|go_goroutines) (\S+)$`)

func readMemory(t *testing.T, d *devServer) serverMemory {
	for range 2 {
		resp, err := http.Get(d.debug + "/debug/pprof/heap?gc=1")
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
	}
	resp, err := http.Get(d.url + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m serverMemory
	for _, g := range metricLine.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(g[2], 64)
		switch g[1] {
		case "process_resident_memory_bytes":
			m.rss = v
		case "go_memstats_heap_inuse_bytes":
			m.heap = v
		case "go_memstats_stack_inuse_bytes":
			m.stack = v
		case "go_goroutines":
			m.goroutines = v
		}
	}
	return m
}

// benchIdleMemory: N idle sessions of one transport at a time, each
// subscribed to getChatSettings (one shared instance), on a fresh server
// per transport; the server's memory before and after, per session.
func benchIdleMemory(t *testing.T) {
	n := benchEnv("PARLEY_TRANSPORT_BENCH_IDLE", 1000)
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d idle sessions per transport, each subscribed to getChatSettings:\n\n| transport | RSS KiB/session | heap KiB/session | stacks KiB/session | goroutines/session |\n|---|---|---|---|---|\n", n)
	settings := []any{map[string]any{}}
	for _, name := range []string{"websocket", "sse", "sse-sync"} {
		t.Run(name, func(t *testing.T) {
			d := startDev(t)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			tr := &http.Transport{MaxIdleConnsPerHost: -1}
			client := &http.Client{Transport: tr}
			before := readMemory(t, d)
			for range n {
				switch name {
				case "websocket":
					c, err := syncclient.Dial(ctx, d.url, syncclient.Options{})
					require.NoError(t, err)
					t.Cleanup(func() { c.Close() })
					_, err = c.Subscribe("shared/chat:getChatSettings", settings[0])
					require.NoError(t, err)
				case "sse":
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/api/sse?path=shared/chat:getChatSettings", nil)
					resp, err := client.Do(req)
					require.NoError(t, err)
					wg.Go(func() { io.Copy(io.Discard, resp.Body); resp.Body.Close() }) //nolint:errcheck
				case "sse-sync":
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/api/1.48.0/sse-sync", nil)
					resp, err := client.Do(req)
					require.NoError(t, err)
					br := bufio.NewReader(resp.Body)
					var send string
					for send == "" {
						line, err := br.ReadString('\n')
						require.NoError(t, err)
						if data, ok := strings.CutPrefix(line, "data: "); ok {
							var c struct{ Send string }
							require.NoError(t, json.Unmarshal([]byte(data), &c))
							send = c.Send
						}
					}
					wg.Go(func() { io.Copy(io.Discard, br); resp.Body.Close() }) //nolint:errcheck
					b, _ := json.Marshal([]any{
						map[string]any{"type": "Connect", "sessionId": fmt.Sprintf("idle-%d", time.Now().UnixNano()), "connectionCount": 0},
						map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []any{
							map[string]any{"type": "Add", "queryId": 0, "udfPath": "shared/chat:getChatSettings", "args": settings}}}})
					pr, err := client.Post(d.url+send, "text/plain", bytes.NewReader(b))
					require.NoError(t, err)
					pr.Body.Close()
				}
			}
			time.Sleep(2 * time.Second) // the sessions' first results are sent
			after := readMemory(t, d)
			per := func(a, b float64) string { return fmt.Sprintf("%.1f", (b-a)/float64(n)/1024) }
			fmt.Fprintf(&out, "| %s | %s | %s | %s | %.2f |\n", name, per(before.rss, after.rss), per(before.heap, after.heap),
				per(before.stack, after.stack), (after.goroutines-before.goroutines)/float64(n))
		})
	}
	t.Log(out.String())
}
