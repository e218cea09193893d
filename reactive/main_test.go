package reactive_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The demo identities (schema/demo.go), as their tokens prove them.
var (
	idJohn        = functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer, Name: "John Doe"}
	idJane        = functions.Identity{Subject: schema.DemoOtherCustomerID, Role: functions.RoleCustomer, Name: "Jane Roe"}
	idPizzaStaff  = functions.Identity{Subject: schema.DemoStaffID, Role: functions.RoleStore, Name: "Pizza Palace Support", StoreID: schema.DemoStoreID}
	idBurgerStaff = functions.Identity{Subject: schema.DemoClosedStaffID, Role: functions.RoleStore, Name: "Burger Barn Support", StoreID: schema.DemoClosedStoreID}
	idAdmin       = functions.Identity{Subject: schema.DemoAdminID, Role: functions.RoleAdmin, Name: "Parley Support"}
	idAnonymous   = functions.Identity{}
)

// testServer is a full Parley (server.New) listening on 127.0.0.1 over a
// database of its own that holds the demo data.
type testServer struct {
	URL    string        // http://127.0.0.1:port
	DBURL  string        // the test database, as a superuser
	DB     *pgxpool.Pool // the test's own connections, for direct SQL
	Server *server.Server
	secret []byte
}

// startServer starts a server for t and waits until its replication
// stream is connected. Everything stops when t ends.
func startServer(t *testing.T) *testServer {
	t.Helper()
	ctx := context.Background()
	dbURL := pgtest.NewDB(t)
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = schema.Migrate(ctx, pool)
	require.NoError(t, err)
	require.NoError(t, schema.SeedDemo(ctx, pool))

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	verifier, err := jwtauth.New(ctx, jwtauth.Config{HS256Secret: secret})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv, err := server.New(ctx, server.Config{DatabaseURL: dbURL, Verifier: verifier, Listener: ln,
		Logger: testLogger(t)})
	if err != nil {
		ln.Close()
		require.NoError(t, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-errc, "server.Run")
	})
	s := &testServer{URL: "http://" + ln.Addr().String(), DBURL: dbURL, DB: pool, Server: srv, secret: secret}
	s.waitHealthy(t)
	return s
}

// waitHealthy waits until /healthz reports the replication stream
// connected and applied.
func (s *testServer) waitHealthy(t *testing.T) {
	t.Helper()
	pgtest.Eventually(t, 30*time.Second, func() error {
		h, err := s.health()
		if err != nil {
			return err
		}
		if h.Status != "ok" || !h.Replication.Connected {
			return fmt.Errorf("not ready: %+v", h)
		}
		return nil
	})
}

func (s *testServer) health() (server.Health, error) {
	var h server.Health
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, err
}

// token mints a token for id; "" for the idAnonymous identity.
func (s *testServer) token(t testing.TB, id functions.Identity) string {
	t.Helper()
	if id.Subject == "" {
		return ""
	}
	tok, err := jwtauth.MintHS256(s.secret, id, time.Hour)
	require.NoError(t, err)
	return tok
}

// dial connects a sync client as id (idAnonymous: no token), waits until the
// token is accepted, and closes it when t ends, checking that it observed
// no protocol violation.
func (s *testServer) dial(t *testing.T, id functions.Identity, opts syncclient.Options) *syncclient.Client {
	t.Helper()
	opts.Token = s.token(t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := syncclient.Dial(ctx, s.URL, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		require.Empty(t, c.ProtocolErrors(), "protocol violations seen by the client of %s", id.Subject)
	})
	require.NoError(t, c.WaitAuth(ctx))
	return c
}

// callResult is the outcome of an HTTP API call.
type callResult struct {
	Value        json.RawMessage
	Failed       bool
	ErrorMessage string
	ErrorData    map[string]any
}

// call runs a function once through the HTTP API (POST /api/query or
// /api/mutation) with the token as bearer ("" for none).
func (s *testServer) call(ctx context.Context, kind, token, path string, args any) (callResult, error) {
	rawArgs, err := json.Marshal(args)
	if err != nil {
		return callResult{}, err
	}
	if raw, ok := args.(json.RawMessage); ok {
		rawArgs = raw
	}
	body, _ := json.Marshal(map[string]any{"path": path, "format": "convex_encoded_json",
		"args": []json.RawMessage{rawArgs}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/"+kind, bytes.NewReader(body))
	if err != nil {
		return callResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return callResult{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return callResult{}, err
	}
	var out struct {
		Status       string          `json:"status"`
		Value        json.RawMessage `json:"value"`
		ErrorMessage string          `json:"errorMessage"`
		ErrorData    map[string]any  `json:"errorData"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return callResult{}, fmt.Errorf("%s %s: HTTP %d: %s", kind, path, resp.StatusCode, data)
	}
	switch {
	case resp.StatusCode == http.StatusOK && out.Status == "success":
		return callResult{Value: out.Value}, nil
	case resp.StatusCode == 560 && out.Status == "error":
		return callResult{Failed: true, ErrorMessage: out.ErrorMessage, ErrorData: out.ErrorData}, nil
	}
	return callResult{}, fmt.Errorf("%s %s: HTTP %d: %s", kind, path, resp.StatusCode, data)
}

// testLogger sends the server's warnings and errors to the test log until
// the test's cleanups are done.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { // registered first, so it runs after the server stopped
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log("server: " + strings.TrimSpace(string(p)))
	}
	return len(p), nil
}
