package functions_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// memoQuery registers a query whose answer comes from a memoized
// computation counting its runs: it records a dependency and asks for a
// refresh, and reports whether it saw an identity.
func memoQuery(t *testing.T, compute func(*functions.QueryCtx) (string, error)) *functions.Function {
	t.Helper()
	r := functions.NewRegistry()
	functions.Query(r, "test:memo", func(c *functions.QueryCtx, _ struct{}) (string, error) {
		c.DB.Record(schema.Dep{Table: "own", Column: "id", Value: "1"})
		return functions.Memoized(c, "test/shared", compute)
	})
	f, err := r.Lookup("test:memo")
	require.NoError(t, err)
	return f
}

func runMemo(t *testing.T, ctx context.Context, f *functions.Function) (functions.QueryOutput, error) {
	t.Helper()
	args, err := f.DecodeArgs([]byte(`{}`))
	require.NoError(t, err)
	return f.RunQuery(ctx, nil, &functions.Identity{Subject: "u1", Role: functions.RoleCustomer}, args, time.Unix(100, 0), "")
}

func TestMemoizedComputesOncePerMemoAndRecordsForEveryCaller(t *testing.T) {
	var runs atomic.Int32
	refresh := time.Unix(200, 0)
	f := memoQuery(t, func(c *functions.QueryCtx) (string, error) {
		runs.Add(1)
		c.DB.Record(schema.Dep{Table: "shared", Column: "org_id", Value: "o1"})
		c.RefreshAt(refresh)
		if c.Identity() != nil {
			return "", errors.New("a shared computation saw the caller")
		}
		return "value at " + c.Now().UTC().Format(time.TimeOnly), nil
	})
	want := []schema.Dep{{Table: "own", Column: "id", Value: "1"}, {Table: "shared", Column: "org_id", Value: "o1"}}

	ctx := functions.WithMemo(context.Background(), functions.NewMemo())
	for range 3 {
		out, err := runMemo(t, ctx, f)
		require.NoError(t, err)
		require.Equal(t, "value at 00:01:40", out.Value)
		require.ElementsMatch(t, want, out.Deps.List(), "the shared computation's reads are every caller's")
		require.Equal(t, refresh, out.RefreshAt)
	}
	require.EqualValues(t, 1, runs.Load(), "one memo, one computation")

	// Without a memo (a one-off HTTP query) each run computes.
	for range 2 {
		out, err := runMemo(t, context.Background(), f)
		require.NoError(t, err)
		require.ElementsMatch(t, want, out.Deps.List())
	}
	require.EqualValues(t, 3, runs.Load())

	// A new memo (the next batch's snapshot) computes again.
	_, err := runMemo(t, functions.WithMemo(context.Background(), functions.NewMemo()), f)
	require.NoError(t, err)
	require.EqualValues(t, 4, runs.Load())
}

func TestMemoizedKeepsNoFailure(t *testing.T) {
	var runs atomic.Int32
	f := memoQuery(t, func(c *functions.QueryCtx) (string, error) {
		c.DB.Record(schema.Dep{Table: "shared", Column: "org_id", Value: "o1"})
		if runs.Add(1) == 1 {
			return "", errors.New("connection lost")
		}
		return "ok", nil
	})
	ctx := functions.WithMemo(context.Background(), functions.NewMemo())
	out, err := runMemo(t, ctx, f)
	require.EqualError(t, err, "connection lost")
	require.Len(t, out.Deps.List(), 2, "a failed run still depends on what it read")
	for range 2 {
		out, err := runMemo(t, ctx, f)
		require.NoError(t, err)
		require.Equal(t, "ok", out.Value)
	}
	require.EqualValues(t, 2, runs.Load(), "the failure was computed again, the success kept")
}

func TestMemoizedSharesAcrossConcurrentRuns(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	f := memoQuery(t, func(c *functions.QueryCtx) (string, error) {
		runs.Add(1)
		<-release
		c.DB.Record(schema.Dep{Table: "shared", Column: "org_id", Value: "o1"})
		return "ok", nil
	})
	ctx := functions.WithMemo(context.Background(), functions.NewMemo())
	var wg sync.WaitGroup
	outs := make([]functions.QueryOutput, 8)
	for i := range outs {
		wg.Go(func() {
			out, err := runMemo(t, ctx, f)
			require.NoError(t, err)
			outs[i] = out
		})
	}
	close(release)
	wg.Wait()
	require.EqualValues(t, 1, runs.Load())
	for _, out := range outs {
		require.Equal(t, "ok", out.Value)
		require.Len(t, out.Deps.List(), 2)
	}

	// A waiter whose context ends stops waiting.
	started, block := make(chan struct{}), make(chan struct{})
	g := memoQuery(t, func(c *functions.QueryCtx) (string, error) { close(started); <-block; return "late", nil })
	mctx := functions.WithMemo(context.Background(), functions.NewMemo())
	first := make(chan error, 1)
	go func() { _, err := runMemo(t, mctx, g); first <- err }()
	<-started
	cctx, cancel := context.WithCancel(mctx)
	cancel()
	_, err := runMemo(t, cctx, g)
	require.ErrorIs(t, err, context.Canceled)
	close(block)
	require.NoError(t, <-first)
}
