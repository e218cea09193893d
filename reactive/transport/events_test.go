package transport

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewEvents(t *testing.T) {
	list := `{"events":[
		{"id":"e1","type":"message.created","ts":1,"conversationId":"c","actor":"u","data":{}},
		{"id":"e2","type":"message.read","ts":2,"conversationId":"c","actor":"u","data":{}},
		{"id":"e3","type":"bad\ntype","ts":3,"conversationId":"c","actor":"u","data":{}}]}`
	tests := []struct {
		name     string
		value    string
		last     string
		wantIDs  []string
		wantType []string
		wantLast string
		wantErr  bool
	}{
		{name: "from the start", value: list, wantIDs: []string{"e1", "e2", "e3"},
			wantType: []string{"message.created", "message.read", "event"}, wantLast: "e3"},
		{name: "after the last sent", value: list, last: "e2", wantIDs: []string{"e3"}, wantType: []string{"event"}, wantLast: "e3"},
		{name: "nothing new", value: list, last: "e3", wantIDs: []string{}, wantType: []string{}, wantLast: "e3"},
		{name: "last not listed: the query started after it", value: list, last: "e0", wantIDs: []string{"e1", "e2", "e3"},
			wantType: []string{"message.created", "message.read", "event"}, wantLast: "e3"},
		{name: "empty", value: `{"events":[]}`, last: "e9", wantIDs: []string{}, wantType: []string{}, wantLast: "e9"},
		{name: "not an events result", value: `[1]`, wantErr: true},
		{name: "no events list", value: `{"messages":[]}`, wantErr: true},
		{name: "an item without id", value: `{"events":[{"type":"x"}]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, last, err := newEvents(json.RawMessage(tt.value), tt.last)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			ids, types := []string{}, []string{}
			for _, it := range items {
				ids = append(ids, it.id)
				types = append(types, it.typ)
				require.True(t, json.Valid(it.raw))
			}
			require.Equal(t, tt.wantIDs, ids)
			require.Equal(t, tt.wantType, types)
			require.Equal(t, tt.wantLast, last)
		})
	}
}

func TestWithAfter(t *testing.T) {
	b, err := withAfter(json.RawMessage(`{"conversationId":"c","after":"old"}`), "e7")
	require.NoError(t, err)
	require.JSONEq(t, `{"conversationId":"c","after":"e7"}`, string(b))
}
