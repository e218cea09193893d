package functions_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/pgtest"
)

// TestAdmitAfterHoldsNoConnection: a call its Admit check admits after a
// wait (AdmitAfter) gives its pool connection back meanwhile — with a
// pool of one, another mutation runs while it waits — then runs, once,
// spending its admission once; its wait ends early when its context does.
func TestAdmitAfterHoldsNoConnection(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDB(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, `CREATE TABLE marks (id int PRIMARY KEY)`)
	require.NoError(t, err)

	r := functions.NewRegistry()
	var admitted atomic.Int32
	type args struct {
		ID int `json:"id"`
	}
	mark := func(c *functions.MutationCtx, a args) (functions.Null, error) {
		_, err := c.Tx.Exec(c.Ctx, `INSERT INTO marks VALUES ($1)`, a.ID)
		return functions.Null{}, err
	}
	functions.Mutation(r, "test:waits", mark, functions.Admit(func(*functions.Identity) error {
		admitted.Add(1)
		return functions.AdmitAfter(3 * time.Second)
	}))
	functions.Mutation(r, "test:quick", mark)
	id := &functions.Identity{Subject: "u1", Role: functions.RoleAdmin}
	run := func(ctx context.Context, path, raw string) error {
		f, err := r.Lookup(path)
		require.NoError(t, err)
		v, err := f.DecodeArgs([]byte(raw))
		require.NoError(t, err)
		_, err = f.RunMutation(ctx, pool, id, v, functions.RequestKey{})
		return err
	}

	waited := make(chan error, 1)
	go func() { waited <- run(ctx, "test:waits", `{"id": 1}`) }()
	require.Eventually(t, func() bool { return pool.Stat().AcquiredConns() == 0 && admitted.Load() == 1 }, 2*time.Second, 5*time.Millisecond,
		"the waiting call gave its connection back")
	require.NoError(t, run(ctx, "test:quick", `{"id": 2}`), "runs on the one connection while the other waits")
	select {
	case err := <-waited:
		t.Fatalf("the waiting call ended before the quick one: %v", err)
	default:
	}
	require.NoError(t, <-waited)
	require.EqualValues(t, 1, admitted.Load(), "admitted once")
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM marks`).Scan(&n))
	require.Equal(t, 2, n)

	// A caller gone during the wait: the call ends with its context.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, run(cctx, "test:waits", `{"id": 3}`), context.DeadlineExceeded)
}
