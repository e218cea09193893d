package support_test

import (
	"strconv"
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

// BenchmarkMemoryPresenceBeat: one refreshing heartbeat among 10,000
// sessions (5,000 users with two each); no change, so nothing is told.
func BenchmarkMemoryPresenceBeat(b *testing.B) {
	const sessions = 10_000
	p := support.NewMemoryPresence(support.MemoryConfig{TTL: time.Minute})
	now := time.Now()
	for i := range sessions {
		p.Beat(support.Beat{Conn: uint64(i + 1), UserID: "u" + strconv.Itoa(i/2), At: now})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p.Beat(support.Beat{Conn: uint64(i%sessions + 1), UserID: "u" + strconv.Itoa(i%sessions/2), At: now})
	}
}

// BenchmarkMemoryPresenceSweep: one sweep of 10,000 live sessions (Run
// does four a second).
func BenchmarkMemoryPresenceSweep(b *testing.B) {
	const sessions = 10_000
	p := support.NewMemoryPresence(support.MemoryConfig{TTL: time.Hour})
	now := time.Now()
	for i := range sessions {
		p.Beat(support.Beat{Conn: uint64(i + 1), UserID: "u" + strconv.Itoa(i/2), At: now})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.Sweep(now)
	}
}

// TestMemoryPresenceConcurrent: beats, leaves, reads and sweeps from many
// goroutines (under -race); afterwards every user with a live session is
// online and every change was told.
func TestMemoryPresenceConcurrent(t *testing.T) {
	p := support.NewMemoryPresence(support.MemoryConfig{TTL: time.Minute})
	var mu sync.Mutex
	told := map[string]int{}
	p.OnChange(func(c support.PresenceChange) { mu.Lock(); told[c.UserID]++; mu.Unlock() })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				conn := uint64(g*1000 + i%50 + 1)
				user := "u" + strconv.Itoa(i%10)
				p.Beat(support.Beat{Conn: conn, UserID: user, Agent: i%2 == 0, Idle: i%3 == 0})
				if i%7 == 0 {
					p.Leave(conn)
				}
				p.Users("", []string{user})
				p.Agents("")
				if i%50 == 0 {
					p.Sweep(time.Now())
				}
			}
		}()
	}
	wg.Wait()
	for i := range 10 {
		user := "u" + strconv.Itoa(i)
		up := p.Users("", []string{user})[0]
		if up.Sessions > 0 {
			require.NotEqual(t, support.Offline, up.Status, user)
		}
		require.Positive(t, told[user], user)
	}
}
