package server

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/internal/keyrate"
	"github.com/parley-chat/parley/internal/pgtickets"
	"github.com/parley-chat/parley/media"
)

// sharedState is what Config.SharedState keeps in Postgres and sweeps.
type sharedState struct {
	limits  *keyrate.PG
	tickets *pgtickets.Store
}

// useSharedState points cfg's rate limits, tickets and media store (those
// not set) at pool (Config.SharedState).
func useSharedState(cfg *Config, pool *pgxpool.Pool, log *slog.Logger) (*sharedState, error) {
	sh := &sharedState{limits: keyrate.NewPG(pool, keyrate.PGConfig{Logger: log}),
		tickets: pgtickets.New(pool, pgtickets.Config{Retention: cfg.TicketTTL, Logger: log})}
	for _, f := range []*keyrate.Factory{&cfg.Chat.RateLimits, &cfg.Support.RateLimits, &cfg.Guests.RateLimits} {
		if *f == nil {
			*f = sh.limits.Limiter
		}
	}
	if cfg.Media.Store == nil {
		st, err := media.NewPGStore(pool)
		if err != nil {
			return nil, err
		}
		cfg.Media.Store = st
	}
	return sh, nil
}
