package support_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/support"
)

// TestMemoryPresence: the store's states and the changes it tells of, on
// a clock of the test's.
func TestMemoryPresence(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	var told []support.PresenceChange
	p := support.NewMemoryPresence(support.MemoryConfig{TTL: 10 * time.Second, Now: func() time.Time { return now }})
	p.OnChange(func(c support.PresenceChange) { mu.Lock(); told = append(told, c); mu.Unlock() })
	take := func() []support.PresenceChange { mu.Lock(); defer mu.Unlock(); out := told; told = nil; return out }
	u := support.PresenceChange{Org: "", UserID: "u1", Agent: true}
	get := func() support.UserPresence { return p.Users("", []string{"u1"})[0] }

	p.Beat(support.Beat{Conn: 1, UserID: "u1", Name: "U", Agent: true, At: now})
	require.Equal(t, []support.PresenceChange{u}, take())
	require.Equal(t, support.UserPresence{UserID: "u1", Name: "U", Status: support.Online, Sessions: 1}, get())
	require.Equal(t, support.Offline, p.Users("other-org", []string{"u1"})[0].Status, "per org")

	now = now.Add(5 * time.Second)
	p.Beat(support.Beat{Conn: 1, UserID: "u1", Name: "U", Agent: true, At: now})
	require.Empty(t, take(), "a refresh changes nothing")

	p.Beat(support.Beat{Conn: 2, UserID: "u1", Name: "U", Agent: true, Idle: true, At: now})
	require.Equal(t, []support.PresenceChange{u}, take(), "a second session")
	require.Equal(t, 2, get().Sessions)
	require.Equal(t, support.Online, get().Status, "one session not idle")
	require.Len(t, p.Agents(""), 1)

	// Session 1 expires (session 2 is newer); the sweep tells.
	now = now.Add(10 * time.Second)
	p.Beat(support.Beat{Conn: 2, UserID: "u1", Name: "U", Agent: true, Idle: true, At: now.Add(-time.Second)})
	take()
	p.Sweep(now)
	require.Equal(t, []support.PresenceChange{u}, take())
	require.Equal(t, support.UserPresence{UserID: "u1", Name: "U", Status: support.Away, Sessions: 1}, get())

	// The connection re-authenticates as another user: it moves.
	p.Beat(support.Beat{Conn: 2, UserID: "u2", At: now})
	require.ElementsMatch(t, []support.PresenceChange{u, {UserID: "u2"}}, take())
	require.Equal(t, support.Offline, get().Status)
	require.Empty(t, p.Agents(""))

	p.Leave(2)
	require.Equal(t, []support.PresenceChange{{UserID: "u2"}}, take())
	p.Leave(2)
	require.Empty(t, take(), "a second leave changes nothing")
}
