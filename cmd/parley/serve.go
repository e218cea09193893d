package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

func runServe(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("parley serve", flag.ContinueOnError)
	addr := fl.String("addr", envOr("PARLEY_ADDR", "127.0.0.1:3210"), "listen address (env PARLEY_ADDR)")
	secret := fl.String("jwt-secret", os.Getenv("PARLEY_JWT_SECRET"), "HS256 shared secret (env PARLEY_JWT_SECRET)")
	jwksFile := fl.String("jwks-file", os.Getenv("PARLEY_JWKS_FILE"), "JWKS file with RS256/ES256 keys (env PARLEY_JWKS_FILE)")
	jwksURL := fl.String("jwks-url", os.Getenv("PARLEY_JWKS_URL"), "JWKS URL with RS256/ES256 keys (env PARLEY_JWKS_URL)")
	issuer := fl.String("jwt-issuer", os.Getenv("PARLEY_JWT_ISSUER"), "required iss claim (env PARLEY_JWT_ISSUER)")
	audience := fl.String("jwt-audience", os.Getenv("PARLEY_JWT_AUDIENCE"), "required aud claim (env PARLEY_JWT_AUDIENCE)")
	migrate := fl.Bool("migrate", false, "apply migrations before serving")
	shared := declareServerFlags(fl, true)
	webDir := fl.String("web", os.Getenv("PARLEY_WEB_DIR"), "directory of a built web app to serve at / (env PARLEY_WEB_DIR; empty: none)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(*shared.logLevel)
	if err != nil {
		return err
	}
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		return errors.New("DATABASE_URL is not set (a Postgres URL; the server needs wal_level=logical and a role with REPLICATION)")
	}
	guestKey, err := shared.guests.resolveKey(os.Getenv("PARLEY_GUEST_KEY"), shared.media.dir)
	if err != nil {
		return err
	}
	cfg := jwtauth.Config{Issuer: *issuer, Audience: *audience, JWKSFile: *jwksFile, JWKSURL: *jwksURL, GuestKey: guestKey, Logger: log}
	if *secret != "" {
		cfg.HS256Secret = []byte(*secret)
	}
	verifier, err := jwtauth.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%w (set exactly one of --jwt-secret, --jwks-file, --jwks-url; --guest-key must differ from --jwt-secret)", err)
	}
	if *migrate {
		if err := migrateDatabase(ctx, dbURL); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	defer ln.Close()
	srvCfg := server.Config{DatabaseURL: dbURL, Listener: ln, Guests: shared.guests.config(guestKey)}
	if *webDir != "" {
		// No dev sign-in here: the app's users bring tokens of their own.
		srvCfg.Mux = http.NewServeMux()
		if _, err := mountWeb(srvCfg.Mux, *webDir, true); err != nil {
			return err
		}
	}
	return runServer(ctx, log, srvCfg, verifier, shared, "", func(*server.Server) error {
		log.Info("parley serving", "addr", ln.Addr().String(), "version", version, "guests", guestKey != nil)
		return nil
	})
}

func runMigrate(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("parley migrate", flag.ContinueOnError)
	if err := fl.Parse(args); err != nil {
		return err
	}
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		return errors.New("DATABASE_URL is not set")
	}
	return migrateDatabase(ctx, dbURL)
}

func migrateDatabase(ctx context.Context, dbURL string) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	applied, err := schema.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "parley: applied %d migration(s) %v\n", len(applied), applied)
	return nil
}
