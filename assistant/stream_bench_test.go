package assistant_test

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
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/assistant/llm"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// paced is a model that streams tokens "t0 t1 …" every interval and keeps
// when it sent each.
type paced struct {
	tokens   int
	interval time.Duration
	mu       sync.Mutex
	sent     map[string][]time.Time // by the run's first user message (the conversation's tag)
}

func (p *paced) Stream(ctx context.Context, r llm.Request, chunk func(string) error) (llm.Result, error) {
	tag := r.Messages[len(r.Messages)-1].Content
	times := make([]time.Time, p.tokens)
	p.mu.Lock()
	p.sent[tag] = times
	p.mu.Unlock()
	var text strings.Builder
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for i := range p.tokens {
		select {
		case <-ctx.Done():
			return llm.Result{}, ctx.Err()
		case <-tick.C:
		}
		tok := fmt.Sprintf("t%d ", i)
		p.mu.Lock()
		times[i] = time.Now()
		p.mu.Unlock()
		text.WriteString(tok)
		if err := chunk(tok); err != nil {
			return llm.Result{}, err
		}
	}
	return llm.Result{Text: text.String(), FinishReason: "stop", Usage: llm.Usage{CompletionTokens: p.tokens}}, nil
}

// sentAt is when token i of tag's answer was sent (false: not yet).
func (p *paced) sentAt(tag string, i int) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	times := p.sent[tag]
	if i >= len(times) || times[i].IsZero() {
		return time.Time{}, false
	}
	return times[i], true
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// metric reads a counter of the server's /metrics.
func (e *env) metric(b *testing.B, name string) float64 {
	resp, err := http.Get(e.s.URL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	b.Fatalf("no %s", name)
	return 0
}

// BenchmarkStreamToScreen measures issue 20's streaming: PARLEY_AI_STREAMS
// (1) conversations at once, each with PARLEY_AI_VIEWERS (1) WebSocket
// viewers of its getMessages, each answer PARLEY_AI_TOKENS (100) tokens a
// PARLEY_AI_TOKEN_MS (10) ms apart from a model in the test process. A
// token's latency is from the model handing it over to a viewer's
// client having it in a pushed result. Reports p50/p99 over every token
// and viewer, the process's CPU (server, Postgres clients and viewers;
// Postgres itself is another process) in cores while the streams run,
// and the rows written per answer (messages, conversations, runs, chats).
// b.N is the number of rounds (every stream answers once per round).
//
//	go test -run '^$' -bench StreamToScreen -benchtime 3x ./assistant/
//	PARLEY_AI_VIEWERS=100 go test -run '^$' -bench StreamToScreen -benchtime 3x ./assistant/
//	PARLEY_AI_STREAMS=100 go test -run '^$' -bench StreamToScreen -benchtime 3x ./assistant/
func BenchmarkStreamToScreen(b *testing.B) {
	nStreams, nViewers := envInt("PARLEY_AI_STREAMS", 1), envInt("PARLEY_AI_VIEWERS", 1)
	p := &paced{tokens: envInt("PARLEY_AI_TOKENS", 100), interval: time.Duration(envInt("PARLEY_AI_TOKEN_MS", 10)) * time.Millisecond,
		sent: map[string][]time.Time{}}
	e := newEnv(b, p, func(c *assistant.Config) {
		c.FlushInterval = assistant.DefaultFlushInterval
		c.RunsPerMinute = 1000
	})
	e.configure(assistant.ProviderOpenAI, map[string]any{"budgets": map[string]any{"conversationTokens": 1 << 30}})
	ctx := context.Background()

	type viewer struct {
		seen int // tokens seen so far
	}
	var mu sync.Mutex
	var lat []time.Duration
	convs := make([]string, nStreams)
	customers := make([]functions.Identity, nStreams)
	tags := make([]string, nStreams)
	var round int
	var roundMu sync.Mutex
	var g errgroup.Group
	g.SetLimit(16)
	for s := range nStreams {
		customers[s] = functions.Identity{Subject: fmt.Sprintf("stream-%d", s), Role: functions.RoleCustomer, Name: "Customer"}
		convs[s] = e.support(customers[s], "")
		for v := range nViewers {
			g.Go(func() error {
				who := customers[s]
				if v > 0 {
					who = admin
				}
				c := e.s.Dial(b, who, syncclientOpts())
				sub, err := c.Subscribe("shared/chat:getMessages", map[string]any{"conversationId": convs[s]})
				if err != nil {
					return err
				}
				if _, err := sub.Wait(ctx); err != nil {
					return err
				}
				vw := &viewer{}
				lastMsg := ""
				go func() { // ends when the client closes (cleanup)
					for u := range sub.Updates() {
						now := time.Now()
						var pg chat.MessagePage
						if json.Unmarshal(u.Value, &pg) != nil || len(pg.Messages) == 0 {
							continue
						}
						m := pg.Messages[0]
						if m.SenderType != chat.SenderAssistant {
							continue
						}
						if m.ID != lastMsg {
							lastMsg, vw.seen = m.ID, 0
						}
						n := strings.Count(m.Content, " ")
						roundMu.Lock()
						tag := tags[s]
						roundMu.Unlock()
						for i := vw.seen; i < n && i < p.tokens; i++ {
							at, ok := p.sentAt(tag, i)
							if !ok {
								break // a result of the round before's answer
							}
							mu.Lock()
							lat = append(lat, now.Sub(at))
							mu.Unlock()
							vw.seen = i + 1
						}
					}
				}()
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	runs0 := e.metric(b, "parley_query_runs_total")
	// Every row the rounds write, table by table, from the WAL itself: a
	// slot of its own, decoded by test_decoding.
	if _, err := e.s.DB.Exec(ctx, `SELECT pg_create_logical_replication_slot('bench_writes', 'test_decoding')`); err != nil {
		b.Fatal(err)
	}
	defer e.s.DB.Exec(context.Background(), `SELECT pg_drop_replication_slot('bench_writes')`) //nolint:errcheck
	var busy, wall time.Duration
	b.ResetTimer()
	for range b.N {
		round++
		cpu0, t0 := cpuTime(), time.Now()
		for s := range nStreams {
			tag := fmt.Sprintf("round %d stream %d", round, s)
			roundMu.Lock()
			tags[s] = tag
			roundMu.Unlock()
			e.say(customers[s], convs[s], tag)
		}
		// Every answer written whole.
		deadline := time.Now().Add(2 * time.Minute)
		for s := range nStreams {
			for {
				msgs := e.messages(customers[s], convs[s])
				if len(msgs) > 0 && msgs[0].SenderType == chat.SenderAssistant && !msgs[0].Streaming {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("stream %d did not end", s)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		busy += cpuTime() - cpu0
		wall += time.Since(t0)
	}
	b.StopTimer()
	runs1 := e.metric(b, "parley_query_runs_total")
	writes := map[string]float64{}
	rows, err := e.s.DB.Query(ctx, `SELECT substring(data FROM '^table public\.([a-z_]+): (?:INSERT|UPDATE|DELETE)') AS t, count(*)
		FROM pg_logical_slot_get_changes('bench_writes', NULL, NULL) WHERE data LIKE 'table public.%' GROUP BY 1`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var t string
		var n float64
		if err := rows.Scan(&t, &n); err != nil {
			b.Fatal(err)
		}
		writes[t] = n
	}
	rows.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no token reached a viewer")
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(float64(busy)/float64(wall), "cores")
	answers := float64(b.N * nStreams)
	// The customer's message is one insert into messages and one update
	// of its conversation: not the answer's.
	writes["messages"] -= answers
	writes["conversations"] -= answers
	total := 0.0
	for t, n := range writes {
		if n != 0 {
			b.ReportMetric(n/answers, t+"-writes/answer")
		}
		total += n
	}
	b.ReportMetric(total/answers, "rows-written/answer")
	b.ReportMetric((runs1-runs0)/answers, "query-runs/answer")
	b.ReportMetric(float64(len(lat))/answers, "tokens-seen/answer")
	b.ReportMetric(0, "ns/op")
}
