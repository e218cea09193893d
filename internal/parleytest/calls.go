package parleytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
)

// Must decodes a call's JSON result into a T, failing t on an error:
// Must[T](t)(engine.Query(…)).
func Must[T any](t testing.TB) func(json.RawMessage, error) T {
	return func(raw json.RawMessage, err error) T {
		t.Helper()
		require.NoError(t, err)
		var v T
		require.NoError(t, json.Unmarshal(raw, &v))
		return v
	}
}

// Status is the HTTP-style status of a call's outcome: 200 for no error,
// else the *functions.Error's, or over a sync client the status its
// error's data carries. Any other error fails t.
func Status(t testing.TB, err error) int {
	t.Helper()
	if err == nil {
		return http.StatusOK
	}
	var we *functions.Error
	if errors.As(err, &we) {
		return we.Status
	}
	var fe *syncclient.FunctionError
	if errors.As(err, &fe) {
		if s, ok := fe.Data["status"].(float64); ok {
			return int(s)
		}
	}
	t.Fatalf("not a function error: %v", err)
	return 0
}

// Watch subscribes c to query name with args and returns a function that
// waits (up to within) until the latest result, decoded into a T,
// satisfies ok, and returns it; what names the wait in the failure.
func Watch[T any](t testing.TB, c *syncclient.Client, within time.Duration, name string, args any) func(what string, ok func(T) bool) T {
	sub, err := c.Subscribe(name, args)
	require.NoError(t, err)
	return func(what string, ok func(T) bool) T {
		t.Helper()
		var v T
		pgtest.Eventually(t, within, func() error {
			raw, errData, got := sub.Latest()
			if !got {
				return errors.New("no result yet")
			}
			if errData != nil {
				return fmt.Errorf("query failed: %v", errData)
			}
			var cur T
			if err := json.Unmarshal(raw, &cur); err != nil {
				return err
			}
			if !ok(cur) {
				return fmt.Errorf("%s: not yet: %.300s", what, raw)
			}
			v = cur
			return nil
		})
		return v
	}
}
