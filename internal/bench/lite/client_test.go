package lite

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestScanner(t *testing.T) {
	messages := `{"messages":[{"content":"a } ] { [ \\\" , bench ab12 #5"},{"content":"bench ab12 #4"}]}`
	frame := `{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAA="},` +
		`"modifications":[{"type":"QueryUpdated","queryId":1,"value":{"page":[{"content":"bench ab12 #99 \"q\" \\"}]},"logLines":[]},` +
		` {"type":"QueryUpdated","queryId":0,"value":` + messages + `,"journal":null},` +
		`{"type":"QueryFailed","queryId":2,"errorMessage":"no","errorData":null}],` +
		`"endVersion":{"querySet":1,"identity":1,"ts":"AQA="}}`
	require.True(t, json.Valid([]byte(frame)))
	var got [][]byte
	c := &Client{queries: 3, seen: make([]bool, 3), unseen: 3, first: make(chan struct{}),
		onMessages: func(v []byte, _ time.Time) { got = append(got, append([]byte(nil), v...)) }}
	c.dispatch([]byte(frame), time.Now())
	require.Empty(t, c.protoErrs)
	require.Equal(t, int64(3), c.Pushes())
	require.Len(t, got, 1)
	require.True(t, json.Valid(got[0]), "%s", got[0])
	require.Equal(t, messages, string(got[0]), "query 0's value, exactly")
	select {
	case <-c.first:
	default:
		t.Fatal("every query has a result")
	}
	require.ErrorContains(t, c.firstErr, "query 2 failed")

	c.dispatch([]byte(`{"type":"Ping"}`), time.Now())
	c.dispatch([]byte(`{"type":"Transition","modifications":[{"type":"QueryUpdated","queryId":7,"value":1}]}`), time.Now())
	c.dispatch([]byte(`{"type":"Transition","modifications":[{"type":"QueryUpdated","queryId":0,"value":"unterminated}]}`), time.Now())
	c.dispatch([]byte(`{"type":"FatalError","error":"boom"}`), time.Now())
	require.Len(t, c.protoErrs, 3)
}
