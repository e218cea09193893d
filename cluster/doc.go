// Package cluster runs Parley on more than one node: N stateless nodes on
// one Postgres, the change stream decoded once and fanned out over NATS
// JetStream, and the state that used to live in one process (presence,
// streaming answers, rate limits, tickets, media) shared.
//
// Presence (a support.Presence: support.Config.Presence) and Streams (an
// assistant.Fanout: assistant.Config.Fanout) share per-process state over
// NATS core pub/sub, at most once: what a lost message would have said is
// healed by the next heartbeat (presence), the next whole text or the
// answer's final write (streams), or the TTL. Their subjects are
// parley.<prefix>.presence[.sync] and parley.<prefix>.assistant.stream
// and .cancel; every node of a cluster uses the same prefix. Each is
// built on the node's *nats.Conn, subscribes in its constructor, and has a
// Run(ctx) for the server's errgroup that sweeps what expired and, when
// ctx is done, closes it.
package cluster
