package events_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/events"
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
