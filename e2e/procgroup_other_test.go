//go:build !unix

package e2e_test

import "os/exec"

// inProcessGroup is a no-op where process groups are not available:
// cancelling cmd kills node only.
func inProcessGroup(*exec.Cmd) {}
