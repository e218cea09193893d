package pgcluster_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgcluster"
)

// ownerDirEnv makes the test binary a process that starts a cluster in the
// directory it names, says so on stdout and waits to be killed: what a
// `parley dev` is to its cluster.
const ownerDirEnv = "PGCLUSTER_TEST_OWNER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(ownerDirEnv); dir != "" {
		c, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: dir})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("started", c.Port())
		select {} // until killed
	}
	os.Exit(m.Run())
}

// startOwner starts a cluster in dir from a process of its own and
// returns that process once the cluster accepts connections.
func startOwner(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), ownerDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "started "), "the owner process said %q", line)
	return cmd
}

func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	require.NoError(t, err)
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(line)
	require.NoError(t, err)
	return pid
}

// A server whose owner died without stopping it (SIGKILL, an OOM, a closed
// terminal) is an orphan: the next Start stops it and starts afresh on the
// same data. While the owner lives, Start refuses, naming it; a server
// Parley did not start is refused with what to do.
func TestStartAfterItsOwnerDied(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "pgdata")
	owner := startOwner(t, dir)
	orphan := postmasterPID(t, dir)

	_, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir})
	require.ErrorIs(t, err, pgcluster.ErrAlreadyRunning)
	require.ErrorContains(t, err, fmt.Sprintf("started by process %d, which is still running", owner.Process.Pid))
	require.True(t, pgcluster.ProcessAlive(orphan), "a refused Start leaves the server alone")

	// The data a dead owner's clients wrote is kept.
	conn := connect(t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", portOf(t, dir)))
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before the crash')")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	require.NoError(t, owner.Process.Signal(syscall.SIGKILL))
	_ = owner.Wait()
	require.True(t, pgcluster.ProcessAlive(orphan), "the server outlives its owner")

	c := start(t, pgcluster.Config{Dir: dir})
	require.False(t, pgcluster.ProcessAlive(orphan), "the orphan was stopped")
	require.NotEqual(t, orphan, postmasterPID(t, dir))
	var v string
	require.NoError(t, connect(t, c.URL("postgres")).QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, "before the crash", v)

	// A server without Parley's owner record is someone else's.
	require.NoError(t, os.Remove(filepath.Join(dir, "parley-owner")))
	_, err = pgcluster.Start(ctx, pgcluster.Config{Dir: dir})
	require.ErrorIs(t, err, pgcluster.ErrAlreadyRunning)
	require.ErrorContains(t, err, "not started by Parley: stop it (pg_ctl stop -D "+dir+")")
	require.Equal(t, c.Port(), portOf(t, dir), "still the same server")
}

// portOf reads the running server's port from postmaster.pid (line 4).
func portOf(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	require.Greater(t, len(lines), 3)
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	require.NoError(t, err)
	return port
}
