package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/reactive"
)

// The reference encoder: Transition messages as structs marshalled by
// encoding/json, the way they were encoded before appendTransition.
// appendTransition must agree with it.

type versionWire struct {
	QuerySet uint32 `json:"querySet"`
	Identity uint32 `json:"identity"`
	TS       string `json:"ts"`
}

type modWire struct {
	Type         string          `json:"type"`
	QueryID      uint32          `json:"queryId"`
	Value        json.RawMessage `json:"value,omitempty"`
	ErrorMessage string          `json:"errorMessage,omitempty"`
	ErrorData    map[string]any  `json:"errorData,omitempty"`
	LogLines     []string        `json:"logLines"`
	Journal      *string         `json:"journal,omitempty"`
}

type transitionWire struct {
	Type          string      `json:"type"`
	StartVersion  versionWire `json:"startVersion"`
	EndVersion    versionWire `json:"endVersion"`
	Modifications []modWire   `json:"modifications"`
}

func referenceTransition(t *reactive.Transition) ([]byte, error) {
	version := func(v reactive.Version) versionWire {
		return versionWire{QuerySet: v.QuerySet, Identity: v.Identity, TS: encodeTS(v.TS)}
	}
	journal := func(j string) *string {
		if j == "" {
			return nil
		}
		return &j
	}
	w := transitionWire{Type: "Transition", StartVersion: version(t.Start), EndVersion: version(t.End),
		Modifications: make([]modWire, 0, len(t.Modifications))}
	for _, m := range t.Modifications {
		switch m.Type {
		case reactive.QueryUpdated:
			v := m.Value
			if v == nil {
				v = json.RawMessage("null")
			}
			w.Modifications = append(w.Modifications, modWire{Type: "QueryUpdated", QueryID: m.QueryID, Value: v, LogLines: noLogLines, Journal: journal(m.Journal)})
		case reactive.QueryFailed:
			w.Modifications = append(w.Modifications, modWire{Type: "QueryFailed", QueryID: m.QueryID,
				ErrorMessage: m.Err.Message, ErrorData: m.Err.ErrorData(), LogLines: noLogLines, Journal: journal(m.Journal)})
		case reactive.QueryRemoved:
			w.Modifications = append(w.Modifications, modWire{Type: "QueryRemoved", QueryID: m.QueryID, LogLines: noLogLines})
		}
	}
	return json.Marshal(w)
}

// requireSameTransition checks appendTransition against the reference:
// valid JSON, the same parsed value and, for values json.Marshal produced
// (all the engine sends), the same bytes.
func requireSameTransition(t *testing.T, tr *reactive.Transition) {
	t.Helper()
	want, err := referenceTransition(tr)
	require.NoError(t, err)
	prefix := []byte("prefix:")
	got := appendTransition(prefix, tr)
	require.Equal(t, "prefix:", string(got[:len(prefix)]), "appends to buf")
	got = got[len(prefix):]
	require.True(t, json.Valid(got), "invalid JSON: %s", got)
	require.Equal(t, parse(t, want), parse(t, got))
	require.Equal(t, string(want), string(got))
}

func parse(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	require.NoError(t, d.Decode(&v), "%s", b)
	return v
}

func TestAppendTransition(t *testing.T) {
	v := reactive.Version{QuerySet: 3, Identity: 2, TS: 0x1_2345_6789}
	end := reactive.Version{QuerySet: 1<<32 - 1, Identity: 1<<32 - 1, TS: 1<<64 - 1}
	rateLimited := &functions.Error{Status: 429, Code: functions.CodeRateLimited, Message: "Too many messages",
		Data: map[string]any{"retryAfterMs": 1500, "limit": map[string]any{"per": "minute", "n": 30}}}
	tests := []struct {
		name string
		t    reactive.Transition
	}{
		{"empty", reactive.Transition{}},
		{"versions only", reactive.Transition{Start: v, End: end}},
		{"updated", reactive.Transition{Start: v, End: end, Modifications: []reactive.Modification{
			{Type: reactive.QueryUpdated, QueryID: 3, Value: json.RawMessage(`{"a":[1,2.5,"x"],"b":null}`)}}}},
		{"nil value is null", reactive.Transition{Modifications: []reactive.Modification{
			{Type: reactive.QueryUpdated, QueryID: 1}}}},
		{"scalar values", reactive.Transition{Modifications: []reactive.Modification{
			{Type: reactive.QueryUpdated, QueryID: 1, Value: json.RawMessage(`0`)},
			{Type: reactive.QueryUpdated, QueryID: 2, Value: json.RawMessage(`"s"`)},
			{Type: reactive.QueryUpdated, QueryID: 3, Value: json.RawMessage(`false`)},
			{Type: reactive.QueryUpdated, QueryID: 4, Value: json.RawMessage(`[]`)}}}},
		{"journal", reactive.Transition{Modifications: []reactive.Modification{
			{Type: reactive.QueryUpdated, QueryID: 1, Value: json.RawMessage(`[]`), Journal: `{"cursor":"m1","end":"m9"}`}}}},
		{"failed with error data", reactive.Transition{Modifications: []reactive.Modification{
			{Type: reactive.QueryFailed, QueryID: 9, Err: rateLimited, Journal: "j"}}}},
		{"failed, data overriding code", reactive.Transition{Modifications: []reactive.Modification{
			{Type: reactive.QueryFailed, QueryID: 9, Err: &functions.Error{Status: 403, Code: functions.CodeForbidden, Message: "No",
				Data: map[string]any{"code": "shadowed", "error": "shadowed"}}}}}},
		{"failed, empty message", reactive.Transition{Modifications: []reactive.Modification{
			{Type: reactive.QueryFailed, QueryID: 9, Err: &functions.Error{Status: 500, Code: functions.CodeInternal}}}}},
		{"failed, message needing escapes", reactive.Transition{Modifications: []reactive.Modification{
			{Type: reactive.QueryFailed, QueryID: 9, Err: &functions.Error{Status: 400, Code: functions.CodeInvalidArgument,
				Message: "bad \"name\"\n\t\\ <script>&amp; \x00\x01\x1f\x7f \u2028\u2029 é 👍 \xff\xfe end"}}}}},
		{"removed", reactive.Transition{Modifications: []reactive.Modification{
			{Type: reactive.QueryRemoved, QueryID: 4, Journal: "not sent"}}}},
		{"unknown type skipped", reactive.Transition{Modifications: []reactive.Modification{
			{Type: 0, QueryID: 1}, {Type: reactive.QueryRemoved, QueryID: 2}, {Type: 99, QueryID: 3}, {Type: reactive.QueryRemoved, QueryID: 4}}}},
		{"mixed", reactive.Transition{Start: v, End: end, Modifications: []reactive.Modification{
			{Type: reactive.QueryUpdated, QueryID: 0, Value: json.RawMessage(`{"unread":3}`)},
			{Type: reactive.QueryFailed, QueryID: 1, Err: chat.ErrConversationNotFound},
			{Type: reactive.QueryRemoved, QueryID: 2},
			{Type: reactive.QueryUpdated, QueryID: 3, Value: json.RawMessage(`{"messages":[]}`), Journal: "c"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireSameTransition(t, &tt.t)
		})
	}
}

// TestAppendTransitionEmptyValue documents the one difference from the
// reference: an empty (non-nil) value, which the engine never produces, is
// sent as null instead of being left out.
func TestAppendTransitionEmptyValue(t *testing.T) {
	got := appendTransition(nil, &reactive.Transition{Modifications: []reactive.Modification{
		{Type: reactive.QueryUpdated, QueryID: 1, Value: json.RawMessage{}}}})
	require.JSONEq(t, `{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},
		"endVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},
		"modifications":[{"type":"QueryUpdated","queryId":1,"value":null,"logLines":[]}]}`, string(got))
}

// TestAppendTransitionRandom compares appendTransition with the reference
// on random transitions: values as the engine makes them (json.Marshal of
// random documents), failures with random errorData, removals, journals
// and error messages drawn from characters that need escaping.
func TestAppendTransitionRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		tr := randomTransition(r)
		t.Run(fmt.Sprint(i), func(t *testing.T) { requireSameTransition(t, tr) })
		if t.Failed() {
			return
		}
	}
}

var trickyRunes = []rune{'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\r', '\t', '\b', '\f', 0, 1, 0x1f, 0x7f,
	'<', '>', '&', '\'', 'é', 'ß', '€', '中', '👍', '\u2028', '\u2029', '\ufeff', '\ufffd', 0x10ffff}

func randomString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(24) {
		if r.IntN(20) == 0 {
			b.WriteByte(byte(0x80 + r.IntN(0x80))) // invalid UTF-8
			continue
		}
		b.WriteRune(trickyRunes[r.IntN(len(trickyRunes))])
	}
	return b.String()
}

func randomDocument(r *rand.Rand, depth int) any {
	switch k := r.IntN(8); {
	case depth > 3 || k == 0:
		switch r.IntN(5) {
		case 0:
			return nil
		case 1:
			return r.IntN(2) == 0
		case 2:
			return r.Int64() - r.Int64()
		case 3:
			return r.NormFloat64() * 1e6
		}
		return randomString(r)
	case k < 4:
		m := map[string]any{}
		for range r.IntN(5) {
			m[randomString(r)] = randomDocument(r, depth+1)
		}
		return m
	case k < 6:
		a := make([]any, r.IntN(5))
		for i := range a {
			a[i] = randomDocument(r, depth+1)
		}
		return a
	}
	return randomString(r)
}

func randomTransition(r *rand.Rand) *reactive.Transition {
	version := func() reactive.Version {
		return reactive.Version{QuerySet: r.Uint32(), Identity: r.Uint32(), TS: reactive.LSN(r.Uint64())}
	}
	maybe := func(s string) string {
		if r.IntN(2) == 0 {
			return ""
		}
		return s
	}
	t := &reactive.Transition{Start: version(), End: version()}
	for range r.IntN(6) {
		m := reactive.Modification{QueryID: r.Uint32(), Journal: maybe(randomString(r))}
		switch r.IntN(3) {
		case 0:
			m.Type = reactive.QueryUpdated
			if r.IntN(10) > 0 {
				v, err := json.Marshal(randomDocument(r, 0))
				if err != nil {
					panic(err)
				}
				m.Value = v
			}
		case 1:
			m.Type = reactive.QueryFailed
			m.Err = &functions.Error{Status: 400 + r.IntN(200), Code: maybe(randomString(r)), Message: maybe(randomString(r))}
			if r.IntN(2) == 0 {
				m.Err.Data, _ = randomDocument(r, 2).(map[string]any)
			}
		default:
			m.Type = reactive.QueryRemoved
		}
		t.Modifications = append(t.Modifications, m)
	}
	return t
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" backslash\\ nl\n", "<a href='x'>&</a>", "\x00\x1f\x7f",
		"\u2028\u2029", "é👍", "\xff", "a\xe2\x80", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendString(nil, s)))
	})
}

// FuzzAppendTransition builds a transition from fuzzed strings and a fuzzed
// (valid) value and compares it with the reference, parsed.
func FuzzAppendTransition(f *testing.F) {
	f.Add(`{"a":1}`, "journal", "message", uint32(7), uint8(0))
	f.Add(` [ 1 , "x" ] `, "", "bad \"x\"\n", uint32(1<<31), uint8(1))
	f.Add(`"<&>"`, "\u2028", "\xff", uint32(0), uint8(2))
	f.Fuzz(func(t *testing.T, value, journal, message string, qid uint32, kind uint8) {
		if !json.Valid([]byte(value)) {
			t.Skip()
		}
		m := reactive.Modification{QueryID: qid, Journal: journal}
		switch kind % 3 {
		case 0:
			m.Type, m.Value = reactive.QueryUpdated, json.RawMessage(value)
		case 1:
			m.Type, m.Err = reactive.QueryFailed, &functions.Error{Status: 400, Code: "c", Message: message,
				Data: map[string]any{"detail": message}}
		default:
			m.Type = reactive.QueryRemoved
		}
		tr := &reactive.Transition{End: reactive.Version{QuerySet: qid, TS: reactive.LSN(qid)},
			Modifications: []reactive.Modification{m, {Type: reactive.QueryRemoved, QueryID: qid + 1}}}
		want, err := referenceTransition(tr)
		require.NoError(t, err)
		got := appendTransition(nil, tr)
		require.True(t, json.Valid(got), "invalid JSON: %q", got)
		require.Equal(t, parse(t, want), parse(t, got))
	})
}
