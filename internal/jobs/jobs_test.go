package jobs_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/jobs"
)

// TestRescueDelayExceedsEveryTimeout: a rescue delay that a job's own
// timeout could outlast is refused with both figures (such a job would be
// taken for a dead node's and run twice); by default it is the longest
// timeout plus 30s, which river accepts.
func TestRescueDelayExceedsEveryTimeout(t *testing.T) {
	// The pool is never used: New only builds the client.
	pool, err := pgxpool.New(t.Context(), "postgres://nobody@127.0.0.1:1/none")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	cfg := func(rescue, longest time.Duration) jobs.Config {
		return jobs.Config{Pool: pool, Workers: river.NewWorkers(), JobTimeout: 10 * time.Second, LongestJob: longest, RescueAfter: rescue}
	}
	_, err = jobs.New(cfg(15*time.Second, 40*time.Second))
	require.ErrorContains(t, err, "rescue delay (15s) must exceed the longest job timeout (40s)")
	_, err = jobs.New(cfg(5*time.Second, 0))
	require.ErrorContains(t, err, "rescue delay (5s) must exceed the longest job timeout (10s)")
	_, err = jobs.New(cfg(0, 40*time.Second))
	require.NoError(t, err, "the default exceeds it")
	_, err = jobs.New(cfg(41*time.Second, 40*time.Second))
	require.NoError(t, err)
}
