package functions_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
)

func TestIdentityKeysNeverMeet(t *testing.T) {
	ids := []*functions.Identity{
		nil,
		{Subject: "bob", Role: functions.RoleCustomer},
		{Subject: "bob", Role: functions.RoleCustomer, Org: "acme"},
		{Subject: "bob", Role: functions.RoleCustomer, Org: "acm"},
		{Subject: "bo", Role: functions.RoleCustomer, Org: "acme"},
		{Subject: "bob", Role: functions.RoleStore, StoreID: "4:acme:x"},
		{Subject: "bob", Role: functions.RoleStore, StoreID: "x", Org: "acme"},
		{Subject: "bob", Role: functions.RoleStore, StoreID: "x"},
		{Subject: "bob", Role: functions.RoleAdmin, Org: "acme"},
		{Subject: "bob", Role: functions.RoleAdmin},
		{Subject: "bob", Role: functions.RoleGuest},
		{Subject: "bob", Role: functions.RoleGuest, Org: "acme"},
	}
	seen := map[string]int{}
	for i, id := range ids {
		k := id.Key()
		j, dup := seen[k]
		require.False(t, dup, "identities %d and %d share key %q", j, i, k)
		seen[k] = i
	}
	// The default org's keys are what they were before orgs: stored
	// mutation results keep answering their replays.
	require.Equal(t, "customer:3:bob:", ids[1].Key())
	require.Equal(t, "store:3:bob:x", ids[7].Key())
}
