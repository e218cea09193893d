package syncclient

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
)

// The sync protocol's JSON messages, as in convex-js
// src/browser/sync/protocol.ts.

type connectMsg struct {
	Type            string  `json:"type"`
	SessionID       string  `json:"sessionId"`
	ConnectionCount int     `json:"connectionCount"`
	LastCloseReason *string `json:"lastCloseReason"`
	ClientTS        int64   `json:"clientTs"`
}

type authenticateMsg struct {
	Type        string  `json:"type"`
	TokenType   string  `json:"tokenType"`
	Value       *string `json:"value,omitempty"`
	BaseVersion uint32  `json:"baseVersion"`
}

type queryModMsg struct {
	Type    string            `json:"type"` // Add | Remove
	QueryID uint32            `json:"queryId"`
	UDFPath string            `json:"udfPath,omitempty"`
	Args    []json.RawMessage `json:"args,omitempty"`
	Journal *string           `json:"journal,omitempty"` // Add: from an earlier subscription
}

type modifyQuerySetMsg struct {
	Type          string        `json:"type"`
	BaseVersion   uint32        `json:"baseVersion"`
	NewVersion    uint32        `json:"newVersion"`
	Modifications []queryModMsg `json:"modifications"`
}

type mutationMsg struct {
	Type      string            `json:"type"`
	RequestID uint32            `json:"requestId"`
	UDFPath   string            `json:"udfPath"`
	Args      []json.RawMessage `json:"args"`
}

type versionWire struct {
	QuerySet uint32 `json:"querySet"`
	Identity uint32 `json:"identity"`
	TS       string `json:"ts"`
}

type modWire struct {
	Type         string          `json:"type"`
	QueryID      uint32          `json:"queryId"`
	Value        json.RawMessage `json:"value"`
	ErrorMessage string          `json:"errorMessage"`
	ErrorData    json.RawMessage `json:"errorData"`
	Journal      *string         `json:"journal"`
}

// serverMsg is the union of every server message's fields.
type serverMsg struct {
	Type string `json:"type"`

	// Transition
	StartVersion  *versionWire `json:"startVersion"`
	EndVersion    *versionWire `json:"endVersion"`
	Modifications []modWire    `json:"modifications"`

	// MutationResponse, ActionResponse
	RequestID *uint32         `json:"requestId"`
	Success   bool            `json:"success"`
	Result    json.RawMessage `json:"result"`
	TS        *string         `json:"ts"`
	ErrorData json.RawMessage `json:"errorData"`

	// AuthError, FatalError
	Error               string  `json:"error"`
	BaseVersion         *uint32 `json:"baseVersion"`
	AuthUpdateAttempted bool    `json:"authUpdateAttempted"`

	// TransitionChunk
	Chunk        string `json:"chunk"`
	PartNumber   int    `json:"partNumber"`
	TotalParts   int    `json:"totalParts"`
	TransitionID string `json:"transitionId"`
}

// decodeTS decodes an EncodedTS: base64 (standard or URL alphabet) of a
// little-endian u64.
func decodeTS(s string) (uint64, error) {
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 8 {
		return 0, fmt.Errorf("bad ts %q", s)
	}
	return binary.LittleEndian.Uint64(b), nil
}

func decodeVersion(w *versionWire) (Version, error) {
	ts, err := decodeTS(w.TS)
	if err != nil {
		return Version{}, err
	}
	return Version{QuerySet: w.QuerySet, Identity: w.Identity, TS: ts}, nil
}

// encodeArgs turns a call's arguments into the one-object array the
// protocol carries. nil means {}.
func encodeArgs(args any) ([]json.RawMessage, error) {
	var raw json.RawMessage
	switch a := args.(type) {
	case nil:
		raw = json.RawMessage("{}")
	case json.RawMessage:
		raw = a
	case []byte:
		raw = a
	default:
		b, err := json.Marshal(args)
		if err != nil {
			return nil, fmt.Errorf("encode args: %w", err)
		}
		raw = b
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("encode args: invalid JSON %q", raw)
	}
	return []json.RawMessage{raw}, nil
}

// decodeErrorData decodes errorData when it is an object; absent or other
// values give nil.
func decodeErrorData(raw json.RawMessage) map[string]any {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}
