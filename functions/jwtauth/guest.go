package jwtauth

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-chat/parley/functions"
)

// Guest tokens: the tokens of visitors without an account, which Parley
// mints itself (POST /api/guest) and signs with a key of its own.
const (
	// GuestIssuer is the iss claim of every guest token, and of no other
	// token Parley accepts.
	GuestIssuer = "parley-guest"
	// GuestSubjectPrefix starts every guest's subject; a token of the key
	// source may not claim such a subject.
	GuestSubjectPrefix = "guest_"
	// guestSubjectBytes is the randomness of a guest's subject.
	guestSubjectBytes = 16
)

// NewGuestSubject returns a fresh guest subject: GuestSubjectPrefix and
// 128 random bits in hex.
func NewGuestSubject() string {
	b := make([]byte, guestSubjectBytes)
	rand.Read(b)
	return GuestSubjectPrefix + hex.EncodeToString(b)
}

// MintGuest signs a guest token for id (its Role must be guest, its
// Subject start with GuestSubjectPrefix) with key, expiring after ttl. It
// sets iss GuestIssuer, sub, role, name, org, iat and exp, and refuses a
// guest that VerifyGuest would reject.
func MintGuest(key []byte, id functions.Identity, ttl time.Duration) (string, error) {
	if len(key) < MinSecretLen {
		return "", fmt.Errorf("%w: guest key has %d bytes, need at least %d", ErrConfig, len(key), MinSecretLen)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("%w: ttl must be positive, got %s", ErrConfig, ttl)
	}
	c := claims{Role: string(id.Role), Name: id.Name, Org: id.Org}
	c.Subject = id.Subject
	if _, err := guestFromClaims(&c); err != nil {
		return "", fmt.Errorf("mint guest token: %w", err)
	}
	now := time.Now()
	c.Issuer = GuestIssuer
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign guest token: %w", err)
	}
	return s, nil
}

// guestFromClaims checks the claims of a guest token: role guest, a guest
// subject, an org as any token's. A store_id claim is ignored.
func guestFromClaims(c *claims) (*functions.Identity, error) {
	switch {
	case c.Role == "":
		return nil, reject(ErrMissingClaim, "token has no role claim")
	case functions.Role(c.Role) != functions.RoleGuest:
		return nil, reject(ErrInvalidClaim, "guest token role claim must be guest")
	case c.Subject == "":
		return nil, reject(ErrMissingClaim, "token has no sub claim")
	case !strings.HasPrefix(c.Subject, GuestSubjectPrefix) || len(c.Subject) == len(GuestSubjectPrefix):
		return nil, reject(ErrInvalidClaim, "guest token sub claim must start with "+GuestSubjectPrefix)
	}
	if err := checkOrg(c.Org); err != nil {
		return nil, err
	}
	id := &functions.Identity{Subject: c.Subject, Role: functions.RoleGuest, Name: c.Name, Org: c.Org}
	if c.ExpiresAt != nil {
		id.ExpiresAt = c.ExpiresAt.Time
	}
	return id, nil
}
