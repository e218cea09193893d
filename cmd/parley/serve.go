package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/chat"
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
	chat := chatFlags(fl)
	mediaOpts := mediaFlags(fl, true)
	debugAddr := debugFlag(fl)
	logLevel := fl.String("log-level", envOr("PARLEY_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env PARLEY_LOG_LEVEL)")
	webDir := fl.String("web", os.Getenv("PARLEY_WEB_DIR"), "directory of a built web app to serve at / (env PARLEY_WEB_DIR; empty: none)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		return errors.New("DATABASE_URL is not set (a Postgres URL; the server needs wal_level=logical and a role with REPLICATION)")
	}
	cfg := jwtauth.Config{Issuer: *issuer, Audience: *audience, JWKSFile: *jwksFile, JWKSURL: *jwksURL, Logger: log}
	if *secret != "" {
		cfg.HS256Secret = []byte(*secret)
	}
	verifier, err := jwtauth.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%w (set exactly one of --jwt-secret, --jwks-file, --jwks-url)", err)
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
	srvCfg := server.Config{DatabaseURL: dbURL, Verifier: verifier, Listener: ln, Chat: *chat, Logger: log}
	if *webDir != "" {
		// No dev sign-in here: the app's users bring tokens of their own.
		srvCfg.Mux = http.NewServeMux()
		if _, err := mountWeb(srvCfg.Mux, *webDir, true); err != nil {
			return err
		}
	}
	if err := mediaOpts.apply(&srvCfg, ""); err != nil {
		return err
	}
	stopDebug, err := startDebug(ctx, *debugAddr, log)
	if err != nil {
		return err
	}
	defer stopDebug()
	srv, err := server.New(ctx, srvCfg)
	if err != nil {
		return err
	}
	log.Info("parley serving", "addr", ln.Addr().String(), "version", version)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return verifier.Run(gctx) })
	g.Go(func() error { return srv.Run(gctx) })
	return g.Wait()
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

// chatFlags declares the chat API's tuning flags on fl.
func chatFlags(fl *flag.FlagSet) *chat.Config {
	c := &chat.Config{}
	fl.Float64Var(&c.MessagesPerSecond, "message-rate", 5, "messages per second a user may send (negative: no limit)")
	fl.IntVar(&c.MessageBurst, "message-burst", 10, "messages a user may send at once")
	fl.Float64Var(&c.TypingPerSecond, "typing-rate", 2, "typing updates per second a user may send (negative: no limit)")
	fl.IntVar(&c.TypingBurst, "typing-burst", 5, "typing updates a user may send at once")
	fl.DurationVar(&c.TypingTTL, "typing-ttl", 5*time.Second, "how long a typing indicator lasts without a refresh")
	fl.Float64Var(&c.UploadsPerSecond, "upload-rate", 1, "image upload URLs per second a user may request (negative: no limit)")
	fl.IntVar(&c.UploadBurst, "upload-burst", 10, "image upload URLs a user may request at once")
	return c
}
