package transport

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/reactive"
)

func TestTimestampEncoding(t *testing.T) {
	for _, ts := range []reactive.LSN{0, 1, 0x1987690, 1<<63 - 1} {
		enc := encodeTS(ts)
		require.Len(t, enc, 12)
		got, err := decodeTS(enc)
		require.NoError(t, err)
		require.Equal(t, ts, got)
	}
	// The official client's encoding of 1 (Long.fromNumber(1), little-endian).
	require.Equal(t, "AQAAAAAAAAA=", encodeTS(1))
	_, err := decodeTS("AQAA")
	require.Error(t, err)
}

func TestQuerySetChanges(t *testing.T) {
	m, err := parseMessage([]byte(`{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[
		{"type":"Add","queryId":0,"udfPath":"shared/chat:getMessages","args":[{"conversationId":"c"}]},
		{"type":"Add","queryId":1,"udfPath":"shared/chat:getUnreadCount","args":[]},
		{"type":"Add","queryId":2,"udfPath":"x:y","args":[{},{}]},
		{"type":"Remove","queryId":9}]}`))
	require.NoError(t, err)
	adds, removes, err := querySetChanges(m)
	require.NoError(t, err)
	require.Equal(t, []uint32{9}, removes)
	require.Len(t, adds, 3)
	require.JSONEq(t, `{"conversationId":"c"}`, string(adds[0].Args))
	require.JSONEq(t, `{}`, string(adds[1].Args))
	require.JSONEq(t, `null`, string(adds[2].Args), "two argument objects fail as the query's own error")

	_, _, err = querySetChanges(clientMessage{Type: "ModifyQuerySet"})
	require.EqualError(t, err, "ModifyQuerySet without baseVersion")
	zero := uint32(0)
	_, _, err = querySetChanges(clientMessage{BaseVersion: &zero, Modifications: []queryModWire{{Type: "Swap"}}})
	require.EqualError(t, err, "unknown query set modification Swap")
}

func TestEncodeMessages(t *testing.T) {
	b := appendTransition(nil, &reactive.Transition{
		Start: reactive.Version{}, End: reactive.Version{QuerySet: 1, Identity: 1, TS: 1},
		Modifications: []reactive.Modification{{Type: reactive.QueryUpdated, QueryID: 3, Value: json.RawMessage(`{"a":1}`)},
			{Type: reactive.QueryRemoved, QueryID: 4}},
	})
	require.JSONEq(t, `{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},
		"endVersion":{"querySet":1,"identity":1,"ts":"AQAAAAAAAAA="},
		"modifications":[{"type":"QueryUpdated","queryId":3,"value":{"a":1},"logLines":[]},
		{"type":"QueryRemoved","queryId":4,"logLines":[]}]}`, string(b))
}

// FuzzClientMessage: any bytes a client sends are either rejected as a
// protocol error or understood; nothing panics.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"Connect","sessionId":"s","connectionCount":0}`,
		`{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add","queryId":0,"udfPath":"a:b","args":[{}]}]}`,
		`{"type":"Mutation","requestId":0,"udfPath":"a:b","args":[{"x":1}]}`,
		`{"type":"Authenticate","baseVersion":0,"tokenType":"User","value":"t"}`,
		`{"type":"ModifyQuerySet","modifications":[{"type":"Remove","queryId":-1}]}`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMessage(data)
		if err != nil || m.Type != "ModifyQuerySet" {
			return
		}
		adds, _, err := querySetChanges(m)
		if err == nil {
			for _, a := range adds {
				require.True(t, json.Valid(a.Args))
			}
		}
	})
}
