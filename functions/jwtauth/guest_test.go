package jwtauth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
)

var guestKey = []byte("guest-key-guest-key-guest-key-01")

// guestClaims returns a valid guest payload; edit mutates it.
func guestClaims(edit func(jwt.MapClaims)) jwt.MapClaims {
	return claims(func(c jwt.MapClaims) {
		c["iss"] = jwtauth.GuestIssuer
		c["sub"] = "guest_0123456789abcdef"
		c["role"] = "guest"
		c["name"] = "Guest 0123"
		if edit != nil {
			edit(c)
		}
	})
}

// The two keys and their powers: the guest key proves guests only, the
// key source everyone but guests.
func TestVerifyGuest(t *testing.T) {
	v := newVerifier(t, jwtauth.Config{HS256Secret: secret, GuestKey: guestKey})
	withGuestKey := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, "", guestKey, c) }
	withSecret := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, "", secret, c) }
	guest := &functions.Identity{Subject: "guest_0123456789abcdef", Role: functions.RoleGuest, Name: "Guest 0123"}

	tests := []struct {
		name    string
		token   string
		want    *functions.Identity
		wantErr error
		wantMsg string
	}{
		{name: "guest", token: withGuestKey(guestClaims(nil)), want: guest},
		{
			name:  "guest of an org",
			token: withGuestKey(guestClaims(func(c jwt.MapClaims) { c["org"] = "acme" })),
			want:  &functions.Identity{Subject: guest.Subject, Role: functions.RoleGuest, Name: guest.Name, Org: "acme"},
		},
		{
			name:  "store_id ignored",
			token: withGuestKey(guestClaims(func(c jwt.MapClaims) { c["store_id"] = "s-9" })),
			want:  guest,
		},
		{
			name:    "the guest key cannot mint a customer",
			token:   withGuestKey(guestClaims(func(c jwt.MapClaims) { c["role"] = "customer" })),
			wantErr: jwtauth.ErrInvalidClaim, wantMsg: "guest token role claim must be guest",
		},
		{
			name:    "the guest key cannot mint an admin",
			token:   withGuestKey(guestClaims(func(c jwt.MapClaims) { c["role"] = "admin" })),
			wantErr: jwtauth.ErrInvalidClaim, wantMsg: "guest token role claim must be guest",
		},
		{
			name:    "the guest key cannot name a customer's subject",
			token:   withGuestKey(guestClaims(func(c jwt.MapClaims) { c["sub"] = "cust123456789" })),
			wantErr: jwtauth.ErrInvalidClaim, wantMsg: "guest token sub claim must start with guest_",
		},
		{
			name:    "the guest key without the guest issuer is not the key source",
			token:   withGuestKey(guestClaims(func(c jwt.MapClaims) { delete(c, "iss") })),
			wantErr: jwtauth.ErrSignature,
		},
		{
			name:    "the secret cannot sign a guest token",
			token:   withSecret(guestClaims(nil)),
			wantErr: jwtauth.ErrSignature,
		},
		{
			name:    "the secret cannot claim role guest",
			token:   withSecret(guestClaims(func(c jwt.MapClaims) { delete(c, "iss") })),
			wantErr: jwtauth.ErrInvalidClaim, wantMsg: "token role claim must be customer, store or admin",
		},
		{
			name:    "the secret cannot claim a guest's subject",
			token:   withSecret(guestClaims(func(c jwt.MapClaims) { delete(c, "iss"); c["role"] = "customer" })),
			wantErr: jwtauth.ErrInvalidClaim, wantMsg: "token sub claim must not start with guest_, which guests' subjects do",
		},
		{
			name:    "expired",
			token:   withGuestKey(guestClaims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
			wantErr: jwtauth.ErrExpired, wantMsg: "token expired",
		},
		{
			name:    "alg none",
			token:   sign(t, jwt.SigningMethodNone, "", jwt.UnsafeAllowNoneSignatureType, guestClaims(nil)),
			wantErr: jwtauth.ErrAlgorithm,
		},
		{
			name:    "RS256",
			token:   signWith(t, rsaKey(0), guestClaims(nil)),
			wantErr: jwtauth.ErrAlgorithm,
		},
		{
			name:    "org with a space",
			token:   withGuestKey(guestClaims(func(c jwt.MapClaims) { c["org"] = "a b" })),
			wantErr: jwtauth.ErrInvalidClaim, wantMsg: "token org claim must have no spaces or control characters",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, v, tt.token, tt.want, tt.wantErr, tt.wantMsg)
		})
	}

	t.Run("VerifyGuest takes guest tokens only", func(t *testing.T) {
		got, err := v.VerifyGuest(t.Context(), withGuestKey(guestClaims(nil)))
		require.NoError(t, err)
		require.Equal(t, functions.RoleGuest, got.Role)
		_, err = v.VerifyGuest(t.Context(), withSecret(claims(nil)))
		require.ErrorIs(t, err, jwtauth.ErrIssuer)
		require.EqualError(t, err, "not a guest token")
		_, err = v.VerifyGuest(t.Context(), "")
		require.ErrorIs(t, err, jwtauth.ErrMalformed)
	})

	t.Run("a verifier without a guest key", func(t *testing.T) {
		off := newVerifier(t, jwtauth.Config{HS256Secret: secret})
		for _, verify := range []func(context.Context, string) (*functions.Identity, error){off.Verify, off.VerifyGuest} {
			_, err := verify(t.Context(), withGuestKey(guestClaims(nil)))
			require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
			require.EqualError(t, err, "guest tokens are not accepted: guest access is off")
		}
	})

	t.Run("a JWKS source with guests", func(t *testing.T) {
		jv := newVerifier(t, jwtauth.Config{JWKSFile: writeJWKS(t, rsaKey(0)), GuestKey: guestKey})
		got, err := jv.Verify(t.Context(), withGuestKey(guestClaims(nil)))
		require.NoError(t, err)
		require.Equal(t, guest.Subject, got.Subject)
		_, err = jv.Verify(t.Context(), signWith(t, rsaKey(0), guestClaims(func(c jwt.MapClaims) { delete(c, "iss") })))
		require.EqualError(t, err, "token role claim must be customer, store or admin")
		// An RSA key of the source cannot sign for the guest issuer.
		_, err = jv.Verify(t.Context(), signWith(t, rsaKey(0), guestClaims(nil)))
		require.ErrorIs(t, err, jwtauth.ErrAlgorithm)
		customer, err := jv.Verify(t.Context(), signWith(t, rsaKey(0), claims(nil)))
		require.NoError(t, err)
		require.Equal(t, functions.RoleCustomer, customer.Role)
	})
}

func TestGuestConfig(t *testing.T) {
	ctx := context.Background()
	_, err := jwtauth.New(ctx, jwtauth.Config{HS256Secret: secret, GuestKey: []byte("short")})
	require.ErrorIs(t, err, jwtauth.ErrConfig)
	_, err = jwtauth.New(ctx, jwtauth.Config{HS256Secret: secret, GuestKey: secret})
	require.ErrorContains(t, err, "GuestKey must differ from HS256Secret")
	_, err = jwtauth.New(ctx, jwtauth.Config{HS256Secret: secret, Issuer: jwtauth.GuestIssuer})
	require.ErrorIs(t, err, jwtauth.ErrConfig)
}

func TestMintGuest(t *testing.T) {
	v := newVerifier(t, jwtauth.Config{HS256Secret: secret, GuestKey: guestKey})
	sub := jwtauth.NewGuestSubject()
	require.True(t, strings.HasPrefix(sub, jwtauth.GuestSubjectPrefix))
	require.Len(t, sub, len(jwtauth.GuestSubjectPrefix)+32)
	require.NotEqual(t, sub, jwtauth.NewGuestSubject())

	id := functions.Identity{Subject: sub, Role: functions.RoleGuest, Name: "Guest", Org: "acme"}
	tok, err := jwtauth.MintGuest(guestKey, id, time.Hour)
	require.NoError(t, err)
	got, err := v.Verify(t.Context(), tok)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Hour+jwtauth.DefaultLeeway), got.ExpiresAt, 2*time.Second, "accepted until exp and the leeway")
	got.ExpiresAt = time.Time{}
	require.Equal(t, id, *got)

	for name, bad := range map[string]functions.Identity{
		"a customer":         {Subject: sub, Role: functions.RoleCustomer},
		"no guest subject":   {Subject: "cust1", Role: functions.RoleGuest},
		"a bare prefix":      {Subject: jwtauth.GuestSubjectPrefix, Role: functions.RoleGuest},
		"an org with spaces": {Subject: sub, Role: functions.RoleGuest, Org: "a b"},
	} {
		_, err := jwtauth.MintGuest(guestKey, bad, time.Hour)
		require.Error(t, err, name)
	}
	_, err = jwtauth.MintGuest([]byte("short"), id, time.Hour)
	require.ErrorIs(t, err, jwtauth.ErrConfig)
	_, err = jwtauth.MintGuest(guestKey, id, 0)
	require.ErrorIs(t, err, jwtauth.ErrConfig)
	// MintHS256 cannot mint a guest.
	_, err = jwtauth.MintHS256(secret, id, time.Hour)
	require.Error(t, err)
}
