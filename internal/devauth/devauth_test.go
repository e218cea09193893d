package devauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/devauth"
)

func TestTokenEndpoint(t *testing.T) {
	secret := []byte(strings.Repeat("s", jwtauth.MinSecretLen))
	mux := http.NewServeMux()
	devauth.Register(mux, secret, time.Hour)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	verifier, err := jwtauth.New(context.Background(), jwtauth.Config{HS256Secret: secret})
	require.NoError(t, err)

	resp, err := http.Get(srv.URL + devauth.IdentitiesPath)
	require.NoError(t, err)
	var ids []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ids))
	resp.Body.Close()
	require.Len(t, ids, len(devauth.Identities))
	require.Equal(t, "john", ids[0]["key"])
	require.Equal(t, "cust123456789", ids[0]["sub"])

	byKey := func(key string) functions.Identity {
		id, ok := devauth.Lookup(key)
		require.True(t, ok, key)
		return id.Identity
	}
	tests := []struct {
		name, body, origin string
		status             int
		want               functions.Identity
	}{
		{"by key", `{"identity":"pizza"}`, "", 200, byKey("pizza")},
		{"by id", `{"identity":"admin987654321"}`, "", 200, byKey("alex")},
		{"same origin", `{"identity":"john"}`, srv.URL, 200, byKey("john")},
		{"other origin", `{"identity":"john"}`, "http://evil.example", 403, functions.Identity{}},
		{"unknown", `{"identity":"root"}`, "", 404, functions.Identity{}},
		{"bad body", `{`, "", 400, functions.Identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", srv.URL+devauth.TokenPath, strings.NewReader(tt.body))
			require.NoError(t, err)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var out struct {
				Token string `json:"token"`
				Error string `json:"error"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
			require.Equal(t, tt.status, resp.StatusCode, out.Error)
			if tt.status != 200 {
				require.NotEmpty(t, out.Error)
				return
			}
			got, err := verifier.Verify(t.Context(), out.Token)
			require.NoError(t, err)
			got.ExpiresAt = time.Time{}
			require.Equal(t, tt.want, *got)
		})
	}
}

// The sign-in answers only this machine: not a request from the network
// (parley dev --addr 0.0.0.0), and not a DNS-rebinding page that reaches
// 127.0.0.1 under a name of its own.
func TestTokenEndpointIsLocalOnly(t *testing.T) {
	secret := []byte(strings.Repeat("s", jwtauth.MinSecretLen))
	mux := http.NewServeMux()
	devauth.Register(mux, secret, time.Hour)
	tests := []struct {
		name, remote, host, origin string
		status                     int
	}{
		{"loopback", "127.0.0.1:5000", "127.0.0.1:3210", "", 200},
		{"localhost name", "127.0.0.1:5000", "localhost:3210", "http://localhost:3210", 200},
		{"ipv6 loopback", "[::1]:5000", "[::1]:3210", "", 200},
		{"from the network", "192.0.2.7:5000", "192.0.2.1:3210", "", 403},
		{"rebinding page", "127.0.0.1:5000", "evil.example:3210", "http://evil.example:3210", 403},
		{"through a local proxy", "127.0.0.1:5000", "localhost:3210", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{devauth.TokenPath, devauth.IdentitiesPath} {
				method := "POST"
				if path == devauth.IdentitiesPath {
					method = "GET"
				}
				req := httptest.NewRequest(method, "http://"+tt.host+path, strings.NewReader(`{"identity":"john"}`))
				req.RemoteAddr = tt.remote
				if tt.origin != "" {
					req.Header.Set("Origin", tt.origin)
				}
				if tt.name == "through a local proxy" {
					req.Header.Set("X-Forwarded-For", "192.0.2.7")
				}
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				require.Equal(t, tt.status, rec.Code, "%s %s: %s", method, path, rec.Body.String())
				if tt.status == 403 {
					require.Regexp(t, "only requests from this machine|through a proxy", rec.Body.String())
				}
			}
		})
	}
}
