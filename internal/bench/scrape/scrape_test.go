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
