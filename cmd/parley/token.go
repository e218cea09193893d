package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
)

func runToken(args []string) error {
	fl := flag.NewFlagSet("parley token", flag.ContinueOnError)
	data := fl.String("data", ".parley", "data directory of \"parley dev\" (holds the dev secret)")
	sub := fl.String("sub", "", "user id (required), e.g. cust123456789")
	role := fl.String("role", "", "customer, store or admin (required)")
	name := fl.String("name", "", "display name")
	storeID := fl.String("store-id", "", "the store a store user works for (required for --role store)")
	org := fl.String("org", "", "the organization the user acts in (default: the default one)")
	email := fl.String("email", "", "the user's email address (the email claim: where notification mail goes)")
	ttl := fl.Duration("ttl", 24*time.Hour, "lifetime")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *sub == "" {
		return fmt.Errorf("--sub is required")
	}
	r := functions.Role(*role)
	if r == functions.RoleGuest {
		return fmt.Errorf("--role guest: guest tokens are the server's own, from POST /api/guest (guestauth), not the dev secret's")
	}
	if !r.Valid() {
		return fmt.Errorf("--role must be customer, store or admin, got %q", *role)
	}
	if r == functions.RoleStore && *storeID == "" {
		return fmt.Errorf("--store-id is required for --role store")
	}
	dir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	secret, err := devSecret(dir, false)
	if err != nil {
		return err
	}
	tok, err := jwtauth.MintHS256(secret, functions.Identity{Subject: *sub, Role: r, Name: *name, StoreID: *storeID, Org: *org, Email: *email}, *ttl)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
