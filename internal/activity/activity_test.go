package activity_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/activity"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestTrackerWritesThrottledBatches(t *testing.T) {
	_, pool := parleytest.DemoDB(t)
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	tr := activity.New(activity.Config{Pool: pool, Interval: 30 * time.Second, Now: clk.Now})
	ann := &functions.Identity{Subject: "user-ann", Role: functions.RoleCustomer}
	bob := &functions.Identity{Subject: "user-bob", Role: functions.RoleStore}
	type row struct {
		seen, until time.Time
	}
	read := func(id *functions.Identity) (row, bool) {
		var r row
		err := pool.QueryRow(ctx, `SELECT last_seen_at, online_until FROM user_activity WHERE user_id = $1`, id.Subject).Scan(&r.seen, &r.until)
		return r, err == nil
	}

	// Nothing noted, nothing written.
	require.NoError(t, tr.Flush(ctx))
	_, ok := read(ann)
	require.False(t, ok)

	// A call: seen, not online.
	t0 := clk.Now()
	tr.Seen(ann)
	require.NoError(t, tr.Flush(ctx))
	r, ok := read(ann)
	require.True(t, ok)
	require.True(t, r.seen.Equal(t0))
	require.True(t, r.until.Equal(t0), "a call alone vouches for no session")

	// More calls within the interval write nothing; after it, one write.
	clk.add(10 * time.Second)
	tr.Seen(ann)
	tr.Seen(ann)
	require.NoError(t, tr.Flush(ctx))
	r, _ = read(ann)
	require.True(t, r.seen.Equal(t0), "throttled")
	clk.add(20 * time.Second)
	tr.Seen(ann)
	require.NoError(t, tr.Flush(ctx))
	r, _ = read(ann)
	require.True(t, r.seen.Equal(t0.Add(30*time.Second)))

	// Sessions: online at once, for OnlineTTL, refreshed every interval;
	// offline when the last of two closes. Two users, one statement.
	clk.add(time.Second)
	t1 := clk.Now()
	tr.Open(bob)
	tr.Open(bob)
	tr.Open(ann)
	require.NoError(t, tr.Flush(ctx))
	for _, id := range []*functions.Identity{ann, bob} {
		r, _ = read(id)
		require.True(t, r.seen.Equal(t1), id.Subject)
		require.True(t, r.until.Equal(t1.Add(75*time.Second)), id.Subject)
	}
	clk.add(30 * time.Second)
	require.NoError(t, tr.Flush(ctx))
	r, _ = read(bob)
	require.True(t, r.until.Equal(t1.Add(105*time.Second)), "refreshed while open")
	tr.Close(bob)
	require.NoError(t, tr.Flush(ctx))
	r, _ = read(bob)
	require.True(t, r.until.After(clk.Now()), "one session of two is still open")
	clk.add(time.Second)
	tr.Close(bob)
	require.NoError(t, tr.Flush(ctx))
	r, _ = read(bob)
	require.True(t, r.until.Equal(clk.Now()), "offline when the last closes")
	tr.Close(bob) // an extra close is ignored
	require.NoError(t, tr.Flush(ctx))

	// A failed write is retried: nothing noted is lost.
	clk.add(time.Minute)
	tr.Close(ann)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.Error(t, tr.Flush(cancelled))
	require.NoError(t, tr.Flush(ctx))
	r, _ = read(ann)
	require.True(t, r.until.Equal(clk.Now()))
}

// The email claim rides the activity writes: written when first seen and
// when it changes, and an unchanged address writes no row.
func TestTrackerRecordsEmailClaims(t *testing.T) {
	_, pool := parleytest.DemoDB(t)
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	tr := activity.New(activity.Config{Pool: pool, Interval: 30 * time.Second, Now: clk.Now})
	email := func(sub string) (string, time.Time) {
		var e string
		var at time.Time
		err := pool.QueryRow(ctx, `SELECT email, updated_at FROM user_emails WHERE user_id = $1`, sub).Scan(&e, &at)
		if err != nil {
			return "", time.Time{}
		}
		return e, at
	}
	ann := &functions.Identity{Subject: "user-ann", Role: functions.RoleCustomer, Email: "ann@example.com"}
	noMail := &functions.Identity{Subject: "user-bob", Role: functions.RoleCustomer}

	tests := []struct {
		name    string
		id      *functions.Identity
		advance time.Duration
		want    string
		written bool // updated_at moved
	}{
		{"first call writes the claim", ann, 0, "ann@example.com", true},
		{"the same claim within the interval writes nothing", ann, time.Second, "ann@example.com", false},
		{"the same claim after the interval writes no row", ann, time.Minute, "ann@example.com", false},
		{"a changed claim is written at once", &functions.Identity{Subject: "user-ann", Role: functions.RoleCustomer, Email: "ann@new.example"},
			time.Second, "ann@new.example", true},
		{"a token without the claim keeps the address", &functions.Identity{Subject: "user-ann", Role: functions.RoleCustomer},
			time.Minute, "ann@new.example", false},
		{"a user without a claim has none", noMail, time.Second, "", false},
	}
	var last time.Time
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.add(tt.advance)
			tr.Seen(tt.id)
			require.NoError(t, tr.Flush(ctx))
			got, at := email(tt.id.Subject)
			require.Equal(t, tt.want, got)
			if tt.id.Subject == ann.Subject {
				require.Equal(t, tt.written, !at.Equal(last), "updated_at moved")
				last = at
			}
		})
	}
}
