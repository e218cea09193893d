//go:build unix

package e2e_test

import (
	"os/exec"
	"syscall"
)

// inProcessGroup makes cancelling cmd kill node and the per-file test
// processes it starts, so none outlives the test.
func inProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
