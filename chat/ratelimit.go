package chat

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/functions"
)

// userLimiter applies one token-bucket limit per user. Safe for concurrent
// use. Idle users are forgotten, so memory follows active users.
type userLimiter struct {
	what  string // "messages", "typing updates": for the error message
	limit rate.Limit
	burst int

	mu    sync.Mutex
	users map[string]*userBucket
	calls int
}

type userBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleAfter is how long an unused bucket is kept; by then it is full again.
const idleAfter = 10 * time.Minute

func newUserLimiter(what string, perSecond float64, burst int) *userLimiter {
	if perSecond <= 0 {
		return nil // disabled
	}
	return &userLimiter{what: what, limit: rate.Limit(perSecond), burst: max(burst, 1), users: map[string]*userBucket{}}
}

// allow takes one token for user, or returns a 429 error saying when to
// retry. A nil limiter allows everything.
func (l *userLimiter) allow(user string, now time.Time) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls++; l.calls%1024 == 0 {
		for u, b := range l.users {
			if now.Sub(b.seen) > idleAfter {
				delete(l.users, u)
			}
		}
	}
	b := l.users[user]
	if b == nil {
		b = &userBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.users[user] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		ms := int(math.Ceil(float64(d) / float64(time.Millisecond)))
		wait := fmt.Sprintf("%dms", ms)
		if ms >= 1000 {
			wait = fmt.Sprintf("%.1fs", float64(ms)/1000)
		}
		return &functions.Error{Status: http.StatusTooManyRequests, Code: functions.CodeRateLimited,
			Message: fmt.Sprintf("Too many %s: try again in %s", l.what, wait),
			Data:    map[string]any{"retryAfterMs": ms}}
	}
	return nil
}
