// Package cluster runs Parley on more than one node: N stateless nodes on
// one Postgres, the change stream decoded once and fanned out over NATS
// JetStream, and the state that used to live in one process (presence,
// streaming answers, rate limits, tickets, media) shared.
package cluster
