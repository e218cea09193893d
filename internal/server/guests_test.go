package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/guestauth"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
)

// postGuest asks srv for a guest token from the local address from (a
// loopback address: 127.0.0.0/8 is all this machine's).
func postGuest(t *testing.T, srv, from, body string) (int, http.Header, map[string]any) {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(srv+guestauth.Path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, resp.Header, out
}

// POST /api/guest on the real server: the token it answers authenticates
// a sync client as the guest, who opens its support conversation.
func TestGuestEndpoint(t *testing.T) {
	s := parleytest.Start(t)
	status, _, out := postGuest(t, s.URL, "127.0.0.1", `{"name": "Widget visitor"}`)
	require.Equal(t, 200, status, out)
	require.Equal(t, "Widget visitor", out["name"])
	require.True(t, strings.HasPrefix(out["guestId"].(string), "guest_"))

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := s.DialToken(t, syncclient.Options{Token: out["token"].(string)})
	v, err := c.Mutation(ctx, "shared/chat:createOrGetConversation", map[string]any{})
	require.NoError(t, err)
	require.Contains(t, string(v), `"customer_to_admin"`)
	_, err = c.Mutation(ctx, "shared/chat:generateUploadUrl", map[string]any{})
	var fe *syncclient.FunctionError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "Guests can only chat with support: sign in to do this", fe.Message)

	// A bad body names its field.
	status, _, out = postGuest(t, s.URL, "127.0.0.1", `{"name": 7}`)
	require.Equal(t, 400, status)
	require.Equal(t, "name must be a string, got number", out["error"])
}

// The limit is per address: one address spends its burst and gets 429
// with Retry-After; another address still gets tokens.
func TestGuestEndpointRateLimit(t *testing.T) {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.Guests.PerSecond, cfg.Guests.Burst = 0.01, 2
	})
	for range 2 {
		status, _, out := postGuest(t, s.URL, "127.0.0.1", "")
		require.Equal(t, 200, status, out)
	}
	status, header, out := postGuest(t, s.URL, "127.0.0.1", "")
	require.Equal(t, 429, status)
	require.NotEmpty(t, header.Get("Retry-After"))
	require.Contains(t, out["error"], "Too many guest tokens from this address")
	require.Greater(t, out["retryAfterMs"], float64(90_000))

	status, _, out = postGuest(t, s.URL, "127.0.0.2", "")
	require.Equal(t, 200, status, "another address is not held back: %v", out)
}

// With guests off the endpoint says so, and so does claimGuestThreads.
func TestGuestEndpointDisabled(t *testing.T) {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) { cfg.Guests.Key = nil })
	status, _, out := postGuest(t, s.URL, "127.0.0.1", "")
	require.Equal(t, 403, status)
	require.Equal(t, "Guest access is disabled on this server", out["error"])

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := s.Dial(t, parleytest.John, syncclient.Options{})
	_, err := c.Mutation(ctx, "shared/chat:claimGuestThreads", map[string]any{"guestToken": "x.y.z"})
	var fe *syncclient.FunctionError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "Guest access is disabled", fe.Message)
}
