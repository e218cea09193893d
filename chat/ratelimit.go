package chat

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/keyrate"
)

// DefaultRateLimitWait is Config.RateLimitWait's default: long enough
// for a client's offline queue of a hundred messages to drain at the
// default 5 a second without a refusal (each waits 200 ms behind the
// last), short enough that a flood is refused.
const DefaultRateLimitWait = 5 * time.Second

// userLimiter applies one token-bucket limit per user (keyrate). A nil
// one allows everything.
type userLimiter struct {
	what   string // "messages", "typing updates": for the error message
	lim    keyrate.Taker
	within time.Duration // how long a call may wait for its token
}

// newUserLimiter makes the limit name (in a shared store) with factory
// (nil: keyrate.Memory); a call over it waits up to within (none when
// not positive) for its token.
func newUserLimiter(factory keyrate.Factory, name, what string, perSecond float64, burst int, within time.Duration) *userLimiter {
	if factory == nil {
		factory = keyrate.Memory
	}
	lim := factory(name, perSecond, burst)
	if lim == nil {
		return nil // disabled
	}
	return &userLimiter{what: what, lim: lim, within: max(within, 0)}
}

// allow takes one token for user: nil, or functions.AdmitAfter the wait
// for a token due within l.within, or a 429 error saying when to retry.
// A nil limiter allows everything.
func (l *userLimiter) allow(user string, now time.Time) error {
	if l == nil {
		return nil
	}
	d, ok := l.lim.Reserve(user, now, l.within)
	if ok && d > 0 {
		return functions.AdmitAfter(d)
	}
	if !ok {
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
