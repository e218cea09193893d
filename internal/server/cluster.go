package server

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-chat/parley/cluster"
	"github.com/parley-chat/parley/reactive"
	"github.com/parley-chat/parley/reactive/pgrepl"
	"github.com/parley-chat/parley/schema"
)

// ClusterConfig makes a server one node of a cluster (package cluster):
// the nodes share one Postgres and one NATS; one of them at a time reads
// the replication slot and publishes its commits on JetStream, and every
// node follows them.
type ClusterConfig struct {
	// NATS is the node's connection (reconnecting: nats.MaxReconnects(-1)).
	// Required.
	NATS *nats.Conn
	// NodeID names the node in logs and /healthz. Required.
	NodeID string
	// Replicas is the change stream's replica count on a NATS cluster.
	// Zero means 1.
	Replicas int
	// Retention is how long the change stream keeps commits. Zero means
	// cluster.DefaultRetention.
	Retention time.Duration
	// StaleAfter and IsolatedAfter tune the node's view of the reader
	// (cluster.Config). Zero means the defaults.
	StaleAfter, IsolatedAfter time.Duration
}

// clusterSource is the change source of a cluster node on slot.
func (s *Server) clusterSource(cfg Config, slot string) (*cluster.Source, error) {
	cc := cfg.Cluster
	if slot == "" {
		return nil, errors.New("server: a cluster reads one permanent slot; --replication-slot " + TemporarySlots + " does not apply")
	}
	return cluster.New(cluster.Config{
		NATS:        cc.NATS,
		DatabaseURL: cfg.DatabaseURL,
		Reader: func() (reactive.ChangeSource, error) {
			return pgrepl.New(pgrepl.Config{ConnString: cfg.DatabaseURL, Publication: schema.Publication, Slot: slot, Shared: true, Logger: s.log})
		},
		Name:          slot,
		NodeID:        cc.NodeID,
		Replicas:      cc.Replicas,
		Retention:     cc.Retention,
		StaleAfter:    cc.StaleAfter,
		IsolatedAfter: cc.IsolatedAfter,
		Isolated: func(on bool) {
			if !on {
				s.HTTP.Refuse("")
				return
			}
			const why = "this node lost its cluster's change stream; connect to another"
			s.HTTP.Refuse(why)
			s.HTTP.DropSessions(why)
		},
		Logger: s.log,
	})
}

// clusterState is what a cluster node shares over NATS besides the
// change stream: presence and the assistant's streaming answers.
type clusterState struct {
	presence *cluster.Presence
	streams  *cluster.Streams
}

// joinCluster makes cfg a cluster node's before anything is built from
// it: rate limits, tickets and media in Postgres (SharedState), presence
// and streaming answers over NATS. slot names the cluster.
func joinCluster(cfg *Config, slot string) (*clusterState, error) {
	cc := cfg.Cluster
	if cc.NATS == nil || cc.NodeID == "" {
		return nil, errors.New("server: a cluster node needs Cluster.NATS and Cluster.NodeID")
	}
	cfg.SharedState = true
	st := &clusterState{}
	var err error
	if cfg.Support.Presence == nil {
		ttl := cfg.Support.PresenceTTL
		if st.presence, err = cluster.NewPresence(cluster.PresenceConfig{Conn: cc.NATS, Prefix: slot, NodeID: cc.NodeID, TTL: ttl,
			Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		cfg.Support.Presence = st.presence
	}
	if cfg.Assistant.Fanout == nil {
		if st.streams, err = cluster.NewStreams(cluster.StreamsConfig{Conn: cc.NATS, Prefix: slot, NodeID: cc.NodeID,
			Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		cfg.Assistant.Fanout = st.streams
	}
	return st, nil
}

// run keeps the shared state until ctx ends.
func (st *clusterState) run(ctx context.Context) []func() error {
	var fs []func() error
	if st.presence != nil {
		fs = append(fs, func() error { return st.presence.Run(ctx) })
	}
	if st.streams != nil {
		fs = append(fs, func() error { return st.streams.Run(ctx) })
	}
	return fs
}
