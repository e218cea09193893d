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
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
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

// dedicatedFiles are the Node test files that need a server of their own;
// the test named here runs each, and TestOfficialConvexClient skips them.
var dedicatedFiles = map[string]string{
	// Expects the demo conversation exactly as schema/demo.go seeds it.
	"snippets.test.mjs": "TestAPIDocumentSnippets",
	// Configures an assistant for the default org, which answers support
	// conversations from then on.
	"assistant.test.mjs": "TestAssistantStreamsToTheOfficialClient",
}

// TestOfficialConvexClient runs e2e/node/*.test.mjs, except dedicatedFiles,
// against a fresh server.
func TestOfficialConvexClient(t *testing.T) {
	dir, files := nodeTests(t)
	url, tokens := startServer(t)
	// The files share the demo conversation; the harness runs one at a time,
	// which keeps unread counts and "newest message" checks deterministic.
	runNode(t, dir, url, tokens, files)
}

// TestAPIDocumentSnippets runs the API document's code snippets
// (e2e/node/snippets.test.mjs) unmodified through the official client
// against a pristine server of its own, so the demo conversation is exactly
// the document's.
func TestAPIDocumentSnippets(t *testing.T) {
	dir := nodeDirAbs(t)
	const file = "snippets.test.mjs"
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		t.Fatal(err)
	}
	url, tokens := startServer(t)
	runNode(t, dir, url, tokens, []string{file})
}

// TestAssistantStreamsToTheOfficialClient runs e2e/node/assistant.test.mjs:
// the built-in assistant's answer grows in the official client's
// getMessages, and a client subscribing mid-stream gets the text so far.
// Its words stream 60 ms apart, so that an answer takes about a second.
func TestAssistantStreamsToTheOfficialClient(t *testing.T) {
	dir := nodeDirAbs(t)
	const file = "assistant.test.mjs"
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		t.Fatal(err)
	}
	url, tokens := startServerWith(t, func(cfg *server.Config) {
		cfg.Assistant.Builtin = assistant.Builtin{WordDelay: 60 * time.Millisecond}
	})
	runNode(t, dir, url, tokens, []string{file})
}

// runNode runs `node --test` on files (relative to dir) against the server
// at url with tokens, one file at a time, and fails t unless every test in
// them passed (todo tests aside).
func runNode(t *testing.T, dir, url string, tokens demoTokens, files []string) {
	t.Helper()
	nodeBin := requireNode(t, dir)

	ctx, cancel := context.WithTimeout(t.Context(), nodeRunTimeout(t))
	defer cancel()
	args := append([]string{
		"--test",
		"--test-reporter=spec",
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
		"PARLEY_TOKEN_ADMIN="+tokens.admin,
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

// nodeDirAbs returns the absolute Node test directory.
func nodeDirAbs(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(nodeDir)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// nodeTests returns the absolute Node test directory and its test files
// but dedicatedFiles.
func nodeTests(t *testing.T) (string, []string) {
	t.Helper()
	dir := nodeDirAbs(t)
	matches, err := filepath.Glob(filepath.Join(dir, "*.test.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, m := range matches {
		if f := filepath.Base(m); dedicatedFiles[f] == "" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatalf("no *.test.mjs files in %s (besides those with a test of their own)", dir)
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

type demoTokens struct{ customer, store, other, admin, bad string }

// startServer starts Parley on a fresh database with the demo data and
// returns its URL and the demo tokens. The server stops in t's cleanup.
func startServer(t *testing.T) (string, demoTokens) {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with configure applied to the server's
// configuration (nil: Start's).
func startServerWith(t *testing.T, configure func(*server.Config)) (string, demoTokens) {
	t.Helper()
	var s *parleytest.Server
	if configure == nil {
		s = parleytest.Start(t)
	} else {
		s = parleytest.StartConfigured(t, configure)
	}
	// John's claims, signed with a secret the server does not know.
	bad, err := jwtauth.MintHS256(randomSecret(t), parleytest.John, tokenTTL)
	if err != nil {
		t.Fatalf("mint token for %s: %v", parleytest.John.Subject, err)
	}
	return s.URL, demoTokens{
		customer: s.TokenTTL(t, parleytest.John, tokenTTL),
		store:    s.TokenTTL(t, parleytest.PizzaStaff, tokenTTL),
		other:    s.TokenTTL(t, parleytest.Jane, tokenTTL),
		admin:    s.TokenTTL(t, parleytest.Admin, tokenTTL),
		bad:      bad,
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
