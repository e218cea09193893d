package functions_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestAfterCommitRunsOnlyWhatStood: a mutation's AfterCommit functions run
// once it commits, and not when it fails after registering them.
func TestAfterCommitRunsOnlyWhatStood(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDB(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, `CREATE TABLE marks (id int PRIMARY KEY)`)
	require.NoError(t, err)

	r := functions.NewRegistry()
	ran := map[int]int{}
	type args struct {
		ID   int  `json:"id"`
		Fail bool `json:"fail"`
	}
	functions.Mutation(r, "test:mark", func(c *functions.MutationCtx, a args) (functions.Null, error) {
		c.AfterCommit(func() { ran[a.ID]++ })
		if _, err := c.Tx.Exec(c.Ctx, `INSERT INTO marks VALUES ($1)`, a.ID); err != nil {
			return functions.Null{}, err
		}
		if a.Fail {
			return functions.Null{}, errors.New("changed my mind")
		}
		return functions.Null{}, nil
	})
	f, err := r.Lookup("test:mark")
	require.NoError(t, err)
	run := func(raw string) error {
		v, err := f.DecodeArgs([]byte(raw))
		require.NoError(t, err)
		_, err = f.RunMutation(ctx, pool, &functions.Identity{Subject: "u1", Role: functions.RoleAdmin}, v, functions.RequestKey{})
		return err
	}
	require.NoError(t, run(`{"id": 1, "fail": false}`))
	require.EqualError(t, run(`{"id": 2, "fail": true}`), "changed my mind")
	require.Error(t, run(`{"id": 1, "fail": false}`), "a duplicate key: rolled back")
	require.Equal(t, map[int]int{1: 1}, ran, "only the commit ran it, once")
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM marks`).Scan(&n))
	require.Equal(t, 1, n)
}
