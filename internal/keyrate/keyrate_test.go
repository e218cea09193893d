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

// checkReserve: past the burst a call is granted with a wait while the
// wait is within the allowance, each queued behind the last (the rate
// holds), then refused with the time until a call fits again; a refused
// call takes nothing.
func checkReserve(t *testing.T, l keyrate.Taker) {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	const ms = float64(time.Millisecond)
	for i := range 2 {
		wait, ok := l.Reserve("a", now, time.Second)
		require.True(t, ok, "burst %d", i)
		require.Zero(t, wait, "burst %d", i)
	}
	for i := 1; i <= 4; i++ { // 4 tokens a second: due 250, 500, 750, 1000 ms on
		wait, ok := l.Reserve("a", now, time.Second)
		require.True(t, ok, "queued %d", i)
		require.InDelta(t, float64(i)*250*ms, float64(wait), ms, "queued %d waits for its own token", i)
	}
	wait, ok := l.Reserve("a", now, time.Second)
	require.False(t, ok, "due in 1.25 s: beyond the allowance")
	require.InDelta(t, 250*ms, float64(wait), ms, "in 250 ms a call fits the allowance again")
	require.Positive(t, l.Take("a", now), "Take allows no wait")
	wait, ok = l.Reserve("a", now.Add(250*time.Millisecond), time.Second)
	require.True(t, ok, "the refusals took nothing")
	require.InDelta(t, float64(time.Second), float64(wait), ms)
	wait, ok = l.Reserve("b", now, 0)
	require.True(t, ok)
	require.Zero(t, wait, "each key its own bucket")
}

func TestLimiterReserve(t *testing.T) {
	wait, ok := (*keyrate.Limiter)(nil).Reserve("a", time.Now(), 0)
	require.True(t, ok, "nil allows everything")
	require.Zero(t, wait)
	checkReserve(t, keyrate.New(4, 2))
}
