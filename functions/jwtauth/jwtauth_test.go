package jwtauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/pgtest"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// testKey is a signing key with the kid and alg it is published under.
type testKey struct {
	kid    string
	method jwt.SigningMethod
	priv   any
}

var (
	rsaKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
		var ks [2]*rsa.PrivateKey
		for i := range ks {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			ks[i] = k
		}
		return ks
	})
	ecKeys = sync.OnceValue(func() [2]*ecdsa.PrivateKey {
		var ks [2]*ecdsa.PrivateKey
		for i := range ks {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			ks[i] = k
		}
		return ks
	})
)

func rsaKey(i int) testKey {
	return testKey{kid: "rsa-" + string(rune('a'+i)), method: jwt.SigningMethodRS256, priv: rsaKeys()[i]}
}

func ecKey(i int) testKey {
	return testKey{kid: "ec-" + string(rune('a'+i)), method: jwt.SigningMethodES256, priv: ecKeys()[i]}
}

// jwksJSON renders the public halves of keys as a JWKS document.
func jwksJSON(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	set := struct {
		Keys []map[string]string `json:"keys"`
	}{Keys: []map[string]string{}}
	for _, k := range keys {
		m := map[string]string{"kid": k.kid, "alg": k.method.Alg(), "use": "sig"}
		switch p := k.priv.(type) {
		case *rsa.PrivateKey:
			m["kty"] = "RSA"
			m["n"] = b64(p.N.Bytes())
			m["e"] = b64(big.NewInt(int64(p.E)).Bytes())
		case *ecdsa.PrivateKey:
			pub, err := p.PublicKey.ECDH()
			require.NoError(t, err)
			xy := pub.Bytes()[1:] // uncompressed point: 0x04 || X || Y
			m["kty"] = "EC"
			m["crv"] = "P-256"
			m["x"] = b64(xy[:32])
			m["y"] = b64(xy[32:])
		default:
			t.Fatalf("unsupported key %T", k.priv)
		}
		set.Keys = append(set.Keys, m)
	}
	raw, err := json.Marshal(set)
	require.NoError(t, err)
	return raw
}

func writeJWKS(t testing.TB, keys ...testKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	require.NoError(t, os.WriteFile(path, jwksJSON(t, keys...), 0o600))
	return path
}

// claims returns a valid customer payload; edit mutates it.
func claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub":  "user-1",
		"role": "customer",
		"name": "Ada",
		"iat":  now.Unix(),
		"exp":  now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t testing.TB, method jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func signWith(t testing.TB, k testKey, c jwt.MapClaims) string {
	t.Helper()
	return sign(t, k.method, k.kid, k.priv, c)
}

func newVerifier(t testing.TB, cfg jwtauth.Config) *jwtauth.Verifier {
	t.Helper()
	v, err := jwtauth.New(context.Background(), cfg)
	require.NoError(t, err)
	return v
}

// check asserts the outcome of Verify: want on success, or an error that
// matches wantErr and ErrInvalidToken and reads wantMsg.
func check(t *testing.T, v *jwtauth.Verifier, token string, want *functions.Identity, wantErr error, wantMsg string) {
	t.Helper()
	got, err := v.Verify(t.Context(), token)
	if wantErr == nil {
		require.NoError(t, err)
		require.False(t, got.ExpiresAt.IsZero(), "the identity carries the token's exp")
		require.WithinDuration(t, time.Now(), got.ExpiresAt, 25*time.Hour)
		trimmed := *got
		trimmed.ExpiresAt = time.Time{}
		require.Equal(t, want, &trimmed)
		return
	}
	require.Nil(t, got)
	require.ErrorIs(t, err, wantErr)
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
	if wantMsg == "" {
		wantMsg = wantErr.Error()
	}
	require.EqualError(t, err, wantMsg)
}

func TestNew(t *testing.T) {
	file := writeJWKS(t, rsaKey(0))
	empty := filepath.Join(t.TempDir(), "empty.json")
	require.NoError(t, os.WriteFile(empty, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), 0o600))
	down := httptest.NewServer(http.NotFoundHandler())
	defer down.Close()

	tests := []struct {
		name string
		cfg  jwtauth.Config
	}{
		{"no source", jwtauth.Config{}},
		{"two sources", jwtauth.Config{HS256Secret: secret, JWKSFile: file}},
		{"short secret", jwtauth.Config{HS256Secret: []byte("dev")}},
		{"missing file", jwtauth.Config{JWKSFile: filepath.Join(t.TempDir(), "nope.json")}},
		{"file without signing keys", jwtauth.Config{JWKSFile: empty}},
		{"plain http to a remote host", jwtauth.Config{JWKSURL: "http://example.com/jwks.json"}},
		{"url answers 404", jwtauth.Config{JWKSURL: down.URL}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jwtauth.New(context.Background(), tt.cfg)
			require.Error(t, err)
		})
	}
}

func TestVerifyHS256(t *testing.T) {
	v := newVerifier(t, jwtauth.Config{HS256Secret: secret})
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, "", secret, c) }
	customer := &functions.Identity{Subject: "user-1", Role: functions.RoleCustomer, Name: "Ada"}

	tests := []struct {
		name    string
		token   string
		want    *functions.Identity
		wantErr error
		wantMsg string
	}{
		{name: "valid customer", token: hs(claims(nil)), want: customer},
		{
			name:  "valid store",
			token: hs(claims(func(c jwt.MapClaims) { c["role"] = "store"; c["store_id"] = "s-9" })),
			want:  &functions.Identity{Subject: "user-1", Role: functions.RoleStore, Name: "Ada", StoreID: "s-9"},
		},
		{
			name:  "valid admin without name",
			token: hs(claims(func(c jwt.MapClaims) { c["role"] = "admin"; delete(c, "name") })),
			want:  &functions.Identity{Subject: "user-1", Role: functions.RoleAdmin},
		},
		{
			name:  "store_id ignored for customer",
			token: hs(claims(func(c jwt.MapClaims) { c["store_id"] = "s-9" })),
			want:  customer,
		},
		{
			name:  "org",
			token: hs(claims(func(c jwt.MapClaims) { c["org"] = "acme-market" })),
			want:  &functions.Identity{Subject: "user-1", Role: functions.RoleCustomer, Name: "Ada", Org: "acme-market"},
		},
		{
			name:  "email",
			token: hs(claims(func(c jwt.MapClaims) { c["email"] = "ada@example.com" })),
			want:  &functions.Identity{Subject: "user-1", Role: functions.RoleCustomer, Name: "Ada", Email: "ada@example.com"},
		},
		{
			name:  "a malformed email is no address, not a refusal",
			token: hs(claims(func(c jwt.MapClaims) { c["email"] = "Ada <ada@example.com>" })),
			want:  customer,
		},
		{
			name:  "empty org is the default one",
			token: hs(claims(func(c jwt.MapClaims) { c["org"] = "" })),
			want:  customer,
		},
		{
			name:    "org too long",
			token:   hs(claims(func(c jwt.MapClaims) { c["org"] = strings.Repeat("o", jwtauth.MaxOrgLen+1) })),
			wantErr: jwtauth.ErrInvalidClaim, wantMsg: "token org claim must be at most 128 bytes",
		},
		{
			name:    "org with a space",
			token:   hs(claims(func(c jwt.MapClaims) { c["org"] = "acme market" })),
			wantErr: jwtauth.ErrInvalidClaim, wantMsg: "token org claim must have no spaces or control characters",
		},
		{
			name:    "org not a string",
			token:   hs(claims(func(c jwt.MapClaims) { c["org"] = 7 })),
			wantErr: jwtauth.ErrMalformed,
		},
		{
			name:  "expired within leeway",
			token: hs(claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() })),
			want:  customer,
		},
		{
			name:    "expired",
			token:   hs(claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
			wantErr: jwtauth.ErrExpired, wantMsg: "token expired",
		},
		{
			name:    "not valid yet",
			token:   hs(claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })),
			wantErr: jwtauth.ErrNotValidYet,
		},
		{
			name:    "wrong secret",
			token:   sign(t, jwt.SigningMethodHS256, "", []byte("another-secret-another-secret-xx"), claims(nil)),
			wantErr: jwtauth.ErrSignature, wantMsg: "token signature is invalid",
		},
		{
			name:    "alg none",
			token:   sign(t, jwt.SigningMethodNone, "", jwt.UnsafeAllowNoneSignatureType, claims(nil)),
			wantErr: jwtauth.ErrAlgorithm,
		},
		{
			name:    "alg HS512",
			token:   sign(t, jwt.SigningMethodHS512, "", secret, claims(nil)),
			wantErr: jwtauth.ErrAlgorithm,
		},
		{
			name:    "RS256 against a secret",
			token:   signWith(t, rsaKey(0), claims(nil)),
			wantErr: jwtauth.ErrAlgorithm,
		},
		{
			name:    "missing role",
			token:   hs(claims(func(c jwt.MapClaims) { delete(c, "role") })),
			wantErr: jwtauth.ErrMissingClaim, wantMsg: "token has no role claim",
		},
		{
			name:    "bad role",
			token:   hs(claims(func(c jwt.MapClaims) { c["role"] = "superuser" })),
			wantErr: jwtauth.ErrInvalidClaim, wantMsg: "token role claim must be customer, store or admin",
		},
		{
			name:    "role not a string",
			token:   hs(claims(func(c jwt.MapClaims) { c["role"] = 7 })),
			wantErr: jwtauth.ErrMalformed,
		},
		{
			name:    "store without store_id",
			token:   hs(claims(func(c jwt.MapClaims) { c["role"] = "store" })),
			wantErr: jwtauth.ErrMissingClaim, wantMsg: "token has no store_id claim, which role store requires",
		},
		{
			name:    "missing sub",
			token:   hs(claims(func(c jwt.MapClaims) { delete(c, "sub") })),
			wantErr: jwtauth.ErrMissingClaim, wantMsg: "token has no sub claim",
		},
		{
			name:    "missing exp",
			token:   hs(claims(func(c jwt.MapClaims) { delete(c, "exp") })),
			wantErr: jwtauth.ErrMissingClaim, wantMsg: "token has no exp claim",
		},
		{name: "empty", token: "", wantErr: jwtauth.ErrMalformed, wantMsg: "token is empty"},
		{name: "garbage", token: "not.a.jwt", wantErr: jwtauth.ErrMalformed},
		{name: "two segments", token: "abc.def", wantErr: jwtauth.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, v, tt.token, tt.want, tt.wantErr, tt.wantMsg)
		})
	}
}

func TestVerifyIssuerAudience(t *testing.T) {
	v := newVerifier(t, jwtauth.Config{HS256Secret: secret, Issuer: "https://idp.test", Audience: "parley"})
	hs := func(edit func(jwt.MapClaims)) string {
		return sign(t, jwt.SigningMethodHS256, "", secret, claims(func(c jwt.MapClaims) {
			c["iss"] = "https://idp.test"
			c["aud"] = []string{"other", "parley"}
			if edit != nil {
				edit(c)
			}
		}))
	}

	tests := []struct {
		name    string
		token   string
		wantErr error
		wantMsg string
	}{
		{name: "valid", token: hs(nil)},
		{name: "wrong issuer", token: hs(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }), wantErr: jwtauth.ErrIssuer},
		{name: "no issuer", token: hs(func(c jwt.MapClaims) { delete(c, "iss") }), wantErr: jwtauth.ErrMissingClaim, wantMsg: "token has no iss claim"},
		{name: "wrong audience", token: hs(func(c jwt.MapClaims) { c["aud"] = "other" }), wantErr: jwtauth.ErrAudience},
		{name: "no audience", token: hs(func(c jwt.MapClaims) { delete(c, "aud") }), wantErr: jwtauth.ErrMissingClaim, wantMsg: "token has no aud claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want *functions.Identity
			if tt.wantErr == nil {
				want = &functions.Identity{Subject: "user-1", Role: functions.RoleCustomer, Name: "Ada"}
			}
			check(t, v, tt.token, want, tt.wantErr, tt.wantMsg)
		})
	}
}

// jwksCases are shared by the file and URL sources: the set holds rsaKey(0)
// and ecKey(0); rsaKey(1) and ecKey(1) are not in it.
func jwksCases(t *testing.T) []struct {
	name    string
	token   string
	wantErr error
} {
	rsaPub, err := x509.MarshalPKIXPublicKey(&rsaKeys()[0].PublicKey)
	require.NoError(t, err)
	return []struct {
		name    string
		token   string
		wantErr error
	}{
		{name: "RS256", token: signWith(t, rsaKey(0), claims(nil))},
		{name: "ES256", token: signWith(t, ecKey(0), claims(nil))},
		{name: "RS256 without kid", token: sign(t, jwt.SigningMethodRS256, "", rsaKeys()[0], claims(nil))},
		{name: "RSA key not in set", token: signWith(t, rsaKey(1), claims(nil)), wantErr: jwtauth.ErrUnknownKey},
		{name: "EC key not in set", token: signWith(t, ecKey(1), claims(nil)), wantErr: jwtauth.ErrUnknownKey},
		{name: "foreign key without kid", token: sign(t, jwt.SigningMethodES256, "", ecKeys()[1], claims(nil)), wantErr: jwtauth.ErrSignature},
		{name: "known kid, other key", token: sign(t, jwt.SigningMethodRS256, rsaKey(0).kid, rsaKeys()[1], claims(nil)), wantErr: jwtauth.ErrSignature},
		{name: "kid of an RSA key on an ES256 token", token: sign(t, jwt.SigningMethodES256, rsaKey(0).kid, ecKeys()[0], claims(nil)), wantErr: jwtauth.ErrSignature},
		{name: "HS256 keyed with the public key", token: sign(t, jwt.SigningMethodHS256, rsaKey(0).kid, rsaPub, claims(nil)), wantErr: jwtauth.ErrAlgorithm},
		{name: "RS512", token: sign(t, jwt.SigningMethodRS512, rsaKey(0).kid, rsaKeys()[0], claims(nil)), wantErr: jwtauth.ErrAlgorithm},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, rsaKey(0).kid, jwt.UnsafeAllowNoneSignatureType, claims(nil)), wantErr: jwtauth.ErrAlgorithm},
		{name: "expired", token: signWith(t, ecKey(0), claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), wantErr: jwtauth.ErrExpired},
	}
}

func TestVerifyJWKSFile(t *testing.T) {
	v := newVerifier(t, jwtauth.Config{JWKSFile: writeJWKS(t, rsaKey(0), ecKey(0))})
	want := &functions.Identity{Subject: "user-1", Role: functions.RoleCustomer, Name: "Ada"}
	for _, tt := range jwksCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr != nil {
				check(t, v, tt.token, nil, tt.wantErr, "")
				return
			}
			check(t, v, tt.token, want, nil, "")
		})
	}
}

// jwksServer serves a JWKS that the test can replace, and counts fetches.
type jwksServer struct {
	*httptest.Server
	body    atomic.Pointer[[]byte]
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...testKey) *jwksServer {
	s := &jwksServer{}
	s.set(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(t *testing.T, keys ...testKey) {
	b := jwksJSON(t, keys...)
	s.body.Store(&b)
}

func TestVerifyJWKSURL(t *testing.T) {
	srv := newJWKSServer(t, rsaKey(0), ecKey(0))
	require.Contains(t, srv.URL, "http://127.0.0.1:")
	v := newVerifier(t, jwtauth.Config{JWKSURL: srv.URL + "/jwks.json", MinRefreshInterval: time.Hour})
	want := &functions.Identity{Subject: "user-1", Role: functions.RoleCustomer, Name: "Ada"}
	for _, tt := range jwksCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr != nil {
				check(t, v, tt.token, nil, tt.wantErr, "")
				return
			}
			check(t, v, tt.token, want, nil, "")
		})
	}
	// Unknown kids did not refetch: the last fetch (by New) is too recent.
	require.EqualValues(t, 1, srv.fetches.Load())
}

func TestJWKSURLRotation(t *testing.T) {
	srv := newJWKSServer(t, rsaKey(0))
	v := newVerifier(t, jwtauth.Config{
		JWKSURL:            srv.URL,
		MinRefreshInterval: time.Nanosecond,
		RefreshInterval:    10 * time.Millisecond,
	})
	oldTok := signWith(t, rsaKey(0), claims(nil))
	newTok := signWith(t, ecKey(1), claims(nil))
	check(t, v, newTok, nil, jwtauth.ErrUnknownKey, "")

	// The issuer publishes a new key: an unknown kid triggers a refresh.
	srv.set(t, rsaKey(0), ecKey(1))
	_, err := v.Verify(t.Context(), newTok)
	require.NoError(t, err)

	// The issuer withdraws the old key: Run's periodic refresh drops it.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = v.Run(ctx) })
	srv.set(t, ecKey(1))
	pgtest.Eventually(t, 5*time.Second, func() error {
		if _, err := v.Verify(t.Context(), oldTok); !errors.Is(err, jwtauth.ErrUnknownKey) {
			return errors.New("old key still accepted")
		}
		return nil
	})
	cancel()
	wg.Wait()
	require.NoError(t, runErr)

	_, err = v.Verify(t.Context(), newTok)
	require.NoError(t, err)
}

func TestJWKSURLRefreshFailureKeepsKeys(t *testing.T) {
	srv := newJWKSServer(t, rsaKey(0))
	v := newVerifier(t, jwtauth.Config{JWKSURL: srv.URL, MinRefreshInterval: time.Nanosecond})
	b := []byte("not json")
	srv.body.Store(&b)
	check(t, v, signWith(t, rsaKey(1), claims(nil)), nil, jwtauth.ErrUnknownKey, "")
	_, err := v.Verify(t.Context(), signWith(t, rsaKey(0), claims(nil)))
	require.NoError(t, err)
}

// The refresh an unknown kid triggers is bounded by the caller's context,
// not only by HTTPTimeout: a caller that goes away stops its fetch from a
// slow issuer, and a caller already gone fetches nothing.
func TestUnknownKidRefreshStopsWithTheCallersContext(t *testing.T) {
	keys := jwksJSON(t, rsaKey(0))
	var fetches atomic.Int64
	var gaveUp atomic.Bool
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) > 1 { // New's fetch is answered, every refresh stalls
			select {
			case <-r.Context().Done():
				gaveUp.Store(true)
			case <-release:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(keys)
	}))
	t.Cleanup(srv.Close)
	v := newVerifier(t, jwtauth.Config{JWKSURL: srv.URL, MinRefreshInterval: time.Nanosecond, HTTPTimeout: time.Minute})
	unknown := signWith(t, ecKey(1), claims(nil))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	var wg sync.WaitGroup
	t.Cleanup(func() { // before srv.Close, which waits for the stalled handler
		close(release)
		wg.Wait()
	})
	wg.Go(func() {
		_, err := v.Verify(ctx, unknown)
		done <- err
	})
	pgtest.Eventually(t, 5*time.Second, func() error {
		if fetches.Load() < 2 {
			return errors.New("the unknown kid has not triggered a refresh yet")
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, jwtauth.ErrUnknownKey)
	case <-time.After(5 * time.Second):
		t.Fatal("Verify still waits for the JWKS after its caller went away")
	}
	pgtest.Eventually(t, 5*time.Second, func() error {
		if !gaveUp.Load() {
			return errors.New("the issuer still serves the abandoned refresh")
		}
		return nil
	})

	_, err := v.Verify(ctx, unknown)
	require.ErrorIs(t, err, jwtauth.ErrUnknownKey)
	require.EqualValues(t, 2, fetches.Load(), "a caller already gone fetches nothing")
}

func TestRunWithoutURLReturns(t *testing.T) {
	v := newVerifier(t, jwtauth.Config{HS256Secret: secret})
	require.NoError(t, v.Run(context.Background()))
}

func TestMintHS256(t *testing.T) {
	v := newVerifier(t, jwtauth.Config{HS256Secret: secret})
	tests := []struct {
		name    string
		secret  []byte
		id      functions.Identity
		ttl     time.Duration
		wantErr bool
	}{
		{name: "customer", secret: secret, id: functions.Identity{Subject: "u1", Role: functions.RoleCustomer, Name: "Ada"}, ttl: time.Hour},
		{name: "store", secret: secret, id: functions.Identity{Subject: "u2", Role: functions.RoleStore, StoreID: "s1"}, ttl: time.Minute},
		{name: "admin", secret: secret, id: functions.Identity{Subject: "u3", Role: functions.RoleAdmin}, ttl: time.Hour},
		{name: "admin of an org", secret: secret, id: functions.Identity{Subject: "u4", Role: functions.RoleAdmin, Org: "acme"}, ttl: time.Hour},
		{name: "with an email", secret: secret, id: functions.Identity{Subject: "u5", Role: functions.RoleCustomer, Email: "u5@example.com"}, ttl: time.Hour},
		{name: "with a malformed email", secret: secret, id: functions.Identity{Subject: "u5", Role: functions.RoleCustomer, Email: "nope"}, ttl: time.Hour, wantErr: true},
		{name: "org with a space", secret: secret, id: functions.Identity{Subject: "u4", Role: functions.RoleAdmin, Org: "a b"}, ttl: time.Hour, wantErr: true},
		{name: "short secret", secret: []byte("dev"), id: functions.Identity{Subject: "u1", Role: functions.RoleAdmin}, ttl: time.Hour, wantErr: true},
		{name: "zero ttl", secret: secret, id: functions.Identity{Subject: "u1", Role: functions.RoleAdmin}, wantErr: true},
		{name: "no subject", secret: secret, id: functions.Identity{Role: functions.RoleAdmin}, ttl: time.Hour, wantErr: true},
		{name: "bad role", secret: secret, id: functions.Identity{Subject: "u1", Role: "root"}, ttl: time.Hour, wantErr: true},
		{name: "store without store id", secret: secret, id: functions.Identity{Subject: "u1", Role: functions.RoleStore}, ttl: time.Hour, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := jwtauth.MintHS256(tt.secret, tt.id, tt.ttl)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			got, err := v.Verify(t.Context(), tok)
			require.NoError(t, err)
			require.WithinDuration(t, time.Now().Add(tt.ttl+jwtauth.DefaultLeeway), got.ExpiresAt, 2*time.Second, "accepted until exp (now + ttl) and the leeway")
			got.ExpiresAt = time.Time{}
			require.Equal(t, tt.id, *got)

			var c jwt.MapClaims
			_, _, err = jwt.NewParser().ParseUnverified(tok, &c)
			require.NoError(t, err)
			for _, k := range []string{"sub", "role", "iat", "exp"} {
				require.Contains(t, c, k)
			}
		})
	}
}

func TestVerifyConcurrent(t *testing.T) {
	srv := newJWKSServer(t, rsaKey(0), ecKey(0))
	v := newVerifier(t, jwtauth.Config{JWKSURL: srv.URL, MinRefreshInterval: time.Nanosecond})
	good := signWith(t, ecKey(0), claims(nil))
	unknown := signWith(t, ecKey(1), claims(nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if i%2 == 0 {
					_, err := v.Verify(t.Context(), good)
					assert.NoError(t, err)
				} else {
					_, err := v.Verify(t.Context(), unknown)
					assert.ErrorIs(t, err, jwtauth.ErrUnknownKey)
				}
			}
		})
	}
	wg.Wait()
}

func FuzzVerify(f *testing.F) {
	v := newVerifier(f, jwtauth.Config{HS256Secret: secret})
	good, err := jwtauth.MintHS256(secret, functions.Identity{Subject: "u", Role: functions.RoleStore, StoreID: "s"}, time.Hour)
	require.NoError(f, err)
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(t.Context(), token)
		if err != nil {
			require.Nil(t, id)
			require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
			return
		}
		require.NotEmpty(t, id.Subject)
		require.True(t, id.Role.Valid())
		require.Equal(t, id.Role == functions.RoleStore, id.StoreID != "")
	})
}
