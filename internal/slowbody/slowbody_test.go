package slowbody_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/slowbody"
)

// A body that stops arriving fails the handler's read once idle passes
// without a byte; one that keeps trickling in, slower than idle in all
// but never idle that long, is read whole.
func TestIdleBody(t *testing.T) {
	var timeouts atomic.Int32
	h := slowbody.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusRequestTimeout)
			return
		}
		fmt.Fprintf(w, "%d bytes", len(b))
	}), 300*time.Millisecond, func() { timeouts.Add(1) })
	srv := httptest.NewServer(h)
	defer srv.Close()

	send := func(t *testing.T, declared int, chunks []string, gap time.Duration) (string, time.Duration) {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		start := time.Now()
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", declared)
		for _, ch := range chunks {
			time.Sleep(gap)
			c.Write([]byte(ch)) //nolint:errcheck // the server may have given up
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		return fmt.Sprintf("%d %s", res.StatusCode, strings.TrimSpace(string(b))), time.Since(start)
	}

	got, took := send(t, 1_000_000, []string{"abcd"}, 0)
	require.Contains(t, got, "408 body:")
	require.Less(t, took, 5*time.Second, "cut after the idle bound, not held")
	require.EqualValues(t, 1, timeouts.Load())

	got, _ = send(t, 8, []string{"ab", "cd", "ef", "gh"}, 150*time.Millisecond) // 600 ms in all
	require.Equal(t, "200 8 bytes", got)
	require.EqualValues(t, 1, timeouts.Load())
}

// Once the body is read, the handler may take longer than idle: the
// request's context is not cancelled by the bound left behind.
func TestHandlerOutlivesTheBound(t *testing.T) {
	h := slowbody.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusInternalServerError)
		case <-time.After(700 * time.Millisecond):
			io.WriteString(w, "done")
		}
	}), 200*time.Millisecond, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Post(srv.URL, "text/plain", strings.NewReader("hello"))
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, "done", string(b))
}
