package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/internal/pgcluster"
)

// EnvDatabaseURL names the environment variable holding the URL of an
// existing server to use instead of a private cluster.
const EnvDatabaseURL = "PARLEY_TEST_DATABASE_URL"

// errShutDown is the setup error NewDB reports after Main has cleaned up.
var errShutDown = errors.New("pgtest: server already shut down (NewDB called after Main's tests finished)")

const (
	dirPrefix     = "parley-pgtest-"
	ownerFileName = "owner.pid"
	dataDirName   = "data"
	setupTimeout  = 2 * time.Minute
	opTimeout     = 30 * time.Second
	pollInterval  = 10 * time.Millisecond
	maxNameStem   = 40
)

// server is the one server of this test binary.
type server struct {
	adminURL string             // URL of a database to run CREATE/DROP DATABASE from
	cluster  *pgcluster.Cluster // nil when EnvDatabaseURL is used
	root     string             // directory holding the cluster; "" when EnvDatabaseURL is used
}

var (
	mainCalled atomic.Bool
	srvOnce    sync.Once
	srv        server
	srvErr     error
)

// Main runs the tests of a package, then stops the private cluster (if one
// was started) and removes its directory, then exits with the tests' status.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// NewDB creates a database with a unique name and returns its connection URL
// as a superuser. The test's cleanup terminates its backends, drops its
// replication slots and drops it.
func NewDB(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: TestMain must call pgtest.Main(m) in every package that uses pgtest.NewDB")
	}
	srvOnce.Do(func() { srv, srvErr = setup() })
	if srvErr != nil {
		t.Fatalf("pgtest: %v", srvErr)
	}
	s := srv

	name, err := dbName(t.Name())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dbURL, err := withDatabase(s.adminURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		t.Fatalf("pgtest: connect to server: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := dropDB(s.adminURL, name); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return dbURL
}

// Eventually calls f every 10ms or so until it returns nil, and fails the
// test with f's last error if that has not happened within timeout. f is
// always called at least once. Call it from the test's goroutine.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
			return
		}
		<-ticker.C
	}
}

// setup finds or starts the server of this test binary.
func setup() (server, error) {
	if u := os.Getenv(EnvDatabaseURL); u != "" {
		if _, err := withDatabase(u, "x"); err != nil {
			return server{}, fmt.Errorf("%s: %w", EnvDatabaseURL, err)
		}
		return server{adminURL: u}, nil
	}

	sweepStale()
	root, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return server{}, fmt.Errorf("create cluster dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, ownerFileName), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		_ = os.RemoveAll(root)
		return server{}, fmt.Errorf("write owner file: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: filepath.Join(root, dataDirName)})
	if err != nil {
		_ = os.RemoveAll(root)
		return server{}, fmt.Errorf("start private cluster (or set %s): %w", EnvDatabaseURL, err)
	}
	return server{adminURL: c.URL("postgres"), cluster: c, root: root}, nil
}

// shutdown stops the private cluster, if any, and removes its directory.
func shutdown() error {
	// If no test set the server up, this marks it as shut down; otherwise it
	// waits for (and orders us after) the setup that ran.
	srvOnce.Do(func() { srvErr = errShutDown })
	if srv.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := srv.cluster.Stop(ctx); err != nil {
		return fmt.Errorf("pgtest: stop private cluster in %s: %w", srv.root, err)
	}
	if err := os.RemoveAll(srv.root); err != nil {
		return fmt.Errorf("pgtest: remove private cluster: %w", err)
	}
	return nil
}

// dropDB terminates the backends of database name, drops its replication
// slots and drops it.
func dropDB(adminURL, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()

	// A slot stays active for a moment after its walsender is told to
	// terminate, and a client may reconnect meanwhile, so retry until none
	// is left.
	if err := poll(ctx, func() error { return dropSlots(ctx, conn, name) }); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	return nil
}

// dropSlots makes one attempt at terminating the backends of database name
// and dropping its replication slots; it returns nil once no slot is left.
func dropSlots(ctx context.Context, conn *pgx.Conn, name string) error {
	const terminate = `
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = $1 AND pid <> pg_backend_pid()
UNION ALL
SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
WHERE database = $1 AND active_pid IS NOT NULL`
	if _, err := conn.Exec(ctx, terminate, name); err != nil {
		return fmt.Errorf("terminate backends: %w", err)
	}
	rows, err := conn.Query(ctx, "SELECT slot_name FROM pg_replication_slots WHERE database = $1 AND NOT active", name)
	if err != nil {
		return fmt.Errorf("list replication slots: %w", err)
	}
	slots, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list replication slots: %w", err)
	}
	var dropErr error
	for _, slot := range slots {
		if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot); err != nil {
			dropErr = fmt.Errorf("drop replication slot %s: %w", slot, err)
		}
	}
	var left int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE database = $1", name).Scan(&left); err != nil {
		return fmt.Errorf("count replication slots: %w", err)
	}
	if left > 0 {
		return errors.Join(fmt.Errorf("%d replication slots left", left), dropErr)
	}
	return nil
}

// poll calls f every pollInterval until it returns nil or ctx ends, and then
// returns f's last error.
func poll(ctx context.Context, f func() error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-ticker.C:
		}
	}
}

// dbName derives a unique database name from a test name: a readable stem
// and 16 random hex digits, at most 3+40+1+16 bytes (under the 63 limit).
func dbName(testName string) (string, error) {
	var stem strings.Builder
	for _, r := range strings.ToLower(testName) {
		if stem.Len() >= maxNameStem {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			stem.WriteRune(r)
		default:
			stem.WriteByte('_')
		}
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("database name: %w", err)
	}
	return "pt_" + stem.String() + "_" + hex.EncodeToString(b[:]), nil
}

// withDatabase returns serverURL with its database replaced by name.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("parse server URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("server URL: want a postgres:// URL, got scheme %q", u.Scheme)
	}
	u.Path, u.RawPath = "/"+name, ""
	q := u.Query()
	q.Del("dbname")
	q.Del("database")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// sweepStale stops and removes private clusters left behind by test
// binaries that died before Main's cleanup. Failures are ignored: a leftover
// is only wasted space, and the next sweep tries again.
func sweepStale() {
	roots, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, root := range roots {
		owner, ok := readPID(filepath.Join(root, ownerFileName))
		if !ok || pgcluster.ProcessAlive(owner) {
			continue
		}
		dataDir := filepath.Join(root, dataDirName)
		if pm, ok := readPID(filepath.Join(dataDir, "postmaster.pid")); ok && isPostmaster(pm, dataDir) {
			// SIGQUIT is postgres's immediate shutdown.
			_ = syscall.Kill(pm, syscall.SIGQUIT)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := poll(ctx, func() error {
				if pgcluster.ProcessAlive(pm) {
					return errors.New("postmaster still running")
				}
				return nil
			})
			cancel()
			if err != nil {
				continue
			}
		}
		_ = os.RemoveAll(root)
	}
}

// readPID reads the pid on the first line of a file.
func readPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return pid, err == nil && pid > 0
}

// isPostmaster reports whether pid is the postmaster of the data directory
// dir. When /proc cannot tell, it says no: the pid may have been reused by
// an unrelated process, which must not be signalled.
func isPostmaster(pid int, dir string) bool {
	ours, err := pgcluster.IsPostmasterOf(pid, dir)
	return err == nil && ours
}
