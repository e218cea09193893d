package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExtractSeqs(t *testing.T) {
	marker := []byte("bench ab12 #")
	tests := []struct {
		name  string
		value string
		want  []uint64
	}{
		{"none", `{"messages":[],"isDone":true}`, nil},
		{"newest first", `{"messages":[{"content":"bench ab12 #17 xxx"},{"content":"bench ab12 #3"}]}`, []uint64{17, 3}},
		{"other runs ignored", `[{"content":"bench ff00 #5"},{"content":"bench ab12 #6"}]`, []uint64{6}},
		{"marker without digits", `[{"content":"bench ab12 #"},{"content":"bench ab12 #x"}]`, nil},
		{"history", `[{"content":"history 4 hhhh"}]`, nil},
		{"escaped quotes and brackets", `{"messages":[{"content":"a } ] { [ \\\" , bench ab12 #5"},{"content":"bench ab12 #4"}]}`, []uint64{5, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, extractSeqs([]byte(tt.value), marker, nil))
		})
	}
}

func TestSummarize(t *testing.T) {
	ns := make([]int64, 100)
	for i := range ns {
		ns[i] = int64(100-i) * 1e6 // 100ms … 1ms, unsorted
	}
	l := summarize(ns)
	require.Equal(t, Latency{N: 100, P50: 50, P95: 95, P99: 99, Max: 100}, l)
	require.Equal(t, Latency{}, summarize(nil))
}
