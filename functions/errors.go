package functions

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is the one error type that crosses the wire. Its Code and Message
// are stable: clients branch on them. Transports put it in errorData as
// {"code", "status", "error", ...Data}; any other error a function returns
// becomes ErrInternal there, and its text is logged, never sent.
type Error struct {
	Status  int            // HTTP-style status: 400, 401, 403, 404, 409, 429, 500
	Code    string         // machine-readable: "not_found", "forbidden", …
	Message string         // the human message, e.g. "Conversation not found"
	Data    map[string]any // extra fields for errorData, e.g. retryAfterMs
}

func (e *Error) Error() string { return e.Message }

// ErrorData is the errorData object clients receive.
func (e *Error) ErrorData() map[string]any {
	out := make(map[string]any, 3+len(e.Data))
	for k, v := range e.Data {
		out[k] = v
	}
	out["code"] = e.Code
	out["status"] = e.Status
	out["error"] = e.Message
	return out
}

// Error codes.
const (
	CodeInvalidArgument  = "invalid_argument"
	CodeUnauthenticated  = "unauthenticated"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
	CodeFunctionNotFound = "function_not_found"
)

// ErrorCodes lists every code above, for generated client types.
var ErrorCodes = []string{CodeInvalidArgument, CodeUnauthenticated, CodeForbidden, CodeNotFound, CodeConflict,
	CodeRateLimited, CodeUnavailable, CodeInternal, CodeFunctionNotFound}

// The errors every function shares.
var (
	ErrNotAuthenticated = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: "Not authenticated"}
	ErrInternal         = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal server error"}
)

// Invalid returns a 400 error with a message that names what is wrong.
func Invalid(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// Forbidden returns a 403 error.
func Forbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: msg}
}

// NotFound returns a 404 error: a row the caller may not see is reported
// as one that does not exist.
func NotFound(msg string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: msg}
}

// Conflict returns a 409 error.
func Conflict(msg string) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: msg}
}

// AsError returns err as a wire error: itself when it is one, else
// ErrInternal. internal reports whether err was replaced (so the caller can
// log it once).
func AsError(err error) (e *Error, internal bool) {
	if errors.As(err, &e) {
		return e, false
	}
	return ErrInternal, true
}
