package events

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"
)

// pruneArgs is the periodic job that deletes events older than Retention
// and the deliveries of the events it deletes.
type pruneArgs struct{}

func (pruneArgs) Kind() string { return "events.prune" }

type pruneWorker struct {
	river.WorkerDefaults[pruneArgs]
	s *Service
}

func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[pruneArgs]) error {
	secs := int64(w.s.cfg.Retention.Seconds())
	tag, err := w.s.cfg.Pool.Exec(ctx, `WITH gone AS (DELETE FROM events WHERE ts < now() - make_interval(secs => $1) RETURNING id)
		DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM gone)`, secs)
	if err != nil {
		return fmt.Errorf("prune events: %w", err)
	}
	if n := tag.RowsAffected(); n > 0 {
		w.s.log.Info("pruned old events' deliveries", slog.Int64("rows", n))
	}
	return nil
}
