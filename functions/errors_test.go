package functions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
)

// A database that cannot be reached is told apart from a bug: its errors
// cross the wire as 503 unavailable with retryAfterMs, the rest as 500.
func TestUnreachableErrors(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("acquire: %w", refused), true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"admin shutdown", fmt.Errorf("run: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"cut mid-read", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"not in prerequisite state, not at connect", &pgconn.PgError{Code: "55000"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"a bug", errors.New("nil map"), false},
		{"cancelled", fmt.Errorf("query: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"bad JSON", json.Unmarshal([]byte("{"), new(any)), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, functions.Unreachable(tt.err))
			if tt.err == nil {
				return
			}
			we, replaced := functions.AsError(tt.err)
			require.True(t, replaced)
			if tt.want {
				require.Equal(t, map[string]any{"code": "unavailable", "status": 503,
					"error": "The database is unreachable: try again shortly", "retryAfterMs": 1000}, we.ErrorData())
				require.Equal(t, slog.LevelWarn, functions.LogLevel(we), "an outage is logged as a warning")
			} else {
				require.Same(t, functions.ErrInternal, we)
				require.Equal(t, slog.LevelError, functions.LogLevel(we))
			}
		})
	}
}

// A connection lost after COMMIT was sent leaves the outcome unknown: the
// wire error says so, and that a plain resend could apply it twice.
func TestOutcomeUnknownIsUnavailableButMayHaveCommitted(t *testing.T) {
	cut := fmt.Errorf("commit: %w: %w", functions.ErrOutcomeUnknown, io.ErrUnexpectedEOF)
	require.True(t, functions.Unreachable(cut))
	we, replaced := functions.AsError(cut)
	require.True(t, replaced)
	require.Equal(t, map[string]any{"code": "unavailable", "status": 503, "mayHaveCommitted": true,
		"error":        "The database became unreachable while the mutation was committing: it may have been applied",
		"retryAfterMs": 1000}, we.ErrorData())
	require.Equal(t, slog.LevelWarn, functions.LogLevel(we))
}
