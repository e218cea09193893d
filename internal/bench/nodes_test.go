package bench

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/bench/dataset"
)

func TestNodeRoundRobin(t *testing.T) {
	tests := []struct {
		name string
		urls []string
		n    int
		want map[string]int // sessions per node
	}{
		{"one node takes every session", []string{"http://a:1/"}, 5, map[string]int{"http://a:1": 5}},
		{"b's 1,000 viewers over three nodes", []string{"http://a:1", "http://b:2", "http://c:3"}, 1000,
			map[string]int{"http://a:1": 334, "http://b:2": 333, "http://c:3": 333}},
		{"a node named twice gets two shares", []string{"http://a:1", "http://a:1/", "http://b:2"}, 6,
			map[string]int{"http://a:1": 4, "http://b:2": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Runner{nodes: nodeURLs(tt.urls)}
			got := map[string]int{}
			for i := range tt.n {
				got[r.node(i)]++
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestWritersSpread checks that scenario d's writers, the customers of its
// first conversations, and the two parties of a conversation land on
// different nodes when the sessions are spread in the order of specs.
func TestWritersSpread(t *testing.T) {
	r := &Runner{nodes: nodeURLs([]string{"http://a:1", "http://b:2", "http://c:3"})}
	g := dataset.Group{Prefix: "benchd", Convs: 5, Staff: 1}
	specs := twoParty(g, 10)
	writers := map[string]int{}
	for i, s := range specs {
		if s.ident == g.Customer(s.conv) && s.conv < 3 { // three writers
			writers[r.node(i)]++
		}
	}
	require.Equal(t, map[string]int{"http://a:1": 1, "http://b:2": 1, "http://c:3": 1}, writers)
	require.NotEqual(t, r.node(0), r.node(g.Convs), "conversation 0's customer and staff member on different nodes")
}

func TestDistinct(t *testing.T) {
	require.Equal(t, []string{"http://a:1", "http://b:2"}, distinct(nodeURLs([]string{"http://a:1/", "http://b:2", "http://a:1"})))
}
