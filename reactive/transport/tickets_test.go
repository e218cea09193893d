package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
)

// TestTicketsPerUser: one user's unused tickets are bounded (so that one
// token cannot fill the server's table for everyone); using one, or
// letting them expire, frees room; another user is not affected.
func TestTicketsPerUser(t *testing.T) {
	tk := newTickets(time.Minute)
	now := time.Unix(1_700_000_000, 0)
	alice := &functions.Identity{Subject: "alice", Role: functions.RoleCustomer}
	bob := &functions.Identity{Subject: "bob", Role: functions.RoleCustomer}
	var first string
	for i := range MaxUserTickets {
		ticket, _, err := tk.issue(alice, now)
		require.NoError(t, err, "ticket %d", i)
		if i == 0 {
			first = ticket
		}
	}
	_, _, err := tk.issue(alice, now)
	require.ErrorIs(t, err, ErrUserTickets)
	_, _, err = tk.issue(bob, now)
	require.NoError(t, err, "another user")
	aliceInOrg := &functions.Identity{Subject: "alice", Org: "acme", Role: functions.RoleCustomer}
	_, _, err = tk.issue(aliceInOrg, now)
	require.NoError(t, err, "the same id in another org is another user")

	id, err := tk.redeem(first, now)
	require.NoError(t, err)
	require.Equal(t, "alice", id.Subject)
	_, _, err = tk.issue(alice, now)
	require.NoError(t, err, "a used ticket is no longer outstanding")
	_, _, err = tk.issue(alice, now)
	require.ErrorIs(t, err, ErrUserTickets)

	// Past their expiry (a minute), the unused ones count no more.
	later := now.Add(time.Minute + time.Second)
	_, _, err = tk.issue(alice, later)
	require.NoError(t, err)
	_, err = tk.redeem(first, later)
	require.ErrorIs(t, err, ErrTicketUsed, "a used ticket is remembered as used")
}
