package reactive

import (
	"encoding/json"
	"errors"

	"github.com/parley-chat/parley/functions"
)

// Version is a session's state as the client knows it: its query set
// version, identity version and timestamp (a WAL position).
type Version struct {
	QuerySet uint32
	Identity uint32
	TS       LSN
}

// ModType is the kind of a query modification in a transition.
type ModType uint8

// Modification kinds.
const (
	QueryUpdated ModType = iota + 1
	QueryFailed
	QueryRemoved
)

// Modification is one query's change in a transition.
type Modification struct {
	Type    ModType
	QueryID uint32
	Value   json.RawMessage  // QueryUpdated
	Err     *functions.Error // QueryFailed
	Journal string           // QueryUpdated, QueryFailed: "" means none
}

// Transition moves the client from Start to End with Modifications.
type Transition struct {
	Start, End    Version
	Modifications []Modification
}

// GetModifications returns t's modifications; nil t has none.
func (t *Transition) GetModifications() []Modification {
	if t == nil {
		return nil
	}
	return t.Modifications
}

// MutationResponse answers a Mutation. On success TS is the WAL position of
// the commit; it is sent only once the session's ts has reached it.
type MutationResponse struct {
	RequestID uint32
	Success   bool
	Value     json.RawMessage
	Err       *functions.Error
	TS        LSN
}

// ActionResponse answers an Action.
type ActionResponse struct {
	RequestID uint32
	Err       *functions.Error
}

// AuthError reports a rejected token.
type AuthError struct {
	Message             string
	BaseVersion         uint32
	AuthUpdateAttempted bool
}

// FatalError reports a protocol violation; the connection is closed after it.
type FatalError struct{ Message string }

// Status is Parley's own message, not the Convex protocol's: it tells a
// session that asked for it (SessionConfig.Status) whether its live
// results may lag the database (Engine.Stale).
type Status struct{ Stale bool }

// Outbox is what a session's writer sends next, in order: Messages, then
// the transition (if any). Close, when set, is the reason to close the
// connection after sending.
type Outbox struct {
	Transition *Transition
	Messages   []any // *Status, *MutationResponse, *ActionResponse, *AuthError, *FatalError
	Close      string
}

// QueryAdd is an Add in a ModifyQuerySet.
type QueryAdd struct {
	QueryID uint32
	UDFPath string
	Args    json.RawMessage
	Journal string // from an earlier subscription of the same query, or ""
}

// CloseAuthFailed is the close reason after an AuthError.
const CloseAuthFailed = "authentication failed"

// ErrProtocol wraps client protocol violations: the transport answers them
// with a FatalError and closes the connection.
var ErrProtocol = errors.New("protocol error")
