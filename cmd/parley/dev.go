package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/devauth"
	"github.com/parley-chat/parley/internal/devmail"
	"github.com/parley-chat/parley/internal/devturn"
	"github.com/parley-chat/parley/internal/pgcluster"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

const devSecretFile = "dev-secret"

// devTokenTTL is the lifetime of the tokens the dev sign-in mints.
const devTokenTTL = 24 * time.Hour

// devSecret reads the dev signing secret kept in dir, creating it once.
func devSecret(dir string, create bool) ([]byte, error) {
	path := filepath.Join(dir, devSecretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return nil, fmt.Errorf("read dev secret %s: %w (run \"parley dev\" first)", path, err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write dev secret: %w", err)
	}
	return []byte(secret), nil
}

func runDev(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("parley dev", flag.ContinueOnError)
	data := fl.String("data", ".parley", "data directory: Postgres cluster, dev secret, database.url, media (uploaded images), media-key, mail (captured notification mail), unsubscribe-key and turn-secret")
	addr := fl.String("addr", "127.0.0.1:3210", "listen address")
	shared := declareServerFlags(fl, false)
	webDir := fl.String("web", defaultWebDir, "directory of the built web app, served at / (empty: none)")
	nodes := fl.Int("nodes", 1, "nodes to run: more than 1 starts an embedded NATS server (JetStream under DATA/nats) and that many "+
		"cluster nodes on the ports after --addr's, with a round-robin proxy on --addr")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *nodes < 1 {
		return fmt.Errorf("--nodes %d: a cluster has at least one node", *nodes)
	}
	if *nodes > 1 && *shared.cluster.url != "" {
		return errors.New("--nodes starts its own NATS server: drop --cluster (or run parley serve --cluster per node)")
	}
	log, err := newLogger(*shared.logLevel)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	secret, err := devSecret(dir, true)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another parley running? use --addr)", *addr, err)
	}
	defer ln.Close()

	fmt.Fprintf(os.Stderr, "parley: starting Postgres in %s …\n", filepath.Join(dir, "pg"))
	cluster, err := pgcluster.Start(ctx, pgcluster.Config{Dir: filepath.Join(dir, "pg"), Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cluster.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "parley: stop Postgres:", err)
		} else {
			fmt.Fprintln(os.Stderr, "parley: Postgres stopped")
		}
	}()
	dbURL, err := prepareDevDatabase(ctx, cluster)
	if err != nil {
		return err
	}
	// For "parley bench --data DIR", which seeds and writes by SQL.
	if err := os.WriteFile(filepath.Join(dir, databaseURLFile), []byte(dbURL+"\n"), 0o600); err != nil {
		return fmt.Errorf("write database url: %w", err)
	}
	guestKey, err := shared.guests.resolveKey("", dir)
	if err != nil {
		return err
	}
	verifier, err := jwtauth.New(ctx, jwtauth.Config{HS256Secret: secret, GuestKey: guestKey})
	if err != nil {
		return err
	}
	// Dev-only routes: the demo sign-in, captured mail and the web app,
	// on every node's mux.
	mailDir, err := devmail.New(filepath.Join(dir, "mail"))
	if err != nil {
		return err
	}
	var webNote func(string) string
	devMux := func() (*http.ServeMux, error) {
		mux := http.NewServeMux()
		devauth.Register(mux, secret, devTokenTTL)
		mailDir.Register(mux)
		note, err := mountWeb(mux, *webDir, flagSet(fl, "web"))
		webNote = note
		return mux, err
	}
	turnSrv, err := shared.ice.startDevTURN(dir)
	if err != nil {
		return err
	}
	if turnSrv != nil {
		defer turnSrv.Close()
	}
	url := "http://" + ln.Addr().String()
	dataFlag := ""
	if *data != ".parley" {
		dataFlag = " --data " + *data
	}
	var nodeURLs []string
	banner := func() {
		fmt.Fprintf(os.Stderr, `
parley: serving on %s (Postgres on port %d, database "parley")
%s
  Web app:       %s
  Get a token:   %[5]s token%[6]s --sub cust123456789 --role customer --name "John Doe"
                 %[5]s token%[6]s --sub user123456789 --role store --store-id store123456789 --name "Pizza Palace Support"
                 %[5]s token%[6]s --sub admin123456789 --role admin --name "Parley Support"
  Connect:       new ConvexClient("%s") and client.setAuth(async () => token)
  Guests:        %s
  Mail:          %s
  ICE servers:   %s
  Health:        %s/healthz     Metrics: %s/metrics

Press Ctrl-C to stop.
`, url, cluster.Port(), nodesNote(nodeURLs), webNote(url), self(), dataFlag, url, guestNote(url, guestKey != nil),
			mailNote(url, *shared.mail, mailDir), iceNote(url, shared.ice, turnSrv), url, url)
	}
	// seed runs once, on the first node that is ready: the document's
	// image (file123456789), for its image message, and the assistant's
	// demo data.
	var seedOnce sync.Once
	var seedErr error
	seed := func(srv *server.Server) error {
		seedOnce.Do(func() {
			if seedErr = srv.Media.SeedDemo(ctx); seedErr == nil && shared.ai.demo {
				seedErr = assistant.SeedDemo(ctx, srv.Pool)
			}
		})
		return seedErr
	}
	baseCfg := server.Config{DatabaseURL: dbURL, Guests: shared.guests.config(guestKey), Mail: server.MailConfig{Mailer: mailDir}}
	serving := false
	if *nodes <= 1 {
		mux, err := devMux()
		if err != nil {
			return err
		}
		cfg := baseCfg
		cfg.Listener, cfg.Mux = ln, mux
		err = runServer(ctx, log, cfg, verifier, shared, dir, func(srv *server.Server) error {
			serving = true
			if err := seed(srv); err != nil {
				return err
			}
			banner()
			return nil
		})
		if serving {
			fmt.Fprintln(os.Stderr, "parley: shutting down")
		}
		return err
	}
	err = runDevNodes(ctx, log, devNodes{
		n: *nodes, dir: dir, proxyLn: ln, anyPort: anyPort(*addr), base: baseCfg, verifier: verifier, flags: shared, mux: devMux, seed: seed,
		ready: func(urls []string) { nodeURLs = urls; serving = true; banner() },
	})
	if serving {
		fmt.Fprintln(os.Stderr, "parley: shutting down")
	}
	return err
}

// self is how to run this binary again from where it was started: the
// path it was started by ("bin/parley" from make run), or "parley" when
// it was found on the PATH.
func self() string {
	if arg := os.Args[0]; strings.ContainsRune(arg, os.PathSeparator) {
		return arg
	}
	return "parley"
}

// anyPort reports whether addr (--addr) asks for any free port.
func anyPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && (port == "0" || port == "")
}

// nodesNote is the startup message's line about the nodes of
// `parley dev --nodes N` (with-dev-server.sh reads it); empty for one.
func nodesNote(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	return "parley: nodes on " + strings.Join(urls, ",") + " (a cluster over the embedded NATS; the address above spreads requests over them)\n"
}

// iceNote is the startup message's line about STUN and TURN.
func iceNote(url string, o *iceOptions, srv *devturn.Server) string {
	switch {
	case srv != nil:
		return "embedded TURN/STUN on udp " + srv.Addr() + " (loopback relays), credentials at " + url + "/api/ice-servers"
	case o.turn != "" || o.stun != "":
		return url + "/api/ice-servers"
	}
	return "none (--turn-listen \"\")"
}

// mailNote is the startup message's line about notification mail.
func mailNote(url string, o mailOptions, d *devmail.Dir) string {
	if o.smtpURL != "" {
		return "sent through --smtp-url to participants offline for " + o.offlineAfter.String()
	}
	return "kept in " + d.Path() + ", shown at " + url + devmail.PagePath + " (participants offline for " + o.offlineAfter.String() + ")"
}

// prepareDevDatabase creates the "parley" database if needed, migrates it
// and loads the demo data.
func prepareDevDatabase(ctx context.Context, cluster *pgcluster.Cluster) (string, error) {
	admin, err := pgxpool.New(ctx, cluster.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	var exists bool
	err = admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'parley')`).Scan(&exists)
	if err == nil && !exists {
		_, err = admin.Exec(ctx, `CREATE DATABASE parley`)
	}
	admin.Close()
	if err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	// The server and the tools run on this host: the Unix socket is the
	// cheaper way in (it cut the server's CPU per sendMessage in bench d).
	dbURL, ok := cluster.SocketURL("parley")
	if !ok {
		dbURL = cluster.URL("parley")
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	if _, err := schema.Migrate(ctx, pool); err != nil {
		return "", err
	}
	if err := schema.SeedDemo(ctx, pool); err != nil {
		return "", err
	}
	return dbURL, nil
}
