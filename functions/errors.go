package functions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
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

// ErrUnavailable answers a call that failed because the database could not
// be reached (a connection refused, cut or shut down): the caller's fault
// it is not, nor a bug, and the same call may succeed shortly.
var ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
	Message: "The database is unreachable: try again shortly", Data: map[string]any{"retryAfterMs": unavailableRetryMs}}

// ErrOutcomeUnavailable answers a mutation whose connection was lost after
// its COMMIT was sent (ErrOutcomeUnknown) and that could not be looked up
// again before the grace ran out: it may have committed, so a client must
// not simply send it again.
var ErrOutcomeUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
	Message: "The database became unreachable while the mutation was committing: it may have been applied",
	Data:    map[string]any{"retryAfterMs": unavailableRetryMs, "mayHaveCommitted": true}}

// unavailableRetryMs is the retryAfterMs of ErrUnavailable: about one of
// the replication source's reconnect attempts.
const unavailableRetryMs = 1000

// AsError returns err as a wire error: itself when it is one, ErrUnavailable
// when the database could not be reached, else ErrInternal. replaced
// reports whether err was replaced (so the caller can log it once).
func AsError(err error) (e *Error, replaced bool) {
	if errors.As(err, &e) {
		return e, false
	}
	if Unreachable(err) {
		if errors.Is(err, ErrOutcomeUnknown) {
			return ErrOutcomeUnavailable, true
		}
		return ErrUnavailable, true
	}
	return ErrInternal, true
}

// LogLevel is the level at which a transport logs an error AsError
// replaced by we: a database outage is a warning (expected, and logged per
// call while it lasts), anything else an error.
func LogLevel(we *Error) slog.Level {
	if we == ErrUnavailable || we == ErrOutcomeUnavailable {
		return slog.LevelWarn
	}
	return slog.LevelError
}

// Unreachable reports whether err says the database could not be reached
// or went away: a failed connect, a connection cut or closed, the server
// shutting down or not accepting connections (SQLSTATE class 08, 57P01–03,
// and 55000 when a connect is refused with it).
// Errors of the statements themselves, and a cancelled or expired context,
// are not.
func Unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		case "55000": // at connect: the database is not accepting connections (ALLOW_CONNECTIONS false)
			return errors.As(err, &connectErr)
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection_exception
	}
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
