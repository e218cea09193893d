package reactive

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's Prometheus metrics.
type Metrics struct {
	reg prometheus.Registerer

	changes         prometheus.Counter
	runs            prometheus.Counter
	unchanged       prometheus.Counter
	batches         prometheus.Counter
	batchSeconds    prometheus.Histogram
	writeToPush     prometheus.Histogram
	mutations       prometheus.Counter
	mutationSeconds prometheus.Histogram
	// mutationDBRetries counts mutations run again because the database
	// could not be reached.
	mutationDBRetries prometheus.Counter
	resets            prometheus.Counter
	resumes           prometheus.Counter
	snapshotRetries   prometheus.Counter
	closedSlow        prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: none).
// Gauges that read the engine are registered when the engine is created.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	latency := []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .025, .05, .1, .25, .5, 1, 2.5}
	m := &Metrics{
		reg:               reg,
		changes:           prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_changes_total", Help: "Row changes received from replication."}),
		runs:              prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_query_runs_total", Help: "Query instance (re-)runs."}),
		unchanged:         prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_query_runs_unchanged_total", Help: "Re-runs whose result hash did not change (nothing sent)."}),
		batches:           prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_batches_total", Help: "Re-run batches."}),
		batchSeconds:      prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_batch_duration_seconds", Help: "Time to re-run one batch.", Buckets: latency}),
		writeToPush:       prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_write_to_push_seconds", Help: "From a transaction's commit to its results being queued to sessions.", Buckets: latency}),
		mutations:         prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_mutations_total", Help: "Mutations run."}),
		mutationSeconds:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_mutation_duration_seconds", Help: "Mutation run time including retries.", Buckets: latency}),
		mutationDBRetries: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_mutation_db_retries_total", Help: "Mutation runs repeated because the database could not be reached."}),
		resets:            prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_replication_resets_total", Help: "Replication (re)starts; each re-runs every live query."}),
		resumes:           prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_replication_resumes_total", Help: "Replication restarts that resumed a permanent slot; only the gap's changes are matched."}),
		snapshotRetries:   prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_snapshot_retries_total", Help: "Snapshots retaken because a replicated commit was not yet visible."}),
		closedSlow:        prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_sessions_closed_slow_total", Help: "Sessions closed because they could not keep up."}),
	}
	if reg != nil {
		reg.MustRegister(m.changes, m.runs, m.unchanged, m.batches, m.batchSeconds, m.writeToPush,
			m.mutations, m.mutationSeconds, m.mutationDBRetries, m.resets, m.resumes, m.snapshotRetries, m.closedSlow)
	}
	return m
}

func (m *Metrics) bind(e *Engine) {
	if m.reg == nil {
		return
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(
		gauge("parley_sessions", "Open sessions.", func() float64 { return float64(e.Stats().Sessions) }),
		gauge("parley_subscriptions", "Subscribed queries across sessions.", func() float64 { return float64(e.Stats().Subscriptions) }),
		gauge("parley_query_instances", "Shared live query instances.", func() float64 { return float64(e.Stats().Instances) }),
		gauge("parley_replication_lag_bytes", "WAL the replication stream has delivered (or confirmed by keepalive) that the engine has not yet applied.", func() float64 { return float64(e.Backlog()) }),
		gauge("parley_applied_lsn", "The WAL position the engine has applied.", func() float64 { return float64(e.Applied()) }),
	)
}
