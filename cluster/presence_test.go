package cluster_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/cluster"
	"github.com/parley-chat/parley/support"
)

// within bounds how long a message between nodes may take on a loaded
// machine.
const within = 5 * time.Second

// startNATS starts an embedded NATS server for the test.
func startNATS(t *testing.T) *cluster.Embedded {
	t.Helper()
	srv, err := cluster.StartEmbedded(cluster.EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	return srv
}

// connect is a node's own connection to srv.
func connect(t *testing.T, srv *cluster.Embedded) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// presenceNode is one node's Presence, with the changes it was told of.
type presenceNode struct {
	*cluster.Presence
	mu      sync.Mutex
	changes []support.PresenceChange
	stop    func()
	done    chan error
}

func newPresenceNode(t *testing.T, srv *cluster.Embedded, name string, ttl time.Duration) *presenceNode {
	t.Helper()
	p, err := cluster.NewPresence(cluster.PresenceConfig{Conn: connect(t, srv), Prefix: "test", NodeID: name, TTL: ttl, Sweep: 20 * time.Millisecond})
	require.NoError(t, err)
	n := &presenceNode{Presence: p, done: make(chan error, 1)}
	p.OnChange(func(c support.PresenceChange) {
		n.mu.Lock()
		n.changes = append(n.changes, c)
		n.mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { n.done <- p.Run(ctx) }()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-n.done)
		})
	}
	t.Cleanup(n.stop)
	return n
}

func (n *presenceNode) told(user string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.changes {
		if c.UserID == user {
			return true
		}
	}
	return false
}

func (n *presenceNode) user(org, id string) support.UserPresence {
	return n.Users(org, []string{id})[0]
}

func TestPresenceBeatShowsOnOtherNodes(t *testing.T) {
	srv := startNATS(t)
	a := newPresenceNode(t, srv, "a", time.Minute)
	b := newPresenceNode(t, srv, "b", time.Minute)
	c := newPresenceNode(t, srv, "c", time.Minute)

	a.Beat(support.Beat{Conn: 1, Org: "acme", UserID: "ann", Name: "Ann", Agent: true})
	a.Beat(support.Beat{Conn: 2, Org: "acme", UserID: "carl", Name: "Carl"})
	require.Equal(t, support.Online, a.user("acme", "ann").Status, "applied locally at once")
	for _, n := range []*presenceNode{b, c} {
		require.Eventually(t, func() bool {
			return n.user("acme", "ann").Status == support.Online && n.user("acme", "carl").Status == support.Online
		}, within, 10*time.Millisecond)
		require.Equal(t, "Ann", n.user("acme", "ann").Name)
		agents := n.Agents("acme")
		require.Len(t, agents, 1)
		require.Equal(t, "ann", agents[0].UserID)
		require.Empty(t, n.Agents("other"), "presence is per org")
		require.True(t, n.told("ann"), "OnChange fires for a remote beat")
		require.True(t, n.told("carl"))
	}

	// Idle on A: away on B.
	a.Beat(support.Beat{Conn: 2, Org: "acme", UserID: "carl", Name: "Carl", Idle: true})
	require.Eventually(t, func() bool { return b.user("acme", "carl").Status == support.Away }, within, 10*time.Millisecond)

	// Leave on A: gone on B and C.
	a.Leave(1)
	for _, n := range []*presenceNode{b, c} {
		require.Eventually(t, func() bool { return n.user("acme", "ann").Status == support.Offline }, within, 10*time.Millisecond)
		require.Empty(t, n.Agents("acme"))
	}
	require.Equal(t, support.Away, b.user("acme", "carl").Status, "the other connection stays")

	// A connection that takes another identity moves to it on B.
	a.Beat(support.Beat{Conn: 2, Org: "acme", UserID: "dora", Name: "Dora"})
	require.Eventually(t, func() bool {
		return b.user("acme", "dora").Status == support.Online && b.user("acme", "carl").Status == support.Offline
	}, within, 10*time.Millisecond)
}

// BenchmarkPresenceBeat is a heartbeat's cost on its node, another node
// listening: a map update and an asynchronous publish.
func BenchmarkPresenceBeat(b *testing.B) {
	srv, err := cluster.StartEmbedded(cluster.EmbeddedConfig{Dir: b.TempDir()})
	require.NoError(b, err)
	defer srv.Shutdown()
	var ps []*cluster.Presence
	for _, name := range []string{"a", "b"} {
		nc, err := nats.Connect(srv.URL())
		require.NoError(b, err)
		defer nc.Close()
		p, err := cluster.NewPresence(cluster.PresenceConfig{Conn: nc, Prefix: "bench", NodeID: name})
		require.NoError(b, err)
		defer func() { require.NoError(b, p.Close()) }()
		ps = append(ps, p)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := uint64(0)
		for pb.Next() {
			i++
			ps[0].Beat(support.Beat{Conn: i%1000 + 1, Org: "acme", UserID: "u" + strconv.FormatUint(i%1000, 10)})
		}
	})
}

func TestPresenceSameUserOnTwoNodes(t *testing.T) {
	srv := startNATS(t)
	a := newPresenceNode(t, srv, "a", time.Minute)
	b := newPresenceNode(t, srv, "b", time.Minute)

	// Both nodes' first connection is 1: they are two sessions.
	a.Beat(support.Beat{Conn: 1, Org: "acme", UserID: "ann", Agent: true})
	b.Beat(support.Beat{Conn: 1, Org: "acme", UserID: "ann", Agent: true, Idle: true})
	for _, n := range []*presenceNode{a, b} {
		require.Eventually(t, func() bool { return n.user("acme", "ann").Sessions == 2 }, within, 10*time.Millisecond)
		require.Equal(t, support.Online, n.user("acme", "ann").Status, "online while one session is not idle")
	}
	a.Leave(1)
	for _, n := range []*presenceNode{a, b} {
		require.Eventually(t, func() bool { return n.user("acme", "ann").Sessions == 1 }, within, 10*time.Millisecond)
		require.Equal(t, support.Away, n.user("acme", "ann").Status, "B's idle session is left")
	}
}

func TestPresenceExpiresWhenANodeStopsBeating(t *testing.T) {
	srv := startNATS(t)
	ttl := 300 * time.Millisecond
	a := newPresenceNode(t, srv, "a", ttl)
	b := newPresenceNode(t, srv, "b", ttl)

	a.Beat(support.Beat{Conn: 1, Org: "acme", UserID: "ann"})
	require.Eventually(t, func() bool { return b.user("acme", "ann").Status == support.Online }, within, 10*time.Millisecond)
	// Beats keep it alive past the TTL.
	for range 4 {
		time.Sleep(ttl / 3)
		a.Beat(support.Beat{Conn: 1, Org: "acme", UserID: "ann"})
	}
	require.Equal(t, support.Online, b.user("acme", "ann").Status)
	b.mu.Lock()
	b.changes = nil
	b.mu.Unlock()
	// A stops beating (dies without a goodbye): B drops it after the TTL
	// and tells of it.
	start := time.Now()
	require.Eventually(t, func() bool { return b.user("acme", "ann").Status == support.Offline && b.told("ann") }, within, 10*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), ttl/2)
	require.Equal(t, support.Offline, a.user("acme", "ann").Status, "expired on A too")
}

func TestPresenceLateNodeGetsTheSnapshot(t *testing.T) {
	srv := startNATS(t)
	a := newPresenceNode(t, srv, "a", time.Minute)
	b := newPresenceNode(t, srv, "b", time.Minute)
	a.Beat(support.Beat{Conn: 1, Org: "acme", UserID: "ann", Agent: true})
	b.Beat(support.Beat{Conn: 1, Org: "acme", UserID: "bob", Agent: true})
	for i := range 1200 { // more than one snapshot message
		a.Beat(support.Beat{Conn: uint64(100 + i), Org: "big", UserID: "u", Idle: true})
	}
	require.Eventually(t, func() bool { return len(b.Agents("acme")) == 2 }, within, 10*time.Millisecond)

	c := newPresenceNode(t, srv, "c", time.Minute)
	require.Eventually(t, func() bool {
		return len(c.Agents("acme")) == 2 && c.user("big", "u").Sessions == 1200
	}, within, 10*time.Millisecond, "a node started late learns the others' entries")
	require.Equal(t, support.Away, c.user("big", "u").Status)
	require.True(t, c.told("ann"), "and its queries are told")

	// A closes: its entries go at once on the others.
	a.stop()
	for _, n := range []*presenceNode{b, c} {
		require.Eventually(t, func() bool {
			return n.user("acme", "ann").Status == support.Offline && n.user("big", "u").Sessions == 0
		}, within, 10*time.Millisecond)
		require.Equal(t, support.Online, n.user("acme", "bob").Status)
	}
}

func TestPresenceSnapshotKeepsAges(t *testing.T) {
	srv := startNATS(t)
	ttl := time.Second
	a := newPresenceNode(t, srv, "a", ttl)
	a.Beat(support.Beat{Conn: 1, Org: "acme", UserID: "ann"})
	time.Sleep(ttl / 2)
	b := newPresenceNode(t, srv, "b", ttl)
	require.Eventually(t, func() bool { return b.user("acme", "ann").Status == support.Online }, within, 10*time.Millisecond)
	// The snapshot said how old the beat was: it expires on B when it
	// does on A, not a whole TTL after B heard of it.
	require.Eventually(t, func() bool { return b.user("acme", "ann").Status == support.Offline }, ttl*8/10, 10*time.Millisecond)
}

func TestPresenceConfig(t *testing.T) {
	_, err := cluster.NewPresence(cluster.PresenceConfig{})
	require.Error(t, err)
	srv := startNATS(t)
	_, err = cluster.NewPresence(cluster.PresenceConfig{Conn: connect(t, srv), Prefix: "a.b"})
	require.ErrorContains(t, err, "subject token")
	p, err := cluster.NewPresence(cluster.PresenceConfig{Conn: connect(t, srv), NodeID: "n1"})
	require.NoError(t, err)
	require.Contains(t, p.Node(), "n1/")
	require.Equal(t, support.DefaultPresenceTTL, p.TTL())
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "idempotent")
}
