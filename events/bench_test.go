package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/events"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

// BenchmarkWebhookLatency measures commit → webhook received with a
// receiver on loopback: each iteration sends one message and waits until
// its event arrives; the clock starts when sendMessage has returned (its
// commit is before). Reports p50 and p99 in ms, and deliveries/s.
//
//	go test -run '^$' -bench WebhookLatency -benchtime 500x ./events/
func BenchmarkWebhookLatency(b *testing.B) {
	env := newEnv(b)
	arrived := make(map[string]time.Time)
	var mu sync.Mutex
	wake := make(chan struct{}, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev events.Envelope
		json.NewDecoder(r.Body).Decode(&ev) //nolint:errcheck
		mu.Lock()
		if ev.MessageID != nil {
			arrived[*ev.MessageID] = time.Now()
		}
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	env.createWebhook(rcv.URL, []string{"message.created"}, nil)
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		msg := env.send(john, schema.DemoConversationID, fmt.Sprintf("bench %d", i))
		t0 := time.Now()
		for {
			mu.Lock()
			at, ok := arrived[msg]
			mu.Unlock()
			if ok {
				lat = append(lat, at.Sub(t0))
				break
			}
			select {
			case <-wake:
			case <-time.After(5 * time.Second):
				b.Fatalf("message %d's event did not arrive", i)
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}

// BenchmarkWebhookThroughput measures how fast queued deliveries drain:
// ten endpoints on one loopback receiver subscribe to message.created and
// four writers send b.N messages while the receiver holds every request
// (so the deliveries queue up behind the workers it holds); then the
// receiver lets them through and the clock runs until all 10·b.N have
// arrived. Reports deliveries/s of the drain and how many were queued.
//
//	go test -run '^$' -bench WebhookThroughput -benchtime 2000x ./events/
func BenchmarkWebhookThroughput(b *testing.B) {
	const endpoints, writers = 10, 4
	env := newEnv(b, func(cfg *server.Config) { cfg.Events.DeliveryTimeout = 10 * time.Minute })
	var mu sync.Mutex
	got := 0
	done, gate := make(chan struct{}), make(chan struct{})
	want := endpoints * b.N
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		mu.Lock()
		got++
		if got == want {
			close(done)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	for i := range endpoints {
		env.createWebhook(fmt.Sprintf("%s/hook/%d", rcv.URL, i), []string{"message.created"}, nil)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < b.N; i += writers {
				// Four writers in one conversation conflict now and then
				// (40001 after the runtime's retries): send again.
				args := map[string]any{"conversationId": schema.DemoConversationID, "content": fmt.Sprintf("burst %d", i), "messageType": "text"}
				for try := 0; ; try++ {
					_, err := env.mutate(john, "shared/chat:sendMessage", args)
					if err == nil {
						break
					}
					if try == 10 {
						b.Errorf("send %d: %v", i, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	var queued int
	if err := env.s.DB.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&queued); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	close(gate)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("%d of %d deliveries after 5 minutes", got, want)
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "deliveries/s")
	b.ReportMetric(float64(queued), "queued")
	b.ReportMetric(0, "ns/op")
}
