// Package scrape reads what a Parley server reports about itself over
// HTTP, for the load generator: /metrics (the Prometheus text format, of
// which only series without labels are kept, by name) and the part of
// /healthz the bench needs (status, replication connected and lag). A
// Client reads either once (Metrics, Health); a Sampler scrapes /metrics
// every 500ms (Every) during a measurement and keeps the extremes of RSS
// and replication lag and a series of Points (RSS, heap in use,
// goroutines, sessions, lag) that a scenario reports over time.
//
// # Several nodes
//
// A Client may read the nodes of one cluster (New with several base URLs;
// one named twice is read once). It then reads each node in turn and
// merges what they say (Merge): a node's own series (parley_*) are summed
// over the nodes, its replication lag is the largest; the process's series
// (process_*, go_*) are summed over distinct server processes, told apart
// by process_start_time_seconds, so that the nodes of `parley dev --nodes
// N`, which share one process, count its CPU and memory once. /healthz is
// merged likewise: healthy and connected only when every node is.
//
// Scrapes ask for an uncompressed answer: the bench scrapes every 500ms,
// and gzipping each answer (a new compressor every time) would add to the
// load it measures, in the server's allocations and CPU.
//
// # Concurrency model
//
// A Client is safe for concurrent use and starts no goroutines. A Sampler
// owns one goroutine, started by StartSampler and waited for by Stop; a
// mutex guards what it has gathered.
//
// # Lifecycle
//
// New makes a Client for a base URL; its requests time out after 10s.
// StartSampler scrapes at once and then every Every until its context ends
// or Stop is called; Stop waits for the goroutine and returns the Summary.
// A scrape that fails while the Sampler runs is counted, not fatal; one
// that fails because the Sampler is stopping is not counted.
//
// # Invariants
//
// The package only reads: it sends GET requests and nothing else.
package scrape
