// Package pgtickets is a transport.TicketStore in Postgres (table
// transport_tickets, migration 0030): the single-use tickets of POST
// /api/tickets, shared by every node of one database, so that a ticket
// bought from one node is good on any, once.
//
// Only a ticket's SHA-256 is stored, never the ticket, with the identity
// its token proved (JSON, and the token's exp beside it) and its expiry.
// Redeem is one UPDATE … WHERE used_at IS NULL … RETURNING: of any number
// of nodes redeeming one ticket at once, the row's lock lets one through.
// A used ticket's row stays (used_at set) until the sweep, so that its
// reuse is told apart from a forgery, as the in-memory store does; Run
// deletes rows past their expiry by Retention.
//
// Nodes compare expiries with their own clocks: they must agree (NTP).
//
// # Concurrency model
//
// A Store is safe for concurrent use. Run is one goroutine sweeping every
// SweepInterval until its context is done; every node may run it (the
// DELETE is idempotent).
package pgtickets

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/sweep"
	"github.com/parley-chat/parley/reactive/transport"
)

// Defaults of Config.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultRetention     = time.Minute
	DefaultSweepInterval = time.Minute
)

// Config tunes a Store.
type Config struct {
	// Timeout bounds one Issue or Redeem. Zero means DefaultTimeout.
	Timeout time.Duration
	// Retention is how long past its expiry a ticket's row is kept (so a
	// reuse is answered "already used"). Zero means DefaultRetention
	// (transport's default ticket lifetime).
	Retention time.Duration
	// SweepInterval is how often Run deletes old rows. Zero means
	// DefaultSweepInterval.
	SweepInterval time.Duration
	// Logger receives failed sweeps. Nil means discard.
	Logger *slog.Logger
}

// Store keeps tickets in pool's transport_tickets table. Safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
	cfg  Config
}

var _ transport.TicketStore = (*Store)(nil)

// New returns the store of pool's database.
func New(pool *pgxpool.Pool, cfg Config) *Store {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, cfg: cfg}
}

// userKey is whose outstanding tickets id's count: its user in its org
// (length-prefixed: no two users share one).
func userKey(id *functions.Identity) string {
	return strconv.Itoa(len(id.Org)) + ":" + id.Org + ":" + id.Subject
}

// issueSQL inserts a ticket unless its user has $7 outstanding at $6.
// Two nodes issuing at once may both pass the count: the bound is one
// user's, against filling the table, and may be passed by the racers.
const issueSQL = `INSERT INTO transport_tickets (hash, user_key, identity, token_expires_at, expires_at)
	SELECT $1, $2, $3, $4, $5
	WHERE (SELECT count(*) FROM (SELECT 1 FROM transport_tickets
		WHERE user_key = $2 AND used_at IS NULL AND expires_at > $6 LIMIT $7) outstanding) < $7`

// Issue implements transport.TicketStore.
func (s *Store) Issue(ctx context.Context, hash [32]byte, id *functions.Identity, expires, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	body, err := json.Marshal(id)
	if err != nil {
		return fmt.Errorf("pgtickets: issue: %w", err)
	}
	var tokenExp *time.Time
	if !id.ExpiresAt.IsZero() {
		tokenExp = &id.ExpiresAt
	}
	tag, err := s.pool.Exec(ctx, issueSQL, hash[:], userKey(id), body, tokenExp, expires, now, transport.MaxUserTickets)
	if err != nil {
		return fmt.Errorf("pgtickets: issue: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return transport.ErrUserTickets
	}
	return nil
}

// redeemSQL marks the ticket used if it is neither used nor expired at $2,
// returning its identity; beside it, the row as the statement's snapshot
// had it, which says why nothing was returned. A row the snapshot shows
// usable that the UPDATE did not take was used by a concurrent redeem
// (the UPDATE waited for its lock and saw used_at set).
const redeemSQL = `WITH used AS (
		UPDATE transport_tickets SET used_at = $2
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING identity, token_expires_at)
	SELECT used.identity, used.token_expires_at, t.hash IS NOT NULL, t.used_at IS NOT NULL, t.expires_at > $2
	FROM (SELECT 1) one
		LEFT JOIN used ON true
		LEFT JOIN transport_tickets t ON t.hash = $1`

// Redeem implements transport.TicketStore.
func (s *Store) Redeem(ctx context.Context, hash [32]byte, now time.Time) (*functions.Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var body []byte
	var tokenExp *time.Time
	var found, used, live *bool
	if err := s.pool.QueryRow(ctx, redeemSQL, hash[:], now).Scan(&body, &tokenExp, &found, &used, &live); err != nil {
		return nil, fmt.Errorf("pgtickets: redeem: %w", err)
	}
	switch {
	case body != nil:
	case found == nil || !*found:
		return nil, transport.ErrTicketUnknown
	case used != nil && *used:
		return nil, transport.ErrTicketUsed
	case live == nil || !*live:
		return nil, transport.ErrTicketExpired
	default:
		return nil, transport.ErrTicketUsed // by a concurrent redeem
	}
	var id functions.Identity
	if err := json.Unmarshal(body, &id); err != nil {
		return nil, fmt.Errorf("pgtickets: redeem: %w", err)
	}
	if tokenExp != nil {
		id.ExpiresAt = *tokenExp
	}
	return &id, nil
}

// Sweep deletes the tickets expired for more than Retention at now and
// returns how many.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM transport_tickets WHERE expires_at < $1`, now.Add(-s.cfg.Retention))
	if err != nil {
		return 0, fmt.Errorf("pgtickets: sweep: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Run sweeps every SweepInterval until ctx is done; it returns nil then.
func (s *Store) Run(ctx context.Context) error {
	return sweep.Every(ctx, s.cfg.SweepInterval, s.cfg.Logger, "sweep tickets", s.Sweep)
}
