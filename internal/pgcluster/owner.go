package pgcluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// owner is who started a data directory's running postmaster through
// Start: the postmaster's pid, and the pid and start time of the process
// that called Start. It is kept in Dir/parley-owner while the server
// runs, so that a later Start can tell a server left behind by a process
// that died (an orphan, which it may stop) from one another live process
// still uses, or one that Parley never started.
type owner struct {
	postmaster int
	pid        int
	started    string // the process's start time in clock ticks since boot (/proc/PID/stat); "" when unknown
}

// alive reports whether the owning process still runs: its pid is alive
// and, where /proc tells, it started when the owner did (so a pid reused
// since by another process does not count).
func (o owner) alive() bool {
	if !ProcessAlive(o.pid) {
		return false
	}
	now := processStart(o.pid)
	return o.started == "" || now == "" || now == o.started
}

// writeOwner records this process as the owner of postmaster pid.
func writeOwner(dir string, postmaster int) error {
	self := os.Getpid()
	line := fmt.Sprintf("%d %d %s\n", postmaster, self, processStart(self))
	if err := os.WriteFile(filepath.Join(dir, ownerFileName), []byte(line), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", ownerFileName, err)
	}
	return nil
}

// readOwner reads the owner file; found is false when there is none or it
// does not parse.
func readOwner(dir string) (o owner, found bool) {
	data, err := os.ReadFile(filepath.Join(dir, ownerFileName))
	if err != nil {
		return owner{}, false
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return owner{}, false
	}
	pm, err1 := strconv.Atoi(f[0])
	pid, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || pm <= 0 || pid <= 0 {
		return owner{}, false
	}
	o = owner{postmaster: pm, pid: pid}
	if len(f) > 2 {
		o.started = f[2]
	}
	return o, true
}

// processStart returns pid's start time from /proc/PID/stat (field 22,
// clock ticks since boot), or "" when /proc cannot tell.
func processStart(pid int) string {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	// After the command name: field 3 (state) onwards; starttime is field 22.
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}
