package functions

import (
	"fmt"
	"time"
)

// Role is what a verified caller is to Parley.
type Role string

// Roles.
const (
	RoleCustomer Role = "customer"
	RoleStore    Role = "store"
	RoleAdmin    Role = "admin"
	// RoleGuest is a visitor without an account (a shop's chat widget):
	// a customer without orders, whose token Parley itself minted. No
	// other issuer's token may claim it (package jwtauth).
	RoleGuest Role = "guest"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleCustomer || r == RoleStore || r == RoleAdmin || r == RoleGuest
}

// Identity is a caller proven by a verified JWT. Its fields come only from
// the token's claims: sub, role, name, store_id, org.
type Identity struct {
	Subject string `json:"sub"`
	Role    Role   `json:"role"`
	Name    string `json:"name,omitempty"`
	StoreID string `json:"store_id,omitempty"`
	// Org is the organization the caller acts in; "" is the default one
	// (a token without an org claim). Nothing a caller sees or changes
	// crosses it.
	Org string `json:"org,omitempty"`
	// Email is the token's optional email claim: where notification mail
	// goes unless the user set another address (package events). "" for
	// none or a malformed one. Not part of Key: no function's result
	// depends on it.
	Email string `json:"email,omitempty"`
	// ExpiresAt is when the token stops being accepted (its exp plus the
	// verifier's clock skew leeway, as for an HTTP call): a connection must
	// re-authenticate by then. Zero means the token does not expire.
	ExpiresAt time.Time `json:"-"`
}

// Key identifies the identity for sharing query instances and scoping
// mutation replays: role, subject, store and org, length-prefixed so that
// no two identities share a key. "" is no identity. An identity of the
// default org keeps the key it had before orgs existed; any other's
// starts with role@ (no role has an @), so the two never meet.
func (id *Identity) Key() string {
	if id == nil {
		return ""
	}
	if id.Org != "" {
		return fmt.Sprintf("%s@%d:%s:%d:%s:%s", id.Role, len(id.Org), id.Org, len(id.Subject), id.Subject, id.StoreID)
	}
	return fmt.Sprintf("%s:%d:%s:%s", id.Role, len(id.Subject), id.Subject, id.StoreID)
}
