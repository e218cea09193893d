package keyrate

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/internal/sweep"
)

// Taker takes tokens per key: a *Limiter (this process's buckets) or a
// *Shared (Postgres, one budget for every node). A nil *Limiter or
// *Shared in a Taker allows everything.
type Taker interface {
	// Take takes a token for key at now, or returns how long until one
	// is there (taking nothing).
	Take(key string, now time.Time) time.Duration
	// Reserve takes a token for key that may be due as late as
	// now+within (a leaky bucket with a queue of that length): granted
	// (true), it returns how long until the token is due, which the
	// caller waits; refused, it takes nothing and returns how long until
	// a call would be granted.
	Reserve(key string, now time.Time, within time.Duration) (time.Duration, bool)
}

// Factory makes the Taker of one limit: perSecond tokens a second and
// burst per key. name tells limits apart in a shared store ("chat.messages",
// "guest.tokens"): two limits of one name share their buckets. A
// non-positive perSecond means no limit: a nil Taker.
type Factory func(name string, perSecond float64, burst int) Taker

// Memory is the Factory of in-memory limiters (New): each process keeps
// its own buckets, so N processes grant N times the limit.
func Memory(_ string, perSecond float64, burst int) Taker {
	if l := New(perSecond, burst); l != nil {
		return l
	}
	return nil
}

// Defaults of PGConfig.
const (
	DefaultPGTimeout      = 500 * time.Millisecond
	DefaultSweepInterval  = time.Minute
	pgWarnEvery           = 10 * time.Second
	logKeyErr, logKeyName = "error", "limit"
)

// PGConfig tunes a PG.
type PGConfig struct {
	// Timeout bounds one take's round trip; past it the take is granted
	// (fail open). Zero means DefaultPGTimeout.
	Timeout time.Duration
	// SweepInterval is how often Run deletes idle rows. Zero means
	// DefaultSweepInterval.
	SweepInterval time.Duration
	// Logger receives the warnings of takes that failed open and of
	// failed sweeps. Nil means discard.
	Logger *slog.Logger
}

// PG keeps token buckets in Postgres (table rate_limits, migration
// 0029), so that every node sharing the database shares each key's
// budget: with N nodes the limit stays the configured one. Each take is
// one statement (GCRA: the row holds the key's theoretical arrival time),
// serialized per key by the row's lock. Safe for concurrent use.
//
// Nodes compare the stored times with their own clocks: they must agree
// (NTP), as typing expiry already needs.
type PG struct {
	pool     *pgxpool.Pool
	cfg      PGConfig
	lastWarn atomic.Int64 // unix nanos of the last fail-open warning
}

// NewPG returns buckets in pool's rate_limits table.
func NewPG(pool *pgxpool.Pool, cfg PGConfig) *PG {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultPGTimeout
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &PG{pool: pool, cfg: cfg}
}

// Limiter returns the limit named name of perSecond tokens a second and
// burst (at least 1) per key, or nil (no limit) when perSecond is not
// positive. The method value p.Limiter is a Factory.
func (p *PG) Limiter(name string, perSecond float64, burst int) Taker {
	if perSecond <= 0 {
		return nil
	}
	interval := time.Duration(math.Round(float64(time.Second) / perSecond))
	interval = max(interval, time.Microsecond) // Postgres' resolution
	return &Shared{pg: p, name: name, interval: interval, burst: max(burst, 1)}
}

// Shared is one limit kept in Postgres (PG.Limiter). Safe for concurrent
// use, by any number of processes.
type Shared struct {
	pg       *PG
	name     string
	interval time.Duration // between two tokens: 1/perSecond
	burst    int
}

// takeSQL is one GCRA take: tat' = max(tat, now) + interval, granted when
// tat' − now ≤ allowance (burst·interval, plus the wait Reserve allows;
// then tat' is stored and the token is due at tat' − burst·interval),
// else the row keeps its tat and the wait is tat + interval − allowance
// − now. A missing row is a full bucket. The update runs either way, so
// RETURNING always has the row as this take left it, with ok saying
// which it was: a concurrent take of the same key waits on the row's
// lock and computes from what the first one stored.
const takeSQL = `INSERT INTO rate_limits AS r (name, key, tat, ok)
	VALUES ($1, $2, $3::timestamptz + $4::bigint * interval '1 microsecond', $4::bigint <= $5::bigint)
	ON CONFLICT (name, key) DO UPDATE SET
		tat = CASE WHEN greatest(r.tat, $3) + ($4::bigint - $5::bigint) * interval '1 microsecond' <= $3
			THEN greatest(r.tat, $3) + $4::bigint * interval '1 microsecond' ELSE r.tat END,
		ok = greatest(r.tat, $3) + ($4::bigint - $5::bigint) * interval '1 microsecond' <= $3
	RETURNING tat, ok`

// Take implements Taker. A database error or timeout (PGConfig.Timeout)
// grants the token: a database that is down must not refuse every call,
// nor hold it. Such takes are logged as warnings (at most one every 10s).
func (s *Shared) Take(key string, now time.Time) time.Duration {
	if wait, ok := s.Reserve(key, now, 0); !ok {
		return wait
	}
	return 0
}

// Reserve implements Taker; it fails open as Take does (granted, no wait).
func (s *Shared) Reserve(key string, now time.Time, within time.Duration) (time.Duration, bool) {
	if s == nil {
		return 0, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.pg.cfg.Timeout)
	defer cancel()
	wait, ok, err := s.ReserveContext(ctx, key, now, within)
	if err != nil {
		s.pg.warn(s.name, err)
		return 0, true
	}
	return wait, ok
}

// TakeContext is Take with the caller's context, and its error: it
// does not fail open.
func (s *Shared) TakeContext(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	wait, ok, err := s.ReserveContext(ctx, key, now, 0)
	if err != nil || ok {
		return 0, err
	}
	return wait, nil
}

// ReserveContext is Reserve with the caller's context, and its error:
// it does not fail open.
func (s *Shared) ReserveContext(ctx context.Context, key string, now time.Time, within time.Duration) (time.Duration, bool, error) {
	if s == nil {
		return 0, true, nil
	}
	now = now.Truncate(time.Microsecond)
	interval := s.interval.Microseconds()
	window := interval * int64(s.burst) // burst·interval
	allowance := window + max(within, 0).Microseconds()
	var tat time.Time
	var ok bool
	if err := s.pg.pool.QueryRow(ctx, takeSQL, s.name, key, now, interval, allowance).Scan(&tat, &ok); err != nil {
		return 0, false, fmt.Errorf("keyrate: take %s: %w", s.name, err)
	}
	if ok {
		// The token is due once the bucket, burst·interval deep, has
		// room for it: at tat' − burst·interval.
		return max(tat.Add(-time.Duration(window)*time.Microsecond).Sub(now), 0), true, nil
	}
	wait := tat.Add(s.interval - time.Duration(allowance)*time.Microsecond).Sub(now)
	return max(wait, time.Microsecond), false, nil
}

// warn logs a take that failed open, at most once every pgWarnEvery.
func (p *PG) warn(name string, err error) {
	now := time.Now().UnixNano()
	last := p.lastWarn.Load()
	if now-last < int64(pgWarnEvery) || !p.lastWarn.CompareAndSwap(last, now) {
		return
	}
	p.cfg.Logger.Warn("rate limit unavailable: granting calls until the database answers",
		slog.String(logKeyName, name), slog.Any(logKeyErr, err))
}

// sweepMargin is how long past its tat a row is kept: a sweeping node
// whose clock runs ahead of the others' by less deletes no bucket that is
// not full for them.
const sweepMargin = time.Minute

// Sweep deletes the rows whose bucket has been full again for
// sweepMargin at now (tat past): a missing row is a full bucket, so
// nothing changes for their keys. It returns how many it deleted.
func (p *PG) Sweep(ctx context.Context, now time.Time) (int64, error) {
	tag, err := p.pool.Exec(ctx, `DELETE FROM rate_limits WHERE tat < $1`, now.Add(-sweepMargin))
	if err != nil {
		return 0, fmt.Errorf("keyrate: sweep: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Run sweeps idle rows every SweepInterval until ctx is done; it returns
// nil then. Every node may run it: the DELETE is idempotent.
func (p *PG) Run(ctx context.Context) error {
	return sweep.Every(ctx, p.cfg.SweepInterval, p.cfg.Logger, "sweep rate limits", p.Sweep)
}
