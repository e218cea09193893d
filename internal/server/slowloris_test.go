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
