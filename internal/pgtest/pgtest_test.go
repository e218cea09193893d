package pgtest_test

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewDB(t *testing.T) {
	ctx := t.Context()
	var name string
	var leftOpen []interface{ Close(context.Context) error }
	t.Cleanup(func() {
		for _, c := range leftOpen {
			_ = c.Close(context.Background())
		}
	})

	t.Run("Odd name: 'quotes' \"and\" spaces", func(t *testing.T) {
		url := pgtest.NewDB(t)
		require.NotEqual(t, url, pgtest.NewDB(t), "each call gets its own database")

		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		leftOpen = append(leftOpen, conn) // left open on purpose: cleanup must cope
		require.NoError(t, conn.QueryRow(ctx, "SELECT current_database()").Scan(&name))
		require.True(t, strings.HasPrefix(name, "pt_"), name)
		var walLevel string
		require.NoError(t, conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel))
		require.Equal(t, "logical", walLevel)
		_, err = conn.Exec(ctx, "CREATE PUBLICATION p FOR ALL TABLES")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SELECT pg_create_logical_replication_slot('idle_slot', 'pgoutput')")
		require.NoError(t, err)

		// An active slot, streaming to a connection the test never closes.
		replURL, err := neturl.Parse(url)
		require.NoError(t, err)
		q := replURL.Query()
		q.Set("replication", "database")
		replURL.RawQuery = q.Encode()
		repl, err := pgconn.Connect(ctx, replURL.String())
		require.NoError(t, err)
		leftOpen = append(leftOpen, repl)
		_, err = pglogrepl.CreateReplicationSlot(ctx, repl, "active_slot", "pgoutput", pglogrepl.CreateReplicationSlotOptions{})
		require.NoError(t, err)
		err = pglogrepl.StartReplication(ctx, repl, "active_slot", 0, pglogrepl.StartReplicationOptions{
			PluginArgs: []string{"proto_version '1'", "publication_names 'p'"},
		})
		require.NoError(t, err)
		pgtest.Eventually(t, 10*time.Second, func() error {
			var active int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE active AND database = $1", name).Scan(&active); err != nil {
				return err
			}
			if active != 1 {
				return fmt.Errorf("%d active slots, want 1", active)
			}
			return nil
		})
	})
	require.NotEmpty(t, name)

	// The subtest's cleanup has run: its database and slots are gone.
	conn, err := pgx.Connect(ctx, pgtest.NewDB(t))
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var dbs, slots int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&dbs))
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE database = $1", name).Scan(&slots))
	require.Zero(t, dbs)
	require.Zero(t, slots)
}

// fakeTB records Fatalf and ends the goroutine, as testing.T does.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventually(t *testing.T) {
	tests := []struct {
		name      string
		failUntil int // f fails on calls before this one
		timeout   time.Duration
		wantFatal string
	}{
		{name: "at once", failUntil: 1, timeout: time.Second},
		{name: "after retries", failUntil: 4, timeout: 10 * time.Second},
		{name: "zero timeout still calls f", failUntil: 1, timeout: 0},
		{name: "times out with last error", failUntil: 1 << 30, timeout: 50 * time.Millisecond, wantFatal: "not yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := &fakeTB{TB: t}
			calls := 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				pgtest.Eventually(tb, tt.timeout, func() error {
					calls++
					if calls < tt.failUntil {
						return errors.New("not yet")
					}
					return nil
				})
			}()
			<-done
			if tt.wantFatal == "" {
				require.Empty(t, tb.fatal)
				require.Equal(t, tt.failUntil, calls)
				return
			}
			require.Contains(t, tb.fatal, tt.wantFatal)
			require.Greater(t, calls, 1)
		})
	}
}
