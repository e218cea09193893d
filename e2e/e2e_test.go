// Package e2e_test drives a real Parley server with the official convex npm
// client. The Go side starts the server on a private Postgres with the demo
// data and mints tokens; the Node side (e2e/node/*.test.mjs, run with
// `node --test`) is the client. `make test` installs the Node packages
// (scripts/ensure-deps.sh).
package e2e_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	// nodeDir holds the Node tests, relative to this package's directory
	// (the working directory of `go test`).
	nodeDir = "node"
	// nodeTimeout bounds the whole `node --test` run; each Node test also
	// has its own bound (--test-timeout) and waits with timeouts.
	nodeTimeout     = 4 * time.Minute
	nodeTestTimeout = 30 * time.Second
	tokenTTL        = time.Hour
)

// TestOfficialConvexClient runs e2e/node/*.test.mjs against a fresh server.
func TestOfficialConvexClient(t *testing.T) {
	dir, files := nodeTests(t)
	nodeBin := requireNode(t, dir)

	url, tokens := startServer(t)

	ctx, cancel := context.WithTimeout(t.Context(), nodeRunTimeout(t))
	defer cancel()
	args := append([]string{
		"--test",
		"--test-reporter=spec",
		// The files share the demo conversation; one at a time keeps unread
		// counts and "newest message" checks deterministic.
		"--test-concurrency=1",
		"--test-timeout=" + strconv.Itoa(int(nodeTestTimeout.Milliseconds())),
	}, files...)
	cmd := exec.CommandContext(ctx, nodeBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PARLEY_URL="+url,
		"PARLEY_TOKEN_CUSTOMER="+tokens.customer,
		"PARLEY_TOKEN_STORE="+tokens.store,
		"PARLEY_TOKEN_OTHER="+tokens.other,
		"PARLEY_TOKEN_BAD="+tokens.bad,
		"NO_COLOR=1",
	)
	inProcessGroup(cmd)
	cmd.WaitDelay = 10 * time.Second

	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	scanned := make(chan summary, 1)
	go func() { scanned <- streamOutput(t, pr) }()

	start := time.Now()
	runErr := cmd.Run()
	pw.Close()
	sum := <-scanned
	elapsed := time.Since(start).Round(time.Millisecond)

	t.Logf("node --test summary: %s (%d files, exit %s, %s)", sum, len(files), exitStatus(runErr), elapsed)
	switch {
	case ctx.Err() != nil:
		t.Fatalf("node --test did not finish within %s: %v", nodeRunTimeout(t), runErr)
	case runErr != nil:
		t.Fatalf("node --test failed: %v (%s); its output is above", runErr, sum)
	case !sum.found:
		t.Fatalf("node --test printed no summary; its output is above")
	case sum.n["tests"] == 0 || sum.n["fail"] != 0 || sum.n["cancelled"] != 0 ||
		sum.n["pass"]+sum.n["todo"] != sum.n["tests"]:
		t.Fatalf("node --test: not every test passed (%s)", sum)
	}
	if sum.n["todo"] > 0 {
		// A todo test documents a known server bug; its result (usually a
		// failure) is in the output above, marked "# TODO".
		t.Logf("node --test: %d todo test(s) for known server bugs, see \"# TODO\" above", sum.n["todo"])
	}
}

// nodeTests returns the absolute Node test directory and its test files.
func nodeTests(t *testing.T) (string, []string) {
	t.Helper()
	dir, err := filepath.Abs(nodeDir)
	if err != nil {
		t.Fatal(err)
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*.test.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		t.Fatalf("no *.test.mjs files in %s", dir)
	}
	files := make([]string, len(matches))
	for i, m := range matches {
		files[i] = filepath.Base(m)
	}
	return dir, files
}

// requireNode returns the node binary, failing (not skipping) the test when
// node or the installed packages are missing.
func requireNode(t *testing.T, dir string) string {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: install Node.js 20 or newer, then run `make test` "+
			"(it installs the e2e packages via scripts/ensure-deps.sh): %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "convex", "package.json")); err != nil {
		t.Fatalf("the convex npm package is not installed in %s/node_modules: run `make test` "+
			"(scripts/ensure-deps.sh runs npm ci there), or `npm ci` in %s: %v", dir, dir, err)
	}
	return bin
}

type demoTokens struct{ customer, store, other, bad string }

// startServer starts Parley on a fresh database with the demo data and
// returns its URL and the demo tokens. The server stops in t's cleanup.
func startServer(t *testing.T) (string, demoTokens) {
	t.Helper()
	dbURL := pgtest.NewDB(t)
	setupCtx, cancelSetup := context.WithTimeout(t.Context(), time.Minute)
	defer cancelSetup()
	pool, err := pgxpool.New(setupCtx, dbURL)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	if _, err := schema.Migrate(setupCtx, pool); err != nil {
		pool.Close()
		t.Fatalf("migrate: %v", err)
	}
	if err := schema.SeedDemo(setupCtx, pool); err != nil {
		pool.Close()
		t.Fatalf("seed: %v", err)
	}
	pool.Close()

	secret := randomSecret(t)
	verifier, err := jwtauth.New(setupCtx, jwtauth.Config{HS256Secret: secret})
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(setupCtx, server.Config{DatabaseURL: dbURL, Verifier: verifier, Listener: ln, Logger: logger})
	if err != nil {
		ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("server.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("server.Run did not return within 30s of cancellation")
		}
	})

	url := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 2 * time.Second}
	pgtest.Eventually(t, 30*time.Second, func() error {
		resp, err := client.Get(url + "/healthz")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /healthz: %s %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	})

	mint := func(secret []byte, id functions.Identity) string {
		tok, err := jwtauth.MintHS256(secret, id, tokenTTL)
		if err != nil {
			t.Fatalf("mint token for %s: %v", id.Subject, err)
		}
		return tok
	}
	customer := functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer, Name: "John Doe"}
	return url, demoTokens{
		customer: mint(secret, customer),
		store: mint(secret, functions.Identity{Subject: schema.DemoStaffID, Role: functions.RoleStore,
			Name: "Pizza Palace Support", StoreID: schema.DemoStoreID}),
		other: mint(secret, functions.Identity{Subject: schema.DemoOtherCustomerID, Role: functions.RoleCustomer, Name: "Jane Roe"}),
		// John's claims, signed with a secret the server does not know.
		bad: mint(randomSecret(t), customer),
	}
}

func randomSecret(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, jwtauth.MinSecretLen)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// nodeRunTimeout is nodeTimeout, or less when the test's deadline is nearer
// (leaving time to report and clean up).
func nodeRunTimeout(t *testing.T) time.Duration {
	d := nodeTimeout
	if dl, ok := t.Deadline(); ok {
		if left := time.Until(dl) - 30*time.Second; left < d {
			d = max(left, 10*time.Second)
		}
	}
	return d
}

// summary is the totals the node test reporter prints last.
type summary struct {
	found bool
	n     map[string]int
	ms    string
}

func (s summary) String() string {
	if !s.found {
		return "no summary"
	}
	return fmt.Sprintf("%d tests, %d passed, %d failed, %d cancelled, %d skipped, %d todo, %sms",
		s.n["tests"], s.n["pass"], s.n["fail"], s.n["cancelled"], s.n["skipped"], s.n["todo"], s.ms)
}

// summaryLine matches the totals of the spec reporter ("ℹ pass 12") and
// of the TAP reporter ("# pass 12").
var summaryLine = regexp.MustCompile(`^(?:ℹ|#) (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([0-9.]+)$`)

// streamOutput logs r line by line until EOF and returns the summary found
// in it.
func streamOutput(t *testing.T, r io.Reader) summary {
	s := summary{n: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		t.Log("node: " + line)
		if m := summaryLine.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			s.found = true
			if m[1] == "duration_ms" {
				s.ms = m[2]
			} else if n, err := strconv.Atoi(m[2]); err == nil {
				s.n[m[1]] = n
			}
		}
	}
	// Drain whatever is left after a scanner error so node never blocks.
	_, _ = io.Copy(io.Discard, r)
	return s
}

func exitStatus(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "0"
	case errors.As(err, &ee):
		return strconv.Itoa(ee.ExitCode())
	default:
		return err.Error()
	}
}
