package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/faultnet"
	"github.com/parley-chat/parley/internal/pgcluster"
	"github.com/parley-chat/parley/schema"
)

var longFlag = flag.Bool("chaos.long", false, "run the long form of the chaos suite (also PARLEY_CHAOS=long)")

// parleyBin is the server binary every fault runs: $PARLEY_BIN, or one
// TestMain builds.
var parleyBin string

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if testing.Short() {
			return m.Run()
		}
		parleyBin = os.Getenv("PARLEY_BIN")
		if parleyBin == "" {
			dir, err := os.MkdirTemp("", "parley-chaos-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, "chaos:", err)
				return 1
			}
			defer os.RemoveAll(dir)
			parleyBin = filepath.Join(dir, "parley")
			goBin, err := exec.LookPath("go")
			if err != nil {
				goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
			}
			out, err := exec.Command(goBin, "build", "-o", parleyBin, "../../cmd/parley").CombinedOutput()
			if err != nil {
				fmt.Fprintf(os.Stderr, "chaos: build parley: %v\n%s", err, out)
				return 1
			}
		} else if abs, err := filepath.Abs(parleyBin); err == nil {
			parleyBin = abs
		}
		sweepStale()
		tmpl, err := os.MkdirTemp("", "parley-chaos-pg-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
		defer os.RemoveAll(tmpl)
		templateDir = filepath.Join(tmpl, "pg")
		if err := makeTemplate(templateDir); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: template cluster:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// sweepStale stops the postmasters a chaos test binary that died before
// its cleanups (a go test timeout, a SIGKILL) left in its temp dirs, and
// removes those dirs: a postmaster whose parley-owner names a process
// that no longer runs.
func sweepStale() {
	// root is the directory to remove with the data directory in it.
	roots := map[string]string{}
	for _, pattern := range []struct{ glob, up string }{
		{"TestChaos*/*/pg", "../.."}, // t.TempDir(): …/TestChaosX123/001/pg
		{"parley-chaos-pg-*/pg", ".."},
	} {
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), pattern.glob))
		for _, dir := range m {
			roots[dir] = filepath.Join(dir, pattern.up)
		}
	}
	for dir, root := range roots {
		b, err := os.ReadFile(filepath.Join(dir, "parley-owner"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		pm, err1 := strconv.Atoi(f[0])
		owner, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || pgcluster.ProcessAlive(owner) {
			continue
		}
		if ours, err := pgcluster.IsPostmasterOf(pm, dir); err == nil && ours {
			_ = syscall.Kill(pm, syscall.SIGQUIT) // immediate shutdown
			if poll(10*time.Second, func() error {
				if pgcluster.ProcessAlive(pm) {
					return errors.New("still running")
				}
				return nil
			}) != nil {
				continue
			}
		}
		if filepath.Dir(root) == filepath.Clean(os.TempDir()) {
			_ = os.RemoveAll(root)
		}
	}
}

// templateDir is a stopped cluster's data directory holding the database
// "parley" with the schema and the demo data; each fault starts a copy.
var templateDir string

// makeTemplate initialises a cluster in dir, creates, migrates and seeds
// the database as `parley dev` does, and stops it.
func makeTemplate(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir})
	if err != nil {
		return err
	}
	defer c.Stop(context.Background()) //nolint:errcheck // the Stop below reports
	admin, err := pgxpool.New(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	_, err = admin.Exec(ctx, `CREATE DATABASE parley`)
	admin.Close()
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, c.URL("parley"))
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := schema.Migrate(ctx, pool); err != nil {
		return err
	}
	if err := schema.SeedDemo(ctx, pool); err != nil {
		return err
	}
	pool.Close()
	return c.Stop(ctx)
}

// long reports whether the long form runs.
func long() bool { return *longFlag || os.Getenv("PARLEY_CHAOS") == "long" }

// eventually polls f every 100ms until it returns nil or timeout passes,
// then fails t with f's last error.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	if err := poll(timeout, f); err != nil {
		t.Fatalf("%s: not within %s: %v", what, timeout, err)
	}
}

// poll is eventually without a test: it returns f's last error.
func poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// envOptions are the choices a fault makes about its setup.
type envOptions struct {
	link     bool   // the server reaches Postgres through a faultnet.Link
	mediaDir string // the server's --media-dir; "" means one in the test's temp dir
	// serverArgs are more flags for `parley serve`. Nil means none.
	serverArgs []string
}

// env is one fault's world: a Postgres cluster of its own with the demo
// data, and the real parley binary serving it on a fixed port (so that a
// restarted server has the address its clients know).
type env struct {
	t      *testing.T
	pgDir  string
	pgPort int

	mu      sync.Mutex
	cluster *pgcluster.Cluster

	dbURL    string        // the database, directly, as the superuser
	mediaDir string        // the server's --media-dir
	db       *pgxpool.Pool // the test's own connections (SQL writers, counts)
	link     *faultnet.Link
	srv      *server
	secret   []byte
	john     string // John's token
	url      string
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	e := &env{t: t, pgDir: filepath.Join(t.TempDir(), "pg"), secret: []byte(strconv.FormatInt(time.Now().UnixNano(), 36) + "-chaos-secret-0123456789abcdef")}
	// cp -a keeps the files' owner (the postgres user, when run as root).
	out, err := exec.Command("cp", "-a", templateDir, e.pgDir).CombinedOutput()
	require.NoError(t, err, "copy the template cluster: %s", out)
	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: e.pgDir})
	require.NoError(t, err)
	e.cluster, e.pgPort = c, c.Port()
	t.Cleanup(e.stopCluster)
	e.dbURL = c.URL("parley")
	e.db, err = pgxpool.New(ctx, e.dbURL)
	require.NoError(t, err)
	t.Cleanup(e.db.Close)

	serverDB := e.dbURL
	if opts.link {
		e.link, err = faultnet.New("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.pgPort)))
		require.NoError(t, err)
		t.Cleanup(func() { e.link.Close() })
		serverDB = "postgres://postgres@" + e.link.Addr().String() + "/parley?sslmode=disable"
	}
	media := opts.mediaDir
	if media == "" {
		media = filepath.Join(t.TempDir(), "media")
	}
	e.mediaDir = media
	e.srv = e.newServer(t, serverDB, opts.serverArgs)
	e.url = e.srv.url
	require.NoError(t, e.srv.start())
	e.john = e.token(t, functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer, Name: "John Doe"})
	return e
}

// newServer is a `parley serve` of e's database (at serverDB) on ports of
// its own with extra flags, not started; the test's cleanup kills it.
func (e *env) newServer(t *testing.T, serverDB string, extra []string) *server {
	port, debugPort := freePort(t), freePort(t)
	srv := &server{
		bin: parleyBin, url: "http://127.0.0.1:" + strconv.Itoa(port), debugURL: "http://127.0.0.1:" + strconv.Itoa(debugPort),
		logPath: filepath.Join(t.TempDir(), "parley.log"),
		args: []string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--debug-addr", "127.0.0.1:" + strconv.Itoa(debugPort),
			"--media-dir", e.mediaDir, "--log-level", "warn",
			"--message-rate", "-1", "--typing-rate", "-1", "--upload-rate", "-1",
			// The herd (up to 1,000 clients) and the load are all John.
			"--max-sessions-per-user", "0"},
		env: append(os.Environ(), "DATABASE_URL="+serverDB, "PARLEY_JWT_SECRET="+string(e.secret)),
	}
	srv.args = append(append(srv.args, webhookArgs...), extra...)
	t.Cleanup(func() {
		srv.kill()
		if t.Failed() {
			t.Logf("server %s log (tail):\n%s", srv.url, srv.logTail(4000))
		}
	})
	return srv
}

func (e *env) token(t testing.TB, id functions.Identity) string {
	tok, err := jwtauth.MintHS256(e.secret, id, 2*time.Hour)
	require.NoError(t, err)
	return tok
}

// postmasterPID reads the running postmaster's pid from postmaster.pid.
func (e *env) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(e.pgDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// crashPostgres is `pg_ctl stop -m immediate`: SIGQUIT to the postmaster,
// which quits without a checkpoint, and a wait until it is gone.
func (e *env) crashPostgres() error {
	pid, err := e.postmasterPID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		return err
	}
	return poll(30*time.Second, func() error {
		if pgcluster.ProcessAlive(pid) {
			return fmt.Errorf("postmaster %d still runs", pid)
		}
		return nil
	})
}

// restartPostgres starts the cluster again on its data and port.
func (e *env) restartPostgres(ctx context.Context) error {
	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: e.pgDir, Port: e.pgPort})
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.cluster = c
	e.mu.Unlock()
	return nil
}

func (e *env) stopCluster() {
	e.mu.Lock()
	c := e.cluster
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		// A cluster crashed by the test and not restarted, or one that
		// would not stop: make sure no postmaster outlives the test.
		if pid, perr := e.postmasterPID(); perr == nil && pgcluster.ProcessAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// health is the part of /healthz the suite reads.
type health struct {
	Status      string `json:"status"`
	Database    string `json:"database"`
	Replication struct {
		Connected  bool  `json:"connected"`
		Reconnects int64 `json:"reconnects"`
	} `json:"replication"`
	Sessions           int    `json:"sessions"`
	Media              string `json:"media"`
	SessionsClosedSlow uint64 `json:"sessionsClosedSlow"`
}

// state is one reading of /healthz as a short word: "ok", "degraded
// (database unreachable, replication disconnected)", or "unreachable"
// when the server does not answer.
func (e *env) health() (health, string) {
	var h health
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(e.url + "/healthz")
	if err != nil {
		return h, "unreachable"
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, "unreadable"
	}
	if h.Status == "ok" && h.Replication.Connected {
		return h, "ok"
	}
	var why []string
	if h.Database != "ok" {
		why = append(why, "database "+h.Database)
	}
	if !h.Replication.Connected {
		why = append(why, "replication disconnected")
	}
	if len(why) == 0 {
		// The stream is connected but the engine is not applying it yet
		// (catching up after a reconnect).
		why = append(why, "engine not replicating")
	}
	return h, h.Status + " (" + strings.Join(why, ", ") + ")"
}

// server is one `parley serve` process at a time, started and restarted
// on the same flags. Safe for concurrent use.
type server struct {
	bin, url, debugURL, logPath string
	args, env                   []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// start starts the process and waits until /healthz answers ok.
func (s *server) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = s.env, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { // owned: kill and stop wait for done
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	err = poll(90*time.Second, func() error {
		select {
		case <-done:
			return errors.New("parley exited")
		default:
		}
		resp, err := http.Get(s.url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("parley serve did not become healthy: %w\n%s", err, s.logTail(3000))
	}
	return nil
}

// pid is the running process's pid; 0 when none runs.
func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	select {
	case <-s.done:
		return 0
	default:
		return s.cmd.Process.Pid
	}
}

// kill is kill -9 of the process group, and a wait for the process.
func (s *server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// stop asks the process to stop (SIGINT) and waits; after 60s it kills it.
func (s *server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		s.kill()
	}
}

func (s *server) logTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// sample is the server process's size: goroutines (from its profiler)
// and resident memory (VmRSS).
type sample struct {
	goroutines int
	rssKiB     int
}

func (s *server) sample() (sample, error) {
	var out sample
	pid := s.pid()
	if pid == 0 {
		return out, errors.New("no server process")
	}
	// gc=1 collects first, so the heap (and what RSS the runtime gives
	// back) reflects what is live, not what awaits collection.
	if resp, err := http.Get(s.debugURL + "/debug/pprof/heap?gc=1"); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get(s.debugURL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return out, err
	}
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &out.goroutines); err != nil {
		return out, fmt.Errorf("goroutine profile %q: %w", line, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &out.rssKiB) //nolint:errcheck // checked below
		}
	}
	if out.rssKiB == 0 {
		return out, errors.New("no VmRSS in /proc status")
	}
	return out, nil
}
