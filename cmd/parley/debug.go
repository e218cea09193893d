package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// mutexSampling is the mutex profile's sampling while the profiler is on:
// one contention event in this many is recorded, for /debug/pprof/mutex,
// which is empty otherwise.
const mutexSampling = 100

// debugFlag declares --debug-addr: a separate listener with the Go
// profiler (net/http/pprof), off by default. It is never on the public
// listener, and only on a loopback address: profiles show internals. The
// command line (pprof's cmdline page) is not served: it may hold
// --jwt-secret.
func debugFlag(fl *flag.FlagSet) *string {
	return fl.String("debug-addr", "", "serve the Go profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060; empty: off")
}

// startDebug serves the profiler on addr until ctx ends; stop waits for it.
func startDebug(ctx context.Context, addr string, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--debug-addr %s: the profiler listens on loopback addresses only (127.0.0.1:PORT, [::1]:PORT, localhost:PORT); reach it over SSH or kubectl port-forward", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --debug-addr %s: %w", addr, err)
	}
	runtime.SetMutexProfileFraction(mutexSampling)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug listener", slog.Any("error", err))
		}
	}()
	log.Info("profiler listening", slog.String("addr", "http://"+ln.Addr().String()+"/debug/pprof/"))
	ctx, cancel := context.WithCancel(ctx)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		<-ctx.Done()
		srv.Close()
	}()
	return func() { cancel(); <-closed; <-done; runtime.SetMutexProfileFraction(0) }, nil
}
