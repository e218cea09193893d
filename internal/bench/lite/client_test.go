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

func TestElementsAndFields(t *testing.T) {
	value := []byte(`{"messages":[{"_id":"m2","content":"a \"}\" b","status":"sent"}, {"_id":"m1","status":"delivered"}],"isDone":true}`)
	var ids, statuses []string
	require.True(t, Elements(value, "messages", func(msg []byte) {
		require.True(t, Fields(msg, func(k, v []byte) {
			switch string(k) {
			case "_id":
				ids = append(ids, string(v))
			case "status":
				statuses = append(statuses, string(v))
			}
		}))
	}))
	require.Equal(t, []string{`"m2"`, `"m1"`}, ids)
	require.Equal(t, []string{`"sent"`, `"delivered"`}, statuses)

	require.False(t, Elements([]byte(`{"page":[]}`), "messages", func([]byte) {}), "no such member")
	require.False(t, Elements([]byte(`{"messages":[{"_id":`), "messages", func([]byte) {}), "truncated")
	require.True(t, Elements([]byte(`{"messages":null}`), "messages", func([]byte) { t.Fatal("null has no elements") }))
	require.False(t, Fields([]byte(`[1]`), func(_, _ []byte) {}))
}
