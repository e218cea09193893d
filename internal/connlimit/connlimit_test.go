package connlimit_test

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/connlimit"
	"github.com/parley-chat/parley/internal/pgtest"
)

// With the cap held by idle sockets, a new connection gets a fast 503,
// a health check still gets through the reserve, and closing sockets
// frees their places.
func TestCapAndReserve(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var full, reserved atomic.Int32
	ln := connlimit.Listen(inner, connlimit.Config{Max: 20, Reserve: 5, ReservedPaths: []string{"/healthz"},
		Refused: func(r string) {
			if r == connlimit.ReasonFull {
				full.Add(1)
			} else {
				reserved.Add(1)
			}
		}})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) }),
		ReadHeaderTimeout: time.Minute, ErrorLog: log.New(tw{t}, "", 0)}
	go srv.Serve(ln)
	defer srv.Close()
	addr := inner.Addr().String()

	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 15 { // the places below the reserve
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		idle = append(idle, c)
	}
	pgtest.Eventually(t, 5*time.Second, func() error {
		if ln.Open() != 15 {
			return fmt.Errorf("%d open", ln.Open())
		}
		return nil
	})
	get := func(path string) (int, string) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	code, body := get("/healthz")
	require.Equal(t, 200, code, body)
	start := time.Now()
	code, body = get("/other")
	require.Equal(t, http.StatusServiceUnavailable, code, "only the reserve is left, and this is no health check")
	require.Contains(t, body, "limit of open connections")
	require.Less(t, time.Since(start), 2*time.Second, "a fast 503, not a hang")
	require.EqualValues(t, 1, full.Load())

	// Idle sockets past the threshold take no place: they are let go.
	for range 10 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		idle = append(idle, c)
	}
	pgtest.Eventually(t, 5*time.Second, func() error {
		if n := full.Load(); n != 11 {
			return fmt.Errorf("%d refused", n)
		}
		return nil
	})
	require.Equal(t, 15, ln.Open())

	// Health checks that stay open (keep-alive) fill the reserve; the
	// next one is refused.
	for range 5 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		idle = append(idle, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		require.Equal(t, 200, res.StatusCode)
	}
	require.Equal(t, 20, ln.Open())
	code, _ = get("/healthz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.EqualValues(t, 1, reserved.Load())

	for _, c := range idle {
		c.Close()
	}
	idle = nil
	pgtest.Eventually(t, 10*time.Second, func() error {
		if code, _ := get("/other"); code != 200 {
			return fmt.Errorf("still %d after the idle sockets closed", code)
		}
		return nil
	})
}

// Concurrent connections come and go: the count returns to zero.
func TestCountReturnsToZero(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := connlimit.Listen(inner, connlimit.Config{Max: 1000})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(ln)
	defer srv.Close()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			tr := &http.Transport{DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			res, err := (&http.Client{Transport: tr}).Get("http://" + inner.Addr().String() + "/")
			if err == nil {
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	pgtest.Eventually(t, 5*time.Second, func() error {
		if n := ln.Open(); n != 0 {
			return fmt.Errorf("%d open", n)
		}
		return nil
	})
}

type tw struct{ t *testing.T }

func (w tw) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
