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

func TestProbeMatches(t *testing.T) {
	ack := &probe{id: []byte(`"m2"`), status: []byte(`"delivered"`)}
	edit := &probe{id: []byte(`"m2"`), content: []byte(`"bench ab12 edit #3"`)}
	tests := []struct {
		name      string
		value     string
		ack, edit bool
	}{
		{"delivered, edited", `{"messages":[{"_id":"m2","content":"bench ab12 edit #3","status":"delivered"}],"isDone":true}`, true, true},
		{"another message delivered", `{"messages":[{"_id":"m2","content":"x","status":"sent"},{"_id":"m1","status":"delivered"}]}`, false, false},
		{"the id elsewhere", `{"messages":[{"_id":"m3","content":"m2","status":"delivered","replyTo":"m2"}]}`, false, false},
		{"members in any order", `{"isDone":false,"messages":[{"status":"delivered","content":"bench ab12 edit #3","_id":"m2"}]}`, true, true},
		{"an older content", `{"messages":[{"_id":"m2","content":"bench ab12 edit #2","status":"sent"}]}`, false, false},
		{"content as a prefix", `{"messages":[{"_id":"m2","content":"bench ab12 edit #30","status":"sent"}]}`, false, false},
		{"not a page", `{"messages":[{"_id":"m2","status":"delivered"`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.ack, ack.matches([]byte(tt.value)), "ack")
			require.Equal(t, tt.edit, edit.matches([]byte(tt.value)), "edit")
		})
	}
}
