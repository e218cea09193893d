package reactive_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
)

// TestOracleCluster is the oracle's workload with its clients spread over
// three nodes of a cluster (one Postgres, a NATS server with JetStream in
// this process): every checkpoint wants every subscription, whichever
// node serves it, equal to a fresh evaluation and never older than the
// client's ts.
func TestOracleCluster(t *testing.T) {
	rng, seed := oracleRand(t)
	start := time.Now()
	nodes := parleytest.StartCluster(t, 3)
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
