package reactive_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/cluster"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/server"
)

// TestOracleCluster is the oracle's workload with its clients spread over
// three nodes of a cluster (one Postgres, a NATS server with JetStream in
// this process): every checkpoint wants every subscription, whichever
// node serves it, equal to a fresh evaluation and never older than the
// client's ts.
func TestOracleCluster(t *testing.T) {
	rng, seed := oracleRand(t)
	start := time.Now()
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
	first := parleytest.StartConfigured(t, node(1))
	nodes := []*parleytest.Server{first, parleytest.StartPeer(t, first, node(2)), parleytest.StartPeer(t, first, node(3))}
	runOracle(t, rng, seed, start, nodes)
	readers := 0
	for _, n := range nodes {
		h, err := n.Health()
		require.NoError(t, err)
		require.NotNil(t, h.Cluster)
		require.True(t, h.Cluster.Follows, h.Cluster.Node)
		if h.Cluster.Leader {
			readers++
		}
	}
	require.Equal(t, 1, readers, "nodes reading the slot")
}
