package syncclient_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
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

// testServer is a full Parley on 127.0.0.1 over a fresh database with the
// demo data.
type testServer struct {
	URL    string // http://127.0.0.1:port
	DBURL  string
	Pool   *pgxpool.Pool // for the test's own SQL
	secret []byte
}

var (
	john = functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer, Name: "John Doe"}
	jane = functions.Identity{Subject: schema.DemoOtherCustomerID, Role: functions.RoleCustomer, Name: "Jane Roe"}
)

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
	ver, err := jwtauth.New(ctx, jwtauth.Config{HS256Secret: secret})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv, err := server.New(ctx, server.Config{DatabaseURL: dbURL, Verifier: ver, Listener: ln, MaxConns: 16})
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
	ts := &testServer{URL: "http://" + ln.Addr().String(), DBURL: dbURL, Pool: pool, secret: secret}
	pgtest.Eventually(t, 30*time.Second, func() error {
		h, err := ts.health()
		if err != nil {
			return err
		}
		if h.Status != "ok" || !h.Replication.Connected {
			return fmt.Errorf("not ready: %+v", h)
		}
		return nil
	})
	return ts
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

func (s *testServer) token(t *testing.T, id functions.Identity) string {
	t.Helper()
	tok, err := jwtauth.MintHS256(s.secret, id, time.Hour)
	require.NoError(t, err)
	return tok
}

// dial connects as id (zero Subject: anonymous), waits for the token to be
// accepted and closes the client when the test ends.
func (s *testServer) dial(t *testing.T, id functions.Identity, opts syncclient.Options) *syncclient.Client {
	t.Helper()
	if id.Subject != "" {
		opts.Token = s.token(t, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := syncclient.Dial(ctx, s.URL, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		require.Empty(t, c.ProtocolErrors(), "protocol errors")
	})
	require.NoError(t, c.WaitAuth(ctx))
	return c
}
