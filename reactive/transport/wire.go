package transport

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/reactive"
)

// The Convex sync protocol's JSON messages. Field names follow the
// official client (convex-js, src/browser/sync/protocol.ts).

type clientMessage struct {
	Type string `json:"type"`

	// Connect
	SessionID       string `json:"sessionId"`
	ConnectionCount int    `json:"connectionCount"`

	// ModifyQuerySet, Authenticate
	BaseVersion   *uint32           `json:"baseVersion"`
	NewVersion    uint32            `json:"newVersion"`
	Modifications []queryModWire    `json:"modifications"`
	TokenType     string            `json:"tokenType"`
	Value         *string           `json:"value"`
	RequestID     *uint32           `json:"requestId"`
	UDFPath       string            `json:"udfPath"`
	Args          []json.RawMessage `json:"args"`
	ComponentPath *string           `json:"componentPath"`
}

type queryModWire struct {
	Type          string            `json:"type"` // Add | Remove
	QueryID       uint32            `json:"queryId"`
	UDFPath       string            `json:"udfPath"`
	Args          []json.RawMessage `json:"args"`
	Journal       *string           `json:"journal"`
	ComponentPath *string           `json:"componentPath"`
}

// encodeTS encodes a u64 the way the client expects: 8 bytes little-endian,
// base64.
func encodeTS(ts reactive.LSN) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(ts))
	return base64.StdEncoding.EncodeToString(b[:])
}

func decodeTS(s string) (reactive.LSN, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 8 {
		return 0, fmt.Errorf("bad timestamp %q", s)
	}
	return reactive.LSN(binary.LittleEndian.Uint64(b)), nil
}

var noLogLines = []string{}

// Transitions are appended to a buffer by hand rather than built as structs
// and marshalled: one is encoded per session per push, so a result watched
// by 1,000 sessions is encoded 1,000 times, and json.Marshal would validate
// and compact every value again each time (about 200 MB/s).
//
// Invariant: a Modification's Value is valid JSON. The engine makes every
// result value with json.Marshal (reactive's runOne), so it is appended
// verbatim, unchecked; an empty Value is sent as null. Everything else in a
// transition is encoded here: strings with encoding/json's escaping.

// appendTransition appends t's Transition message to buf. For values
// json.Marshal made, its output is the same, byte for byte, as
// marshalling the message as structs with encoding/json (wire_test.go
// keeps that encoder as the reference).
func appendTransition(buf []byte, t *reactive.Transition) []byte {
	buf = slices.Grow(buf, transitionSize(t))
	buf = append(buf, `{"type":"Transition","startVersion":`...)
	buf = appendVersion(buf, t.Start)
	buf = append(buf, `,"endVersion":`...)
	buf = appendVersion(buf, t.End)
	buf = append(buf, `,"modifications":[`...)
	first := true
	for i := range t.Modifications {
		m := &t.Modifications[i]
		var kind string
		switch m.Type {
		case reactive.QueryUpdated:
			kind = "QueryUpdated"
		case reactive.QueryFailed:
			kind = "QueryFailed"
		case reactive.QueryRemoved:
			kind = "QueryRemoved"
		default:
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, `{"type":"`...)
		buf = append(buf, kind...)
		buf = append(buf, `","queryId":`...)
		buf = strconv.AppendUint(buf, uint64(m.QueryID), 10)
		switch m.Type {
		case reactive.QueryUpdated:
			buf = append(buf, `,"value":`...)
			if len(m.Value) == 0 {
				buf = append(buf, "null"...)
			} else {
				buf = append(buf, m.Value...)
			}
		case reactive.QueryFailed:
			if m.Err.Message != "" {
				buf = append(buf, `,"errorMessage":`...)
				buf = appendString(buf, m.Err.Message)
			}
			buf = append(buf, `,"errorData":`...)
			buf = appendErrorData(buf, m.Err)
		}
		buf = append(buf, `,"logLines":[]`...)
		if m.Journal != "" && m.Type != reactive.QueryRemoved {
			buf = append(buf, `,"journal":`...)
			buf = appendString(buf, m.Journal)
		}
		buf = append(buf, '}')
	}
	return append(buf, "]}"...)
}

// transitionSize estimates t's encoded length, so the buffer grows once.
func transitionSize(t *reactive.Transition) int {
	n := 192
	for i := range t.Modifications {
		m := &t.Modifications[i]
		n += 64 + len(m.Value) + len(m.Journal) + len(m.Journal)/8
		if m.Err != nil {
			n += 96 + 2*len(m.Err.Message)
		}
	}
	return n
}

// appendVersion appends {"querySet":…,"identity":…,"ts":…}.
func appendVersion(buf []byte, v reactive.Version) []byte {
	buf = append(buf, `{"querySet":`...)
	buf = strconv.AppendUint(buf, uint64(v.QuerySet), 10)
	buf = append(buf, `,"identity":`...)
	buf = strconv.AppendUint(buf, uint64(v.Identity), 10)
	buf = append(buf, `,"ts":"`...)
	var ts [8]byte
	binary.LittleEndian.PutUint64(ts[:], uint64(v.TS))
	buf = base64.StdEncoding.AppendEncode(buf, ts[:])
	return append(buf, `"}`...)
}

// appendErrorData appends e's errorData object, keys sorted as
// encoding/json sorts a map's. With extra Data it is marshalled; should
// Data hold something JSON cannot encode, the client still gets code,
// status and error rather than a dropped connection.
func appendErrorData(buf []byte, e *functions.Error) []byte {
	if len(e.Data) == 0 {
		buf = append(buf, `{"code":`...)
		buf = appendString(buf, e.Code)
		buf = append(buf, `,"error":`...)
		buf = appendString(buf, e.Message)
		buf = append(buf, `,"status":`...)
		buf = strconv.AppendInt(buf, int64(e.Status), 10)
		return append(buf, '}')
	}
	b, err := json.Marshal(e.ErrorData())
	if err != nil {
		b, _ = json.Marshal((&functions.Error{Status: e.Status, Code: e.Code, Message: e.Message}).ErrorData())
	}
	return append(buf, b...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped exactly as
// encoding/json escapes it: quotes, backslashes and control characters,
// <, > and & (HTML-safe), U+2028 and U+2029; invalid UTF-8 becomes U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

type mutationResponseWire struct {
	Type      string          `json:"type"`
	RequestID uint32          `json:"requestId"`
	Success   bool            `json:"success"`
	Result    json.RawMessage `json:"result"`
	TS        string          `json:"ts,omitempty"`
	LogLines  []string        `json:"logLines"`
	ErrorData map[string]any  `json:"errorData,omitempty"`
}

type authErrorWire struct {
	Type                string `json:"type"`
	Error               string `json:"error"`
	BaseVersion         uint32 `json:"baseVersion"`
	AuthUpdateAttempted bool   `json:"authUpdateAttempted"`
}

type fatalErrorWire struct {
	Type  string `json:"type"`
	Error string `json:"error"`
}

// statusWire is Parley's ParleyStatus message, sent only to clients that
// opted in (see statusQuery): the official Convex client would take an
// unknown message type for a protocol error.
type statusWire struct {
	Type  string `json:"type"`
	Stale bool   `json:"stale"`
}

func errorResult(e *functions.Error) json.RawMessage {
	b, _ := json.Marshal(e.Message)
	return b
}

func encodeMessage(m any) ([]byte, error) {
	switch m := m.(type) {
	case *reactive.MutationResponse:
		w := mutationResponseWire{Type: "MutationResponse", RequestID: m.RequestID, Success: m.Success, LogLines: noLogLines}
		if m.Success {
			w.Result, w.TS = m.Value, encodeTS(m.TS)
			if w.Result == nil {
				w.Result = json.RawMessage("null")
			}
		} else {
			w.Result, w.ErrorData = errorResult(m.Err), m.Err.ErrorData()
		}
		return json.Marshal(w)
	case *reactive.ActionResponse:
		w := mutationResponseWire{Type: "ActionResponse", RequestID: m.RequestID, LogLines: noLogLines,
			Result: errorResult(m.Err), ErrorData: m.Err.ErrorData()}
		return json.Marshal(w)
	case *reactive.AuthError:
		return json.Marshal(authErrorWire{Type: "AuthError", Error: m.Message, BaseVersion: m.BaseVersion, AuthUpdateAttempted: m.AuthUpdateAttempted})
	case *reactive.FatalError:
		return json.Marshal(fatalErrorWire{Type: "FatalError", Error: m.Message})
	case *reactive.Status:
		return json.Marshal(statusWire{Type: "ParleyStatus", Stale: m.Stale})
	}
	return nil, fmt.Errorf("unknown message %T", m)
}

// singleArg unwraps the client's args array, which holds one object.
func singleArg(args []json.RawMessage) (json.RawMessage, error) {
	switch len(args) {
	case 0:
		return json.RawMessage("{}"), nil
	case 1:
		return args[0], nil
	}
	return nil, functions.Invalid("Expected one arguments object, got %d", len(args))
}
