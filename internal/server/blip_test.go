package server_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

// link is a TCP proxy between the server and Postgres that a test can cut
// (every connection closed, new ones refused at once) and restore: a
// network blip, or a database that went away.
type link struct {
	ln       net.Listener
	upstream func() (net.Conn, error)

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newLink(t *testing.T, dbURL string) (*link, string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dbURL)
	require.NoError(t, err)
	network, addr := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, addr = "unix", cfg.Host+"/.s.PGSQL."+strconv.Itoa(int(cfg.Port))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &link{ln: ln, conns: map[net.Conn]struct{}{},
		upstream: func() (net.Conn, error) { return net.DialTimeout(network, addr, 5*time.Second) }}
	l.wg.Add(1)
	go l.accept()
	t.Cleanup(func() {
		ln.Close()
		l.cut()
		l.wg.Wait()
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	u := "postgres://" + cfg.User + "@127.0.0.1:" + port + "/" + cfg.Database + "?sslmode=disable"
	return l, u
}

func (l *link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.down {
			l.mu.Unlock()
			c.Close()
			continue
		}
		up, err := l.upstream()
		if err != nil {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[c], l.conns[up] = struct{}{}, struct{}{}
		l.wg.Add(2)
		l.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer l.wg.Done()
			io.Copy(dst, src) //nolint:errcheck
			dst.Close()
			src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// cut closes every proxied connection and refuses new ones until restore.
func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = true
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

func (l *link) restore() {
	l.mu.Lock()
	l.down = false
	l.mu.Unlock()
}

// While the database cannot be reached, a mutation fails as unavailable
// (503, retryAfterMs), never as an internal error; once it is back, the
// same call succeeds.
func TestMutationWhileTheDatabaseIsUnreachable(t *testing.T) {
	var l *link
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		var u string
		l, u = newLink(t, cfg.DatabaseURL)
		cfg.DatabaseURL = u
	})
	token := s.Token(t, parleytest.John)
	call := func() (status int, body map[string]any) {
		req, err := http.NewRequest("POST", s.URL+"/api/mutation", strings.NewReader(
			`{"path":"shared/chat:sendMessage","args":{"conversationId":"`+schema.DemoConversationID+`","content":"during the blip","messageType":"text"}}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	status, body := call()
	require.Equal(t, "success", body["status"], body)
	require.Equal(t, http.StatusOK, status)

	l.cut()
	status, body = call()
	require.Equal(t, "error", body["status"], body)
	data, _ := body["errorData"].(map[string]any)
	require.Equal(t, "unavailable", data["code"], body)
	require.EqualValues(t, 503, data["status"], body)
	require.NotZero(t, data["retryAfterMs"], body)

	l.restore()
	pgtest.Eventually(t, 30*time.Second, func() error {
		if _, body := call(); body["status"] != "success" {
			return errors.New("still failing: " + body["errorMessage"].(string))
		}
		return nil
	})
}
