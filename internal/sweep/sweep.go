// Package sweep runs a periodic cleanup (a DELETE of expired rows) until
// its context ends.
package sweep

import (
	"context"
	"log/slog"
	"time"
)

// Every calls f every interval, each call bounded by interval, until ctx
// is done; it returns nil then. A failure is logged as what and the next
// tick tries again.
func Every(ctx context.Context, interval time.Duration, log *slog.Logger, what string, f func(ctx context.Context, now time.Time) (int64, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fctx, cancel := context.WithTimeout(ctx, interval)
		_, err := f(fctx, time.Now())
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Warn(what, slog.Any("error", err))
		}
	}
}
