package bench

import (
	"slices"
	"strings"
)

// nodeURLs trims the trailing slashes of the base URLs of cfg.URLs, in
// their order, repeats kept: a repeat gets its share of the sessions.
func nodeURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = strings.TrimRight(u, "/")
	}
	return out
}

// node returns the base URL of the i-th session of a fleet (0, 1, …):
// the nodes round robin, so that session i goes to node i mod n. A
// scenario's sessions are numbered in the order of its specs, so b's
// viewers, and a's and d's two parties of a conversation, are spread
// evenly; d's writers, the customers of the first conversations (specs
// 0, 1, …), too.
func (r *Runner) node(i int) string { return r.nodes[i%len(r.nodes)] }

// distinct returns urls without repeats, in their order.
func distinct(urls []string) []string {
	var out []string
	for _, u := range urls {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}
