package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/server"
)

// A POST that declares a megabyte and sends 4 bytes is answered and its
// connection let go once the body idle timeout passes, not held for ever;
// the cut is counted.
func TestStalledBodyIsCut(t *testing.T) {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) { cfg.BodyIdleTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", s.Server.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /api/mutation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"pa")
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "no answer: the connection is held")
	res.Body.Close()
	require.GreaterOrEqual(t, res.StatusCode, 400)
	require.Less(t, time.Since(start), 5*time.Second)

	res, err = http.Get(s.URL + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Contains(t, string(b), "parley_http_body_timeouts_total 1")
}

// Thousands of sockets that never send a request hold the connection cap:
// a new connection gets a fast 503 instead of hanging, /healthz still
// answers (the reserve), and the refusals are counted.
func TestHeldConnectionsLeaveHealthz(t *testing.T) {
	const max = 500
	s := parleytest.StartConfigured(t, func(cfg *server.Config) { cfg.MaxConnections = max })
	addr := s.Server.Addr().String()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 2000 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		held = append(held, c)
	}
	get := func(path string) (int, time.Duration) {
		start := time.Now()
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err, "no answer to %s: the connection hangs", path)
		io.Copy(io.Discard, res.Body) //nolint:errcheck
		res.Body.Close()
		return res.StatusCode, time.Since(start)
	}
	for range 5 {
		code, took := get("/healthz")
		require.Equal(t, http.StatusOK, code, "/healthz with the cap held")
		require.Less(t, took, 5*time.Second)
	}
	code, took := get("/api/query")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Less(t, took, 5*time.Second, "a fast 503, not a hang")

	res, err := http.Get(s.URL + "/metrics") // through the reserve too
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Contains(t, string(b), fmt.Sprintf("parley_http_connections_max %d", max))
	require.Regexp(t, `parley_http_connections_refused_total\{reason="full"\} [1-9]`, string(b))
}
