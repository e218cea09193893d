package server_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/faultnet"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

// newLink puts a faultnet.Link between the server and the Postgres at
// dbURL and returns it with the URL that goes through it.
func newLink(t *testing.T, dbURL string) (*faultnet.Link, string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dbURL)
	require.NoError(t, err)
	network, addr := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, addr = "unix", cfg.Host+"/.s.PGSQL."+strconv.Itoa(int(cfg.Port))
	}
	l, err := faultnet.New(network, addr)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	u := "postgres://" + cfg.User + "@" + l.Addr().String() + "/" + cfg.Database + "?sslmode=disable"
	return l, u
}

// startBehindLink starts a server whose every connection to Postgres goes
// through a link the test can cut, with mutations waiting grace for it.
func startBehindLink(t *testing.T, grace time.Duration) (*parleytest.Server, *faultnet.Link) {
	var l *faultnet.Link
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		var u string
		l, u = newLink(t, cfg.DatabaseURL)
		cfg.DatabaseURL, cfg.DBGrace = u, grace
	})
	return s, l
}

// send posts John's message content to the demo conversation through the
// HTTP API and returns the call's JSON answer.
func send(t *testing.T, s *parleytest.Server, content string) map[string]any {
	t.Helper()
	body, err := trySend(s.URL, s.Token(t, parleytest.John), content)
	require.NoError(t, err)
	return body
}

// trySend is send for a goroutine of the test's, where require cannot stop
// the test.
func trySend(url, token, content string) (map[string]any, error) {
	req, err := http.NewRequest("POST", url+"/api/mutation", strings.NewReader(
		`{"path":"shared/chat:sendMessage","args":{"conversationId":"`+schema.DemoConversationID+`","content":"`+content+`","messageType":"text"}}`))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	return body, json.NewDecoder(resp.Body).Decode(&body)
}

// While the database stays unreachable past the grace, a mutation fails as
// unavailable (503, retryAfterMs), never as an internal error; once it is
// back, the same call succeeds.
func TestMutationWhileTheDatabaseIsUnreachable(t *testing.T) {
	s, l := startBehindLink(t, 300*time.Millisecond)
	require.Equal(t, "success", send(t, s, "before")["status"])

	l.Cut()
	body := send(t, s, "during")
	require.Equal(t, "error", body["status"], body)
	data, _ := body["errorData"].(map[string]any)
	require.Equal(t, "unavailable", data["code"], body)
	require.EqualValues(t, 503, data["status"], body)
	require.NotZero(t, data["retryAfterMs"], body)

	l.Restore()
	pgtest.Eventually(t, 30*time.Second, func() error {
		if body := send(t, s, "after"); body["status"] != "success" {
			return errors.New("still failing: " + body["errorMessage"].(string))
		}
		return nil
	})
}

// A blip shorter than the grace is not the caller's problem: the mutation
// waits for the database and then runs, once.
func TestMutationRidesOutABlip(t *testing.T) {
	s, l := startBehindLink(t, 20*time.Second)
	require.Equal(t, "success", send(t, s, "before the blip")["status"])

	l.Cut()
	token := s.Token(t, parleytest.John)
	done := make(chan map[string]any, 1)
	go func() {
		body, err := trySend(s.URL, token, "typed during the blip")
		if err != nil {
			body = map[string]any{"error": err.Error()}
		}
		done <- body
	}()
	select {
	case body := <-done:
		t.Fatalf("the mutation answered while the database was unreachable: %v", body)
	case <-time.After(time.Second):
	}
	l.Restore()
	select {
	case body := <-done:
		require.Equal(t, "success", body["status"], body)
	case <-time.After(30 * time.Second):
		t.Fatal("the mutation did not complete after the database came back")
	}
	var n int
	require.NoError(t, s.DB.QueryRow(t.Context(), `SELECT count(*) FROM messages WHERE content = 'typed during the blip'`).Scan(&n))
	require.Equal(t, 1, n, "written exactly once")
}
