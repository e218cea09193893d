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
	open    *prometheus.GaugeVec
	opened  *prometheus.CounterVec
	refused *prometheus.CounterVec
}

// Why a session was refused, as parley_transport_refused_total labels it.
const (
	refusedConnectTimeout = "connect_timeout" // no Connect within Config.ConnectTimeout
	refusedInvalidUTF8    = "invalid_utf8"    // a WebSocket text frame that is not UTF-8 (1007)
	refusedTooBig         = "message_too_big" // a client message over Config.MaxMessageBytes (1009)
	refusedIPSessions     = "ip_sessions"     // its address holds Config.MaxSessionsPerIP sessions (429)
	refusedUserSessions   = "user_sessions"   // its user holds Config.MaxSessionsPerUser sessions (FatalError)
)

// newMetrics makes the metrics and registers them with reg (nil: none).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "parley_transport_sessions",
			Help: "Open sessions per transport (websocket, sse, poll: the sync protocol; sse_subscription, poll_subscription: GET /api/sse, /api/poll)."},
			[]string{"transport"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_transport_sessions_opened_total",
			Help: "Sessions opened per transport."}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_transport_refused_total",
			Help: "Sessions ended by the server over what the client sent, per reason: connect_timeout (no Connect in time), " +
				"invalid_utf8 (a text frame that is not UTF-8), message_too_big (a message over the limit), " +
				"ip_sessions (too many sessions from its address), user_sessions (too many sessions of its user)."}, []string{"reason"}),
	}
	for _, r := range []string{refusedConnectTimeout, refusedInvalidUTF8, refusedTooBig, refusedIPSessions, refusedUserSessions} {
		m.refused.WithLabelValues(r)
	}
	for _, t := range []string{transportWebSocket, transportSSE, transportPoll, transportSubSSE, transportSubPoll} {
		m.open.WithLabelValues(t)
		m.opened.WithLabelValues(t)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.open, m.opened, m.refused} {
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

// sessionRefused counts a session ended over what its client sent.
func (m *metrics) sessionRefused(reason string) { m.refused.WithLabelValues(reason).Inc() }
