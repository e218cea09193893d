package keyrate_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/keyrate"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/schema"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// twoNodes returns two PGs on one migrated database, each with a pool of
// its own: two nodes.
func twoNodes(t *testing.T) (a, b *keyrate.PG, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDB(t)
	open := func() *pgxpool.Pool {
		p, err := pgxpool.New(ctx, url)
		require.NoError(t, err)
		t.Cleanup(p.Close)
		return p
	}
	pa := open()
	_, err := schema.Migrate(ctx, pa)
	require.NoError(t, err)
	cfg := keyrate.PGConfig{Timeout: 5 * time.Second} // the race detector is slow
	return keyrate.NewPG(pa, cfg), keyrate.NewPG(open(), cfg), pa
}

// TestSharedBudget: two nodes' limiters of one name share each key's
// bucket: the burst across both, then refusals with the wait for the
// next token, a refill over time, and keys and names apart.
func TestSharedBudget(t *testing.T) {
	a, b, pool := twoNodes(t)
	require.Nil(t, a.Limiter("x", 0, 5), "no rate: no limiter")
	la, lb := a.Limiter("chat.messages", 2, 5), b.Limiter("chat.messages", 2, 5)
	now := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		require.Zero(t, l.Take("alice", now), "take %d of the burst", i)
	}
	for _, l := range []keyrate.Taker{la, lb} {
		wait := l.Take("alice", now)
		require.InDelta(t, float64(500*time.Millisecond), float64(wait), float64(time.Millisecond), "both nodes refuse: next token in 1/rate")
	}
	wait := lb.Take("alice", now.Add(200*time.Millisecond))
	require.InDelta(t, float64(300*time.Millisecond), float64(wait), float64(time.Millisecond), "the wait shrinks as time passes")

	require.Zero(t, lb.Take("bob", now), "each key has its own bucket")
	require.Zero(t, a.Limiter("chat.typing", 2, 5).Take("alice", now), "each name has its own bucket")

	// Refill: a token per 500ms, taken on either node, at most the burst.
	require.Zero(t, lb.Take("alice", now.Add(500*time.Millisecond)))
	require.Positive(t, la.Take("alice", now.Add(500*time.Millisecond)), "one token came, and was taken")
	later := now.Add(time.Minute)
	for i := range 5 {
		require.Zero(t, la.Take("alice", later), "full again after a minute: take %d", i)
	}
	require.Positive(t, lb.Take("alice", later), "never more than the burst")

	// The sweep deletes only buckets that have been full again for a
	// minute: a swept key's budget is what it was.
	var rows int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM rate_limits`).Scan(&rows))
	require.Equal(t, 3, rows)
	n, err := a.Sweep(context.Background(), later.Add(time.Minute))
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "bob's and chat.typing's buckets were full again; alice's is not")
	require.Positive(t, lb.Take("alice", later), "alice's empty bucket survived the sweep")
	n, err = a.Sweep(context.Background(), later.Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

// TestSharedConcurrent: many goroutines on two nodes, taking at once, are
// granted the burst and the refill, never more.
func TestSharedConcurrent(t *testing.T) {
	a, b, _ := twoNodes(t)
	const rate, burst = 50.0, 20
	la, lb := a.Limiter("load", rate, burst), b.Limiter("load", rate, burst)
	start := time.Now()
	var granted atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		l := la
		if g%2 == 1 {
			l = lb
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if l.Take("hot", time.Now()) == 0 {
					granted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	limit := int64(burst) + int64(rate*elapsed.Seconds()) + 1
	t.Logf("granted %d of 400 in %s (limit %d)", granted.Load(), elapsed, limit)
	require.LessOrEqual(t, granted.Load(), limit, "two nodes grant one budget")
	require.GreaterOrEqual(t, granted.Load(), int64(burst), "the burst is granted")
}

// TestSharedRealClock: with real time the budget refills.
func TestSharedRealClock(t *testing.T) {
	a, b, _ := twoNodes(t)
	la, lb := a.Limiter("clock", 20, 1), b.Limiter("clock", 20, 1)
	require.Zero(t, la.Take("k", time.Now()))
	wait := lb.Take("k", time.Now())
	require.Positive(t, wait)
	require.LessOrEqual(t, wait, 50*time.Millisecond)
	time.Sleep(wait)
	require.Zero(t, lb.Take("k", time.Now()), "refilled after the wait it gave")
}

// TestSharedFailsOpen: a database that does not answer grants every take
// (after at most the timeout) and logs it.
func TestSharedFailsOpen(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDB(t))
	require.NoError(t, err)
	pool.Close() // every query fails now
	pg := keyrate.NewPG(pool, keyrate.PGConfig{Timeout: 100 * time.Millisecond})
	l := pg.Limiter("closed", 1, 1)
	for i := range 3 {
		start := time.Now()
		require.Zero(t, l.Take("k", time.Now()), "take %d granted", i)
		require.Less(t, time.Since(start), time.Second)
	}
	_, err = l.(*keyrate.Shared).TakeContext(ctx, "k", time.Now())
	require.Error(t, err, "TakeContext reports it")
}

// TestMemoryFactory: the in-memory Factory is New.
func TestMemoryFactory(t *testing.T) {
	require.Nil(t, keyrate.Memory("x", -1, 5))
	l := keyrate.Memory("x", 1, 1)
	now := time.Now()
	require.Zero(t, l.Take("k", now))
	require.Positive(t, l.Take("k", now))
	require.Zero(t, l.Take(fmt.Sprint("other"), now))
}

// BenchmarkSharedTake is one take's round trip, over keys that are never
// refused, from parallel goroutines.
func BenchmarkSharedTake(b *testing.B) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDB(b))
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	_, err = schema.Migrate(ctx, pool)
	require.NoError(b, err)
	l := keyrate.NewPG(pool, keyrate.PGConfig{Timeout: 5 * time.Second}).Limiter("bench", 1e6, 1000)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Sprint("k", n.Add(1))
		for pb.Next() {
			if _, err := l.(*keyrate.Shared).TakeContext(ctx, key, time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestSharedReserve: Postgres's buckets queue and refuse as memory's do.
func TestSharedReserve(t *testing.T) {
	a, _, _ := twoNodes(t)
	checkReserve(t, a.Limiter("reserve", 4, 2))
}
