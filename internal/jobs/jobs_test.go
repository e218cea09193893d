package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/jobs"
	"github.com/parley-chat/parley/internal/pgtest"
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

func TestMain(m *testing.M) { pgtest.Main(m) }

// slowArgs is a job that takes a while and then records that it ran.
type slowArgs struct{ N int }

func (slowArgs) Kind() string { return "test.slow" }

type slowWorker struct {
	river.WorkerDefaults[slowArgs]
	started chan struct{}
	pool    *pgxpool.Pool
}

func (w *slowWorker) Work(ctx context.Context, job *river.Job[slowArgs]) error {
	close(w.started)
	select {
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	_, err := w.pool.Exec(ctx, `INSERT INTO ran VALUES ($1)`, job.Args.N)
	return err
}

// TestStopLetsRunningJobsFinish: the end of Run's context stops the
// queue gracefully: a job already running finishes and is recorded as
// completed (not cancelled, which would run it, and a webhook delivery
// with it, again).
func TestStopLetsRunningJobsFinish(t *testing.T) {
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, pgtest.NewDB(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, jobs.Migrate(ctx, pool))
	_, err = pool.Exec(ctx, `CREATE TABLE ran (n int)`)
	require.NoError(t, err)
	workers := river.NewWorkers()
	w := &slowWorker{started: make(chan struct{}), pool: pool}
	river.AddWorker(workers, w)
	q, err := jobs.New(jobs.Config{Pool: pool, Workers: workers, FetchPollInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(runCtx) }()
	res, err := q.Insert(ctx, slowArgs{N: 7}, nil)
	require.NoError(t, err)
	select {
	case <-w.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the job never started")
	}
	stop()
	require.NoError(t, <-done)
	var state string
	require.NoError(t, pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, res.Job.ID).Scan(&state))
	require.Equal(t, "completed", state)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT n FROM ran`).Scan(&n))
	require.Equal(t, 7, n)
}
