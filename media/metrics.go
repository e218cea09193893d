package media

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	uploads        *prometheus.CounterVec
	downloads      *prometheus.CounterVec
	processSeconds prometheus.Histogram
	inFlight       prometheus.Gauge
	removed        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "parley", Subsystem: "media", Name: "uploads_total",
			Help: "Uploads by result: ok, or why they were refused (too_large, corrupt, busy, url, …)."}, []string{"result"}),
		downloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "parley", Subsystem: "media", Name: "downloads_total",
			Help: "Downloads by result: ok, not_found, expired, bad_signature, error."}, []string{"result"}),
		processSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "parley", Subsystem: "media", Name: "process_seconds",
			Help: "Time to validate and compress one image.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "parley", Subsystem: "media", Name: "uploads_in_flight",
			Help: "Uploads admitted and not yet answered."}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "parley", Subsystem: "media", Name: "files_removed_total",
			Help: "Uploaded files removed because they were never attached."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.uploads, m.downloads, m.processSeconds, m.inFlight, m.removed} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("media: register metrics"), err)
		}
	}
	return m, nil
}
