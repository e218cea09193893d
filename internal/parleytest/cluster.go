package parleytest

import (
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/cluster"
	"github.com/parley-chat/parley/internal/server"
)

// StartCluster starts n servers on one fresh database, nodes "node1"…
// of a cluster over a NATS server with JetStream in this process, each
// with a connection of its own; the first holds the demo data and every
// one takes the others' tokens (StartPeer).
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	ns, err := cluster.StartEmbedded(cluster.EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	node := func(i int) func(cfg *server.Config) {
		return func(cfg *server.Config) {
			nc, err := nats.Connect(ns.URL(), nats.MaxReconnects(-1))
			require.NoError(t, err)
			t.Cleanup(nc.Close)
			cfg.Cluster = &server.ClusterConfig{NATS: nc, NodeID: "node" + strconv.Itoa(i)}
		}
	}
	nodes := []*Server{StartConfigured(t, node(1))}
	for i := 2; i <= n; i++ {
		nodes = append(nodes, StartPeer(t, nodes[0], node(i)))
	}
	return nodes
}
