package pgcluster_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgcluster"
)

func start(t *testing.T, cfg pgcluster.Config) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestStartStopReuse(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "pgdata")

	c := start(t, pgcluster.Config{Dir: dir, ExtraSettings: map[string]string{"application_name": "it's quoted"}})
	require.NotZero(t, c.Port())
	conn := connect(t, c.URL("postgres"))

	var walLevel, appName string
	require.NoError(t, conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel))
	require.Equal(t, "logical", walLevel)
	require.NoError(t, conn.QueryRow(ctx, "SHOW application_name").Scan(&appName))
	require.NotEmpty(t, appName) // the client overrides the server default; the point is the quoting did not break startup

	_, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	_, err = pgcluster.Start(ctx, pgcluster.Config{Dir: dir})
	require.ErrorIs(t, err, pgcluster.ErrAlreadyRunning)

	require.NoError(t, c.Stop(ctx))
	require.NoError(t, c.Stop(ctx), "Stop is idempotent")

	c2 := start(t, pgcluster.Config{Dir: dir})
	conn2 := connect(t, c2.URL("postgres"))
	var v string
	require.NoError(t, conn2.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, "hello", v)

	// The same server over its Unix socket, where the server sees no
	// client address at all.
	socketURL, ok := c2.SocketURL("postgres")
	require.True(t, ok, "a short data directory gets a socket")
	var tcp, unix *string
	require.NoError(t, conn2.QueryRow(ctx, "SELECT inet_client_addr()::text").Scan(&tcp))
	require.NotNil(t, tcp, "URL connects over TCP")
	require.NoError(t, connect(t, socketURL).QueryRow(ctx, "SELECT inet_client_addr()::text, (SELECT v FROM kept)").Scan(&unix, &v))
	require.Nil(t, unix, "SocketURL connects over the Unix socket")
	require.Equal(t, "hello", v)
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(t *testing.T) pgcluster.Config
		target error
		substr string
	}{
		{
			name:   "no dir",
			cfg:    func(*testing.T) pgcluster.Config { return pgcluster.Config{} },
			substr: "Config.Dir is required",
		},
		{
			name: "bad port",
			cfg: func(t *testing.T) pgcluster.Config {
				return pgcluster.Config{Dir: t.TempDir(), Port: 70000}
			},
			substr: "out of range",
		},
		{
			name: "no binaries",
			cfg: func(t *testing.T) pgcluster.Config {
				return pgcluster.Config{Dir: t.TempDir(), BinDir: t.TempDir()}
			},
			target: pgcluster.ErrBinariesNotFound,
		},
		{
			name: "bad setting",
			cfg: func(t *testing.T) pgcluster.Config {
				return pgcluster.Config{Dir: t.TempDir(), ExtraSettings: map[string]string{"no_such_setting": "1"}}
			},
			substr: "no_such_setting",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := pgcluster.Start(t.Context(), tt.cfg(t))
			if c != nil {
				_ = c.Stop(context.Background())
			}
			require.Error(t, err)
			if tt.target != nil {
				require.ErrorIs(t, err, tt.target)
			}
			require.Contains(t, err.Error(), tt.substr)
		})
	}
}

// A socket directory with a space in its path (a project folder's, a
// TMPDIR's) is still reachable through SocketURL.
func TestSocketURLWithASpace(t *testing.T) {
	c := start(t, pgcluster.Config{Dir: filepath.Join(t.TempDir(), "with space", "pgdata")})
	u, ok := c.SocketURL("postgres")
	require.True(t, ok)
	var unix *string
	require.NoError(t, connect(t, u).QueryRow(t.Context(), "SELECT inet_client_addr()::text").Scan(&unix))
	require.Nil(t, unix, "connected over the Unix socket")
}

// A data directory too long for a socket path gets TCP only, and SocketURL
// says so instead of naming a socket that does not exist.
func TestSocketURLWithoutASocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("long", 30), "pgdata")
	c := start(t, pgcluster.Config{Dir: dir})
	_, ok := c.SocketURL("postgres")
	require.False(t, ok)
	var one int
	require.NoError(t, connect(t, c.URL("postgres")).QueryRow(t.Context(), "SELECT 1").Scan(&one))
}

func TestProcessAlive(t *testing.T) {
	// A child that has exited but has not been waited for is a zombie.
	zombie := exec.Command("true")
	require.NoError(t, zombie.Start())
	t.Cleanup(func() { _ = zombie.Wait() })
	require.Eventually(t, func() bool {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(zombie.Process.Pid), "stat"))
		return err == nil && strings.Contains(string(stat), ") Z ")
	}, 10*time.Second, 10*time.Millisecond)

	// A child that has exited and been waited for no longer exists.
	reaped := exec.Command("true")
	require.NoError(t, reaped.Run())

	tests := []struct {
		name string
		pid  int
		want bool
	}{
		{"this process", os.Getpid(), true},
		{"zombie", zombie.Process.Pid, false},
		{"reaped", reaped.Process.Pid, false},
		{"zero", 0, false},
		{"negative", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, pgcluster.ProcessAlive(tt.pid))
		})
	}
}

func TestIsPostmasterOf(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pgdata")
	start(t, pgcluster.Config{Dir: dir})
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	require.NoError(t, err)
	line, _, _ := strings.Cut(string(b), "\n")
	postmaster, err := strconv.Atoi(line)
	require.NoError(t, err)
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(dir, link))
	reaped := exec.Command("true")
	require.NoError(t, reaped.Run())

	tests := []struct {
		name    string
		pid     int
		dir     string
		want    bool
		wantErr bool
	}{
		{"its postmaster", postmaster, dir, true, false},
		{"through a link", postmaster, link, true, false},
		{"another directory", postmaster, t.TempDir(), false, false},
		{"not postgres", os.Getpid(), dir, false, false},
		{"gone", reaped.Process.Pid, dir, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pgcluster.IsPostmasterOf(tt.pid, tt.dir)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
