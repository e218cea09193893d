package pgtickets_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/pgtickets"
	"github.com/parley-chat/parley/reactive/transport"
	"github.com/parley-chat/parley/schema"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// twoNodes returns two stores on one migrated database, each with a pool
// of its own, and the first's pool.
func twoNodes(t *testing.T) (a, b *pgtickets.Store, pool *pgxpool.Pool) {
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
	return pgtickets.New(pa, pgtickets.Config{}), pgtickets.New(open(), pgtickets.Config{}), pa
}

func hashOf(ticket string) [32]byte { return sha256.Sum256([]byte(ticket)) }

// TestAcrossNodes: a ticket issued on one node is redeemed on another,
// once, with the identity it was issued for (its token's exp included);
// an expired one, and one never issued, are refused.
func TestAcrossNodes(t *testing.T) {
	a, b, pool := twoNodes(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	john := &functions.Identity{Subject: "john", Role: functions.RoleCustomer, Name: "John", Org: "acme",
		Email: "john@example.com", ExpiresAt: now.Add(time.Hour)}
	require.NoError(t, a.Issue(ctx, hashOf("t1"), john, now.Add(time.Minute), now))

	id, err := b.Redeem(ctx, hashOf("t1"), now.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, *john, *id)
	require.True(t, john.ExpiresAt.Equal(id.ExpiresAt))
	_, err = b.Redeem(ctx, hashOf("t1"), now.Add(time.Second))
	require.ErrorIs(t, err, transport.ErrTicketUsed, "single use")
	_, err = a.Redeem(ctx, hashOf("t1"), now.Add(time.Second))
	require.ErrorIs(t, err, transport.ErrTicketUsed, "single use on the issuing node too")

	_, err = a.Redeem(ctx, hashOf("never"), now)
	require.ErrorIs(t, err, transport.ErrTicketUnknown)

	noExp := &functions.Identity{Subject: "jane", Role: functions.RoleCustomer}
	require.NoError(t, a.Issue(ctx, hashOf("t2"), noExp, now.Add(time.Minute), now))
	_, err = b.Redeem(ctx, hashOf("t2"), now.Add(time.Minute))
	require.ErrorIs(t, err, transport.ErrTicketExpired, "good until its expiry, not at it")
	require.NoError(t, a.Issue(ctx, hashOf("t3"), noExp, now.Add(time.Minute), now))
	id, err = b.Redeem(ctx, hashOf("t3"), now)
	require.NoError(t, err)
	require.True(t, id.ExpiresAt.IsZero(), "a token without exp stays without")

	// Only hashes are stored.
	var raw int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM transport_tickets WHERE position('t1'::bytea in hash) > 0 OR identity::text LIKE '%t1%'`).Scan(&raw))
	require.Zero(t, raw)

	// The sweep forgets tickets a minute past their expiry.
	n, err := a.Sweep(ctx, now.Add(time.Minute+30*time.Second))
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = a.Sweep(ctx, now.Add(2*time.Minute+time.Second))
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	_, err = b.Redeem(ctx, hashOf("t1"), now.Add(3*time.Minute))
	require.ErrorIs(t, err, transport.ErrTicketUnknown, "forgotten")
}

// TestRedeemRace: many goroutines on two nodes redeem one ticket at once:
// exactly one gets it, the others are told it was used.
func TestRedeemRace(t *testing.T) {
	a, b, _ := twoNodes(t)
	ctx := context.Background()
	now := time.Now()
	id := &functions.Identity{Subject: "john", Role: functions.RoleCustomer}
	for round := range 5 {
		h := hashOf(fmt.Sprint("race", round))
		require.NoError(t, a.Issue(ctx, h, id, now.Add(time.Minute), now))
		var won, used atomic.Int32
		var wg sync.WaitGroup
		for g := range 12 {
			s := a
			if g%2 == 1 {
				s = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Redeem(ctx, h, now)
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, transport.ErrTicketUsed):
					used.Add(1)
				default:
					t.Errorf("redeem: %v", err)
				}
			}()
		}
		wg.Wait()
		require.EqualValues(t, 1, won.Load(), "round %d", round)
		require.EqualValues(t, 11, used.Load(), "round %d", round)
	}
}

// TestPerUser: one user's outstanding tickets are bounded across nodes;
// using one or letting them expire frees room; other users and orgs are
// apart.
func TestPerUser(t *testing.T) {
	a, b, _ := twoNodes(t)
	ctx := context.Background()
	now := time.Now()
	alice := &functions.Identity{Subject: "alice", Role: functions.RoleCustomer}
	for i := range transport.MaxUserTickets {
		s := a
		if i%2 == 1 {
			s = b
		}
		require.NoError(t, s.Issue(ctx, hashOf(fmt.Sprint("a", i)), alice, now.Add(time.Minute), now), "ticket %d", i)
	}
	require.ErrorIs(t, a.Issue(ctx, hashOf("over"), alice, now.Add(time.Minute), now), transport.ErrUserTickets)
	require.NoError(t, b.Issue(ctx, hashOf("bob"), &functions.Identity{Subject: "bob"}, now.Add(time.Minute), now))
	require.NoError(t, b.Issue(ctx, hashOf("acme"), &functions.Identity{Subject: "alice", Org: "acme"}, now.Add(time.Minute), now))
	_, err := b.Redeem(ctx, hashOf("a0"), now)
	require.NoError(t, err)
	require.NoError(t, a.Issue(ctx, hashOf("over"), alice, now.Add(time.Minute), now), "a used one is not outstanding")
	require.ErrorIs(t, a.Issue(ctx, hashOf("over2"), alice, now.Add(time.Minute), now), transport.ErrUserTickets)
	later := now.Add(time.Minute + time.Second)
	require.NoError(t, a.Issue(ctx, hashOf("over2"), alice, later.Add(time.Minute), later), "expired ones are not outstanding")
}

// TestUnreachable: a database that does not answer is an error (503), not
// a refusal.
func TestUnreachable(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), pgtest.NewDB(t))
	require.NoError(t, err)
	pool.Close()
	s := pgtickets.New(pool, pgtickets.Config{Timeout: 100 * time.Millisecond})
	now := time.Now()
	err = s.Issue(context.Background(), hashOf("x"), &functions.Identity{Subject: "x"}, now.Add(time.Minute), now)
	require.Error(t, err)
	require.NotErrorIs(t, err, transport.ErrUserTickets)
	_, err = s.Redeem(context.Background(), hashOf("x"), now)
	require.Error(t, err)
	require.NotErrorIs(t, err, transport.ErrTicketUnknown)
}
