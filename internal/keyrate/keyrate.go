// Package keyrate is one token bucket per key: a user, a client address.
// A Limiter keeps them in this process's memory (golang.org/x/time/rate);
// buckets unused for IdleAfter are forgotten, so memory follows the active
// keys. A PG keeps them in Postgres (table rate_limits), so that every
// process on one database shares each key's budget; it fails open when
// the database does not answer. Both are a Taker, and made by a Factory
// (Memory, PG.Limiter) where a package takes its limits' configuration.
package keyrate

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// IdleAfter is how long an unused bucket is kept; by then it is full again
// for any limit of a token per 10 minutes or more often.
const IdleAfter = 10 * time.Minute

// Limiter applies one limit per key. Safe for concurrent use; a nil
// Limiter allows everything.
type Limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	calls   int
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter of perSecond tokens a second and burst (at least
// 1) per key, or nil (no limit) when perSecond is not positive.
func New(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{limit: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*bucket{}}
}

// Take takes a token for key at now, or returns how long until one is
// there (taking nothing).
func (l *Limiter) Take(key string, now time.Time) time.Duration {
	if wait, ok := l.Reserve(key, now, 0); !ok {
		return wait
	}
	return 0
}

// Reserve takes a token for key that may be due as late as now+within:
// granted, it returns how long until the token is due (the caller waits
// that long; later calls queue behind it, so the rate holds); refused,
// it takes nothing and returns how long until a call would be granted.
func (l *Limiter) Reserve(key string, now time.Time, within time.Duration) (time.Duration, bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls++; l.calls%1024 == 0 {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > IdleAfter {
				delete(l.buckets, k)
			}
		}
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d > within {
		r.CancelAt(now)
		return d - within, false
	}
	return d, true
}

// Len is how many keys have a bucket (for tests).
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
