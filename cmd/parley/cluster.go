package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-chat/parley/internal/server"
)

// clusterOptions are the flags that make a server one node of a cluster.
type clusterOptions struct {
	url      *string
	nodeID   *string
	replicas *int
}

func clusterFlags(fl *flag.FlagSet, serve bool) *clusterOptions {
	o := &clusterOptions{}
	help := func(s, env string) string {
		if serve {
			return s + " (env " + env + ")"
		}
		return s
	}
	o.url = fl.String("cluster", envIf(serve, "PARLEY_CLUSTER"), help(
		"NATS URL(s), comma-separated, of the cluster this node joins: one node reads the replication slot and publishes "+
			"its commits on JetStream, every node follows them (empty: a server of its own)", "PARLEY_CLUSTER"))
	o.nodeID = fl.String("node-id", envIf(serve, "PARLEY_NODE_ID"), help(
		"this node's name in its cluster (default: host name and process id)", "PARLEY_NODE_ID"))
	o.replicas = fl.Int("cluster-replicas", 1, "replicas of the change stream on a NATS cluster with JetStream")
	return o
}

func envIf(on bool, key string) string {
	if !on {
		return ""
	}
	return os.Getenv(key)
}

// connect joins the cluster named by the flags into cfg; the returned
// func closes the connection. Nothing to do without --cluster.
func (o *clusterOptions) connect(cfg *server.Config, log *slog.Logger) (func(), error) {
	if *o.url == "" {
		return func() {}, nil
	}
	id := *o.nodeID
	if id == "" {
		host, _ := os.Hostname()
		id = host + "-" + strconv.Itoa(os.Getpid())
	}
	nc, err := dialNATS(*o.url, id, log)
	if err != nil {
		return nil, err
	}
	cfg.Cluster = &server.ClusterConfig{NATS: nc, NodeID: id, Replicas: *o.replicas}
	log.Info("cluster node", slog.String("node", id), slog.String("nats", *o.url))
	return nc.Close, nil
}

// dialNATS connects node id to the NATS server(s) at url, reconnecting
// for ever.
func dialNATS(url, id string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name("parley "+id), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(64<<20),
		// A silent partition is noticed within about 6s, not nats.go's default 4 minutes.
		nats.PingInterval(2*time.Second), nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("cluster: NATS connection lost", slog.Any("err", err))
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("cluster: NATS reconnected", slog.String("url", c.ConnectedUrl())) }))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}
