package scrape

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		want map[string]float64
	}{
		{"empty", "", map[string]float64{}},
		{"comments and blank lines", "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\n\ngo_goroutines 42\n",
			map[string]float64{Goroutines: 42}},
		{"labelled series skipped", "parley_query_runs_total 7\nparley_query_runs_total{udf=\"x\"} 3\n",
			map[string]float64{QueryRuns: 7}},
		{"exponent and spaces", "process_resident_memory_bytes 1.2345e+08 \n", map[string]float64{RSS: 1.2345e8}},
		{"unreadable lines skipped", "go_goroutines\nparley_sessions many\nparley_subscriptions 5\n",
			map[string]float64{Subscriptions: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]float64{}
			require.NoError(t, parse(strings.NewReader(tt.text), got))
			require.Equal(t, tt.want, got)
		})
	}
}

func TestMerge(t *testing.T) {
	node := func(start, cpu, sessions, lag float64) map[string]float64 {
		return map[string]float64{StartTime: start, CPU: cpu, RSS: 100, Goroutines: 10, Sessions: sessions, ReplicationLag: lag}
	}
	tests := []struct {
		name      string
		nodes     []map[string]float64
		want      map[string]float64
		processes int
	}{
		{"one node", []map[string]float64{node(1, 2, 5, 7)},
			map[string]float64{StartTime: 1, CPU: 2, RSS: 100, Goroutines: 10, Sessions: 5, ReplicationLag: 7}, 1},
		{"three processes: process series summed", []map[string]float64{node(1, 2, 5, 7), node(2, 3, 6, 9), node(3, 4, 7, 1)},
			map[string]float64{StartTime: 1, CPU: 9, RSS: 300, Goroutines: 30, Sessions: 18, ReplicationLag: 9}, 3},
		{"three nodes of one process: process series once, node series summed",
			[]map[string]float64{node(5, 2, 5, 7), node(5, 2, 6, 9), node(5, 2, 7, 1)},
			map[string]float64{StartTime: 5, CPU: 2, RSS: 100, Goroutines: 10, Sessions: 18, ReplicationLag: 9}, 1},
		{"two of one process, one apart", []map[string]float64{node(5, 2, 1, 0), node(4, 3, 1, 0), node(5, 2, 1, 0)},
			map[string]float64{StartTime: 4, CPU: 5, RSS: 200, Goroutines: 20, Sessions: 3, ReplicationLag: 0}, 2},
		{"no start time: a process each", []map[string]float64{{CPU: 1, Sessions: 1}, {CPU: 1, Sessions: 1}},
			map[string]float64{CPU: 2, Sessions: 2}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Merge(tt.nodes)
			require.Equal(t, tt.want, s.Values)
			require.Equal(t, tt.processes, s.Processes)
			require.Equal(t, len(tt.nodes), s.Nodes)
		})
	}
}

func TestNewDistinctNodes(t *testing.T) {
	c := New("http://a:1/", "http://b:2", "http://a:1")
	require.Equal(t, []string{"http://a:1", "http://b:2"}, c.Nodes())
}

func TestLowerLSN(t *testing.T) {
	require.Equal(t, "0/16B3748", lowerLSN("1/0", "0/16B3748"))
	require.Equal(t, "0/5", lowerLSN("0/5", "0/6"))
	require.Equal(t, "", lowerLSN("0/5", ""))
}
