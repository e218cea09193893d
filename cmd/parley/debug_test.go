package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// The profiler listens on loopback only and does not show the command line
// (which may hold --jwt-secret).
func TestDebugListenerIsLoopbackOnly(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "example.com:6060"} {
		_, err := startDebug(context.Background(), addr, log)
		require.ErrorContains(t, err, "loopback", addr)
	}

	stop, err := startDebug(context.Background(), "127.0.0.1:0", log)
	require.NoError(t, err)
	defer stop()
}

func TestDebugListenerServesProfilesNotTheCommandLine(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := freeLoopbackAddr(t)
	stop, err := startDebug(ctx, addr, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer stop()
	for path, want := range map[string]int{"/debug/pprof/": 200, "/debug/pprof/heap": 200, "/debug/pprof/mutex": 200, "/debug/pprof/cmdline": 404} {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
	}
	require.Equal(t, mutexSampling, runtime.SetMutexProfileFraction(-1), "mutex contention is sampled while the profiler is on")
}

// freeLoopbackAddr returns a loopback address with a port free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
