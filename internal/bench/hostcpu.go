package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The CPU the bench reports besides the server's own (package scrape):
// this process's, from getrusage, and the machine's and Postgres's, from
// Linux /proc. Both are read at the window's edges (see readEdge).

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostCPU is a reading of the machine's CPU counters (Linux /proc/stat)
// and of the CPU time of the processes named postgres, in clock ticks.
type hostCPU struct {
	ok                bool
	busy, total, pg   uint64
	postgresProcesses int
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc.
const clockTicks = 100

func readHostCPU() hostCPU {
	var h hostCPU
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return h
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return h
	}
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		h.total += v
		if i != 3 && i != 4 { // idle, iowait
			h.busy += v
		}
	}
	h.ok = true
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open || string(b[open+1:end]) != "postgres" {
			continue
		}
		rest := strings.Fields(string(b[end+1:]))
		if len(rest) < 13 { // fields 3 … 15 of stat: utime is 14, stime 15
			continue
		}
		ut, _ := strconv.ParseUint(rest[11], 10, 64)
		st, _ := strconv.ParseUint(rest[12], 10, 64)
		h.pg += ut + st
		h.postgresProcesses++
	}
	return h
}

// cores returns the cores the machine and Postgres used between a and b,
// over wall seconds.
func hostCores(a, b hostCPU, cpus int, wall float64) (host, pg float64) {
	if !a.ok || !b.ok || b.total <= a.total || wall <= 0 {
		return 0, 0
	}
	host = float64(b.busy-a.busy) / float64(b.total-a.total) * float64(cpus)
	if b.pg >= a.pg {
		pg = float64(b.pg-a.pg) / clockTicks / wall
	}
	return host, pg
}
