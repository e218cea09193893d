// Command parley is Parley's one binary: a reactive chat backend over
// PostgreSQL.
//
//	parley dev      private Postgres + demo data + server (the embedded default)
//	parley serve    production server on DATABASE_URL
//	parley migrate  apply migrations and exit
//	parley token    mint a dev JWT
//	parley bench    load generator: the standard scenarios against a running server
//	parley codegen  write the TypeScript API (client-ts/src/api.ts) from the registry
//
// Only this package reads flags and the environment. dev and serve build
// the server through one assembly (assemble.go: runServer and the flags
// they share); each adds only what is its own (dev: the private cluster,
// demo data and sign-in; serve: DATABASE_URL and the production key
// sources).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

var version = "dev" // set with -ldflags "-X main.version=…"

const usage = `parley — a reactive chat backend over PostgreSQL

Usage:
  parley dev     [--data DIR] [--addr HOST:PORT] [--web DIR]
                                                      private Postgres + demo data + server + web app
  parley serve   [--addr HOST:PORT] [--jwt-secret S | --jwks-file F | --jwks-url U] [--guests [--guest-key K]]
                                                      production server on DATABASE_URL
  parley migrate                                      apply migrations to DATABASE_URL and exit
  parley token   [--data DIR] --sub ID --role customer|store|admin [--name NAME] [--store-id ID] [--org ORG] [--ttl 24h]
                                                      print a JWT signed with the dev secret
  parley bench   [--url URL] [--data DIR] [--scenario a|b|c|d|stall|gap|e|search|all] [--quick] [--json FILE]
                                                      drive a running server with the standard load scenarios
  parley codegen  [--out FILE|-] [--check]           write client-ts/src/api.ts, typed from the Go registry
  parley version

Run "parley COMMAND --help" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "dev":
		err = runDev(ctx, args)
	case "serve":
		err = runServe(ctx, args)
	case "migrate":
		err = runMigrate(ctx, args)
	case "token":
		err = runToken(args)
	case "bench":
		err = runBench(ctx, args)
	case "codegen":
		err = runCodegen(args)
	case "version", "--version":
		fmt.Println("parley", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "parley: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("bad log level %q (use debug, info, warn or error)", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// envOr returns the environment variable's value, or def.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
