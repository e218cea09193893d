package functions_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
)

type inner struct {
	FileID string   `json:"fileId"`
	Width  *float64 `json:"width"`
}

type testArgs struct {
	ConversationID string    `json:"conversationId"`
	Limit          *int      `json:"limit"`
	IDs            *[]string `json:"messageIds"`
	Flag           bool      `json:"isTyping"`
	Attachment     *inner    `json:"imageAttachment"`
}

func registryWith(t *testing.T) *functions.Function {
	t.Helper()
	r := functions.NewRegistry()
	functions.Query(r, "test:q", func(*functions.QueryCtx, testArgs) (int, error) { return 0, nil })
	f, err := r.Lookup("test:q")
	require.NoError(t, err)
	return f
}

func TestDecodeArgs(t *testing.T) {
	f := registryWith(t)
	tests := []struct {
		name    string
		args    string
		wantErr string // empty: valid
		check   func(t *testing.T, a testArgs)
	}{
		{name: "required only", args: `{"conversationId":"c1","isTyping":true}`, check: func(t *testing.T, a testArgs) {
			require.Equal(t, "c1", a.ConversationID)
			require.True(t, a.Flag)
			require.Nil(t, a.Limit)
		}},
		{name: "all fields", args: `{"conversationId":"c1","isTyping":false,"limit":25,"messageIds":["a","b"],"imageAttachment":{"fileId":"f","width":1920}}`,
			check: func(t *testing.T, a testArgs) {
				require.Equal(t, 25, *a.Limit)
				require.Equal(t, []string{"a", "b"}, *a.IDs)
				require.Equal(t, "f", a.Attachment.FileID)
				require.Equal(t, 1920.0, *a.Attachment.Width)
			}},
		{name: "null optional is absent", args: `{"conversationId":"c1","isTyping":true,"limit":null}`, check: func(t *testing.T, a testArgs) {
			require.Nil(t, a.Limit)
		}},
		{name: "integral float is an integer", args: `{"conversationId":"c","isTyping":true,"limit":25.0}`, check: func(t *testing.T, a testArgs) {
			require.Equal(t, 25, *a.Limit)
		}},
		{name: "missing required", args: `{"isTyping":true}`, wantErr: `Missing required argument "conversationId"`},
		{name: "unknown field", args: `{"conversationId":"c","isTyping":true,"foo":1}`, wantErr: `Unknown argument "foo"`},
		{name: "wrong type string", args: `{"conversationId":5,"isTyping":true}`, wantErr: `Argument "conversationId" must be a string, got a number`},
		{name: "wrong type int", args: `{"conversationId":"c","isTyping":true,"limit":"x"}`, wantErr: `Argument "limit" must be an integer, got a string`},
		{name: "fractional int", args: `{"conversationId":"c","isTyping":true,"limit":2.5}`, wantErr: `Argument "limit" must be an integer, got 2.5`},
		{name: "int beyond int64", args: `{"conversationId":"c","isTyping":true,"limit":1e308}`,
			wantErr: `Argument "limit" is out of range: got 1e308, want an integer from -9223372036854775808 to 9223372036854775807`},
		{name: "int just beyond int64", args: `{"conversationId":"c","isTyping":true,"limit":-9223372036854775809e3}`,
			wantErr: `Argument "limit" is out of range: got -9223372036854775809e3, want an integer from -9223372036854775808 to 9223372036854775807`},
		{name: "wrong type bool", args: `{"conversationId":"c","isTyping":"yes"}`, wantErr: `Argument "isTyping" must be a boolean, got a string`},
		{name: "null required", args: `{"conversationId":null,"isTyping":true}`, wantErr: `Argument "conversationId" must be a string, got null`},
		{name: "array element", args: `{"conversationId":"c","isTyping":true,"messageIds":["a",3]}`, wantErr: `Argument "messageIds[1]" must be a string, got a number`},
		{name: "nested missing", args: `{"conversationId":"c","isTyping":true,"imageAttachment":{}}`, wantErr: `Missing required argument "imageAttachment.fileId"`},
		{name: "nested unknown", args: `{"conversationId":"c","isTyping":true,"imageAttachment":{"fileId":"f","x":1}}`, wantErr: `Unknown field "x" in argument "imageAttachment"`},
		{name: "not an object", args: `[1]`, wantErr: `Arguments must be an object, got an array`},
		{name: "NUL in a string", args: `{"conversationId":"c\u0000","isTyping":true}`, wantErr: `Argument "conversationId" must not contain NUL characters`},
		{name: "string too long", args: `{"conversationId":"` + strings.Repeat("x", functions.MaxStringBytes+1) + `","isTyping":true}`,
			wantErr: fmt.Sprintf(`Argument "conversationId" is too long: %d bytes, at most %d`, functions.MaxStringBytes+1, functions.MaxStringBytes)},
		{name: "convex bigint is not a number", args: `{"conversationId":"c","isTyping":true,"limit":{"$integer":"GQAAAAAAAAA="}}`, wantErr: `Argument "limit" must be an integer, got an object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := f.DecodeArgs(json.RawMessage(tt.args))
			if tt.wantErr != "" {
				var we *functions.Error
				require.ErrorAs(t, err, &we)
				require.Equal(t, 400, we.Status)
				require.Equal(t, functions.CodeInvalidArgument, we.Code)
				require.Equal(t, tt.wantErr, we.Message)
				return
			}
			require.NoError(t, err)
			tt.check(t, v.Interface().(testArgs))
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := functions.NewRegistry().Lookup("shared/chat:nope")
	var we *functions.Error
	require.ErrorAs(t, err, &we)
	require.Equal(t, functions.CodeFunctionNotFound, we.Code)
	require.Equal(t, `Could not find function "shared/chat:nope"`, we.Message)
}

func TestErrorData(t *testing.T) {
	e := &functions.Error{Status: 429, Code: functions.CodeRateLimited, Message: "Too many messages", Data: map[string]any{"retryAfterMs": 1500}}
	require.Equal(t, map[string]any{"code": "rate_limited", "status": 429, "error": "Too many messages", "retryAfterMs": 1500}, e.ErrorData())
	we, internal := functions.AsError(e)
	require.False(t, internal)
	require.Same(t, e, we)
	we, internal = functions.AsError(json.Unmarshal([]byte("{"), new(any)))
	require.True(t, internal)
	require.Equal(t, "Internal server error", we.Message)
}

// FuzzDecodeArgs: arbitrary argument bytes never panic, and anything accepted
// re-encodes to arguments that decode to the same value.
func FuzzDecodeArgs(f *testing.F) {
	for _, s := range []string{`{"conversationId":"c","isTyping":true}`, `{"conversationId":"c","isTyping":true,"limit":3,"messageIds":["x"],"imageAttachment":{"fileId":"f"}}`, `[]`, `null`, `{"a":`, `"x"`} {
		f.Add([]byte(s))
	}
	r := functions.NewRegistry()
	functions.Query(r, "test:q", func(*functions.QueryCtx, testArgs) (int, error) { return 0, nil })
	fn, _ := r.Lookup("test:q")
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := fn.DecodeArgs(data)
		if err != nil {
			var we *functions.Error
			require.ErrorAs(t, err, &we)
			return
		}
		again, err := json.Marshal(v.Interface())
		require.NoError(t, err)
		v2, err := fn.DecodeArgs(again)
		require.NoError(t, err)
		require.Equal(t, v.Interface(), v2.Interface())
	})
}
