package transport

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

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

type versionWire struct {
	QuerySet uint32 `json:"querySet"`
	Identity uint32 `json:"identity"`
	TS       string `json:"ts"`
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

func version(v reactive.Version) versionWire {
	return versionWire{QuerySet: v.QuerySet, Identity: v.Identity, TS: encodeTS(v.TS)}
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

var noLogLines = []string{}

func journal(j string) *string {
	if j == "" {
		return nil
	}
	return &j
}

func encodeTransition(t *reactive.Transition) ([]byte, error) {
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
