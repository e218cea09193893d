package keyrate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/keyrate"
)

func TestLimiter(t *testing.T) {
	require.Zero(t, (*keyrate.Limiter)(nil).Take("a", time.Now()), "nil allows everything")
	require.Nil(t, keyrate.New(0, 5), "no rate: no limiter")

	l := keyrate.New(1, 2)
	now := time.Unix(1_000_000, 0)
	require.Zero(t, l.Take("a", now))
	require.Zero(t, l.Take("a", now))
	wait := l.Take("a", now)
	require.InDelta(t, float64(time.Second), float64(wait), float64(time.Millisecond), "the third waits for a token")
	require.Zero(t, l.Take("b", now), "each key has its own bucket")
	require.Zero(t, l.Take("a", now.Add(time.Second)), "a refused call took nothing: a second brings one")

	// Idle buckets are forgotten as calls go on.
	for i := range 1100 {
		l.Take(fmt.Sprint("k", i), now)
	}
	later := now.Add(keyrate.IdleAfter + time.Minute)
	for i := range 1100 {
		l.Take(fmt.Sprint("k", i), later)
		if l.Len() < 1100 {
			break
		}
	}
	require.Less(t, l.Len(), 1100)
}
