package events

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events     *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
	mails      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_events_queued_total", Help: "Domain events queued on mutations' commits, by type (a commit that fails and is retried counts again).",
		}, []string{"type"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_webhook_attempts_total", Help: "Webhook delivery attempts, by result (succeeded, failed, dead, skipped).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_webhook_attempt_seconds", Help: "Time of one webhook delivery attempt, until the response's headers.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		mails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_notification_mails_total", Help: "Notification mails, by kind (message, digest) and outcome (decided, sent, failed, skipped).",
		}, []string{"kind", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.deliveries, m.latency, m.mails)
	}
	return m
}
