package guestauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/clientip"
	"github.com/parley-chat/parley/internal/guestauth"
)

var (
	guestKey = []byte("guestauth-tests-guest-key-012345")
	secret   = []byte("guestauth-tests-hs256-secret-0123")
)

// clock is a settable time source. Safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newMux(t *testing.T, cfg guestauth.Config) *http.ServeMux {
	t.Helper()
	s, err := guestauth.New(cfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

// post sends a token request from remote with body and decodes the answer.
func post(t *testing.T, mux http.Handler, remote, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", guestauth.Path, strings.NewReader(body))
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	return rec, out
}

func TestGuestToken(t *testing.T) {
	verifier, err := jwtauth.New(context.Background(), jwtauth.Config{HS256Secret: secret, GuestKey: guestKey})
	require.NoError(t, err)
	mux := newMux(t, guestauth.Config{Key: guestKey, TTL: 2 * time.Hour, PerSecond: -1})

	tests := []struct {
		name, body string
		wantName   string // "" : the default, "Guest " and four hex digits
		wantOrg    string
	}{
		{"no body", "", "", ""},
		{"empty object", "{}", "", ""},
		{"a name", `{"name": "  Ada  "}`, "Ada", ""},
		{"an empty name", `{"name": ""}`, "", ""},
		{"an org", `{"org": "acme"}`, "", "acme"},
		{"null fields", `{"name": null, "org": null}`, "", ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, out := post(t, mux, "192.0.2.1:4000", tt.body)
			require.Equal(t, 200, rec.Code, out)
			require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			id, err := verifier.Verify(t.Context(), out["token"].(string))
			require.NoError(t, err)
			require.Equal(t, functions.RoleGuest, id.Role)
			require.Equal(t, out["guestId"], id.Subject)
			require.True(t, strings.HasPrefix(id.Subject, jwtauth.GuestSubjectPrefix))
			require.False(t, seen[id.Subject], "every token is a new guest")
			seen[id.Subject] = true
			want := tt.wantName
			if want == "" {
				want = "Guest " + id.Subject[len(jwtauth.GuestSubjectPrefix):][:4]
			}
			require.Equal(t, want, id.Name)
			require.Equal(t, want, out["name"])
			require.Equal(t, tt.wantOrg, id.Org)
			// Accepted until the token's exp and the verifier's leeway.
			exp := id.ExpiresAt.Add(-jwtauth.DefaultLeeway)
			require.WithinDuration(t, time.Now().Add(2*time.Hour), exp, 2*time.Second)
			require.InDelta(t, float64(exp.UnixMilli()), out["expiresAt"], 1000, "the answer's expiresAt is the token's exp")
		})
	}
}

func TestGuestTokenBadBodies(t *testing.T) {
	mux := newMux(t, guestauth.Config{Key: guestKey, PerSecond: -1})
	tests := []struct{ name, body, message string }{
		{"not JSON", "{", `body must be a JSON object: {"name"?: string, "org"?: string}`},
		{"an array", "[]", `body must be a JSON object: {"name"?: string, "org"?: string}`},
		{"two objects", "{} {}", `body must be one JSON object: {"name"?: string, "org"?: string}`},
		{"unknown field", `{"role": "admin"}`, `body has an unknown field "role" (it may have name and org)`},
		{"name not a string", `{"name": 7}`, "name must be a string, got number"},
		{"org not a string", `{"org": true}`, "org must be a string, got bool"},
		{"name too long", `{"name": "` + strings.Repeat("é", guestauth.MaxNameChars+1) + `"}`, "name must be at most 100 characters, got 101"},
		{"name with a control character", `{"name": "a\u0007b"}`, "name must have no control characters"},
		{"org with a space", `{"org": "acme market"}`, "org must have no spaces or control characters"},
		{"org too long", `{"org": "` + strings.Repeat("o", jwtauth.MaxOrgLen+1) + `"}`, "org must be at most 128 bytes, got 129"},
		{"body too large", `{"name": "` + strings.Repeat("x", 5000) + `"}`, "body must be at most 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, out := post(t, mux, "192.0.2.1:4000", tt.body)
			require.Equal(t, 400, rec.Code)
			require.Equal(t, tt.message, out["error"])
		})
	}
}

func TestGuestTokenDisabled(t *testing.T) {
	mux := newMux(t, guestauth.Config{})
	rec, out := post(t, mux, "192.0.2.1:4000", "")
	require.Equal(t, 403, rec.Code)
	require.Equal(t, "Guest access is disabled on this server", out["error"])
	_, err := guestauth.New(guestauth.Config{Key: []byte("short")})
	require.ErrorIs(t, err, guestauth.ErrConfig)
}

// Each address has its bucket: a burst, then one token per 1/rate; other
// addresses are not held back; an IPv6 /64 is one address.
func TestGuestTokenRateLimit(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	mux := newMux(t, guestauth.Config{Key: guestKey, PerSecond: 0.5, Burst: 3, Now: clk.now})
	for range 3 {
		rec, _ := post(t, mux, "192.0.2.1:4000", "")
		require.Equal(t, 200, rec.Code)
	}
	rec, out := post(t, mux, "192.0.2.1:5000", "")
	require.Equal(t, 429, rec.Code)
	require.Equal(t, "2", rec.Header().Get("Retry-After"))
	require.Equal(t, float64(2000), out["retryAfterMs"])
	require.Equal(t, "Too many guest tokens from this address: try again in 2s", out["error"])

	rec, _ = post(t, mux, "192.0.2.2:4000", "")
	require.Equal(t, 200, rec.Code, "another address has its own bucket")

	clk.add(2 * time.Second)
	rec, _ = post(t, mux, "192.0.2.1:4000", "")
	require.Equal(t, 200, rec.Code, "a token again after 1/rate")
	rec, _ = post(t, mux, "192.0.2.1:4000", "")
	require.Equal(t, 429, rec.Code)

	for i, remote := range []string{"[2001:db8:1:2::1]:4000", "[2001:db8:1:2::2]:4000", "[2001:db8:1:2:ffff::3]:4000"} {
		rec, _ := post(t, mux, remote, "")
		require.Equal(t, 200, rec.Code, i)
	}
	rec, _ = post(t, mux, "[2001:db8:1:2::9]:4000", "")
	require.Equal(t, 429, rec.Code, "one /64 is one address")
	rec, _ = post(t, mux, "[2001:db8:1:3::1]:4000", "")
	require.Equal(t, 200, rec.Code, "the next /64 is another")
}

// Behind a trusted proxy each forwarded client has its bucket (the
// address the per-IP session cap counts, package clientip); a peer that is
// no trusted proxy cannot choose its address with a header.
func TestGuestTokenRateLimitBehindProxy(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	proxies, err := clientip.ParseList("10.0.0.0/8")
	require.NoError(t, err)
	mux := newMux(t, guestauth.Config{Key: guestKey, PerSecond: 0.5, Burst: 1, Now: clk.now, ClientIP: proxies})
	from := func(remote, xff string) int {
		req := httptest.NewRequest("POST", guestauth.Path, nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, 200, from("10.0.0.1:4000", "198.51.100.1"))
	require.Equal(t, 429, from("10.0.0.2:4000", "198.51.100.1"), "the same client through another proxy")
	require.Equal(t, 200, from("10.0.0.1:4000", "198.51.100.2"), "another client through the same proxy")
	require.Equal(t, 200, from("203.0.113.9:4000", "198.51.100.3"))
	require.Equal(t, 429, from("203.0.113.9:4000", "198.51.100.4"), "an untrusted peer's header is ignored: its own address counts")
}
