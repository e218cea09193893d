package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgcluster"
)

// TestSweepStale leaves two clusters behind as a dead test binary would:
// one whose postmaster still runs, which the sweep stops, and one whose
// postmaster.pid names a postgres process working elsewhere (its pid was
// reused), which the sweep must not signal. Both directories go.
func TestSweepStale(t *testing.T) {
	// Not t.TempDir: when the tests run as root, the postgres user must
	// reach the data directories, and t.TempDir's parent is private.
	tmp, err := os.MkdirTemp("", "pgtest-sweep-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp) // sweepStale looks in os.TempDir()
	dead := exec.Command("true")
	require.NoError(t, dead.Run())

	leftover := func(name string) string {
		root := filepath.Join(tmp, dirPrefix+name)
		require.NoError(t, os.MkdirAll(filepath.Join(root, dataDirName), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, ownerFileName), []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644))
		return root
	}
	startIn := func(dir string) int {
		_, err := pgcluster.Start(t.Context(), pgcluster.Config{Dir: dir})
		require.NoError(t, err)
		pm, ok := readPID(filepath.Join(dir, "postmaster.pid"))
		require.True(t, ok)
		t.Cleanup(func() {
			if pgcluster.ProcessAlive(pm) {
				_ = syscall.Kill(pm, syscall.SIGQUIT)
			}
		})
		return pm
	}

	running := leftover("running")
	runningPM := startIn(filepath.Join(running, dataDirName))
	elsewherePM := startIn(filepath.Join(tmp, "elsewhere"))
	reused := leftover("reused")
	require.NoError(t, os.WriteFile(filepath.Join(reused, dataDirName, "postmaster.pid"),
		[]byte(strconv.Itoa(elsewherePM)+"\n"), 0o600))

	sweepStale()

	require.NoDirExists(t, running)
	require.NoDirExists(t, reused)
	require.False(t, pgcluster.ProcessAlive(runningPM), "the leftover's postmaster is stopped")
	require.True(t, pgcluster.ProcessAlive(elsewherePM), "a postmaster of another directory is not signalled")
}
