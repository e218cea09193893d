package transport

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// The transports, as the metrics label them.
const (
	transportWebSocket = "websocket" // the sync protocol over WebSocket
	transportSSE       = "sse"       // the sync protocol over an SSE stream and POSTs
	transportPoll      = "poll"      // the sync protocol over long polls and POSTs
	transportSubSSE    = "sse_subscription"
	transportSubPoll   = "poll_subscription"
)

// metrics counts sessions per transport. Safe for concurrent use.
type metrics struct {
	open   *prometheus.GaugeVec
	opened *prometheus.CounterVec
}

// newMetrics makes the metrics and registers them with reg (nil: none).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "parley_transport_sessions",
			Help: "Open sessions per transport (websocket, sse, poll: the sync protocol; sse_subscription, poll_subscription: GET /api/sse, /api/poll)."},
			[]string{"transport"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_transport_sessions_opened_total",
			Help: "Sessions opened per transport."}, []string{"transport"}),
	}
	for _, t := range []string{transportWebSocket, transportSSE, transportPoll, transportSubSSE, transportSubPoll} {
		m.open.WithLabelValues(t)
		m.opened.WithLabelValues(t)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.open, m.opened} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register transport metrics: %w", err)
			}
		}
	}
	return m, nil
}

// sessionOpened counts a session of transport t opening; sessionClosed,
// its end.
func (m *metrics) sessionOpened(t string) {
	m.open.WithLabelValues(t).Inc()
	m.opened.WithLabelValues(t).Inc()
}

func (m *metrics) sessionClosed(t string) { m.open.WithLabelValues(t).Dec() }
