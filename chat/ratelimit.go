package chat

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/keyrate"
)

// userLimiter applies one token-bucket limit per user (keyrate). A nil
// one allows everything.
type userLimiter struct {
	what string // "messages", "typing updates": for the error message
	lim  keyrate.Taker
}

// newUserLimiter makes the limit name (in a shared store) with factory
// (nil: keyrate.Memory).
func newUserLimiter(factory keyrate.Factory, name, what string, perSecond float64, burst int) *userLimiter {
	if factory == nil {
		factory = keyrate.Memory
	}
	lim := factory(name, perSecond, burst)
	if lim == nil {
		return nil // disabled
	}
	return &userLimiter{what: what, lim: lim}
}

// allow takes one token for user, or returns a 429 error saying when to
// retry. A nil limiter allows everything.
func (l *userLimiter) allow(user string, now time.Time) error {
	if l == nil {
		return nil
	}
	if d := l.lim.Take(user, now); d > 0 {
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
