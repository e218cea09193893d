package parleytest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/guestauth"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/media"
	"github.com/parley-chat/parley/schema"
)

// The demo identities (schema/demo.go), as their tokens prove them.
var (
	John        = functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer, Name: "John Doe"}
	Jane        = functions.Identity{Subject: schema.DemoOtherCustomerID, Role: functions.RoleCustomer, Name: "Jane Roe"}
	PizzaStaff  = functions.Identity{Subject: schema.DemoStaffID, Role: functions.RoleStore, Name: "Pizza Palace Support", StoreID: schema.DemoStoreID}
	BurgerStaff = functions.Identity{Subject: schema.DemoClosedStaffID, Role: functions.RoleStore, Name: "Burger Barn Support", StoreID: schema.DemoClosedStoreID}
	Admin       = functions.Identity{Subject: schema.DemoAdminID, Role: functions.RoleAdmin, Name: "Parley Support"}
	Anonymous   = functions.Identity{}
)

const (
	// tokenTTL is the lifetime of the tokens Token mints.
	tokenTTL = time.Hour
	// healthyTimeout bounds Start's wait for /healthz.
	healthyTimeout = 30 * time.Second
	// stopTimeout bounds the wait for Run after cancellation.
	stopTimeout = 30 * time.Second
	// dialTimeout bounds Dial's connect and authentication.
	dialTimeout = 10 * time.Second
	// healthRequestTimeout bounds one GET /healthz.
	healthRequestTimeout = 10 * time.Second
)

// Server is a full Parley (server.New) listening on 127.0.0.1 over a
// database of its own that holds the demo data. Safe for concurrent use.
type Server struct {
	URL   string        // http://127.0.0.1:port
	DBURL string        // the test database, as a superuser
	DB    *pgxpool.Pool // the test's own connections, for direct SQL
	// MediaDir is where the server stores uploaded images.
	MediaDir string
	Server   *server.Server
	secret   []byte
	guestKey []byte
	mediaKey []byte
	stop     func()
}

// NoLimits is the chat configuration Start uses: rate limits off, so
// tests that are not about them can send in bursts.
var NoLimits = chat.Config{MessagesPerSecond: -1, TypingPerSecond: -1, UploadsPerSecond: -1}

// Start starts a server for t with NoLimits and waits until its
// replication stream is connected. Everything stops when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartChat(t, NoLimits)
}

// StartChat is Start with the given chat configuration.
func StartChat(t testing.TB, chatCfg chat.Config) *Server {
	t.Helper()
	return StartWith(t, chatCfg, media.Config{})
}

// StartWith is Start with the given chat and media configurations. The
// media service stores images in a directory of the test's own, signs
// URLs with a random key unless mediaCfg.Key is set, and holds the demo
// image (media.Service.SeedDemo).
func StartWith(t testing.TB, chatCfg chat.Config, mediaCfg media.Config) *Server {
	t.Helper()
	return StartConfigured(t, func(cfg *server.Config) { cfg.Chat, cfg.Media = chatCfg, mediaCfg })
}

// StartWrapped is Start with the server's listener wrapped by wrap: a
// test's view of connections that are not plain TCP sockets (TLS, proxies).
func StartWrapped(t testing.TB, wrap func(net.Listener) net.Listener) *Server {
	t.Helper()
	return StartConfigured(t, func(cfg *server.Config) { cfg.Listener = wrap(cfg.Listener) })
}

// StartConfigured is Start with the server's configuration changed by
// configure before the server is made: cfg holds Start's (a private
// database, NoLimits, a listener on 127.0.0.1:0, a media directory of the
// test's own). A nil media key is filled with a random one afterwards.
// configure may point cfg.DatabaseURL at another database (a stopped
// server's, to restart it): DB and DBURL are then that one's.
// configure may wrap cfg.Listener but should not replace it: the one it
// replaces would stay open.
func StartConfigured(t testing.TB, configure func(cfg *server.Config)) *Server {
	t.Helper()
	dbURL, pool := DemoDB(t)
	secret := make([]byte, jwtauth.MinSecretLen)
	_, err := rand.Read(secret)
	require.NoError(t, err)
	guestKey := make([]byte, jwtauth.MinSecretLen)
	_, err = rand.Read(guestKey)
	require.NoError(t, err)
	return start(t, dbURL, pool, secret, guestKey, nil, configure)
}

// Leeway is the clock skew the test servers' verifiers allow past a
// token's exp (production's default is jwtauth.DefaultLeeway, 30s).
const Leeway = time.Second

// StartPeer starts another server on of's database with of's keys, so
// that a token of one works on the other and an image URL one signs
// serves on the other: a second node of a cluster (configure sets
// cfg.Cluster). The demo data is of's.
func StartPeer(t testing.TB, of *Server, configure func(cfg *server.Config)) *Server {
	t.Helper()
	return start(t, of.DBURL, of.DB, of.secret, of.guestKey, of.mediaKey, configure)
}

// start is StartConfigured on dbURL with the given keys; a nil mediaKey
// means a random one, and the demo image is seeded only then.
func start(t testing.TB, dbURL string, pool *pgxpool.Pool, secret, guestKey, mediaKey []byte, configure func(cfg *server.Config)) *Server {
	t.Helper()
	ctx := context.Background()
	verifier, err := jwtauth.New(ctx, jwtauth.Config{HS256Secret: secret, GuestKey: guestKey, Leeway: Leeway})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := server.Config{DatabaseURL: dbURL, Verifier: verifier, Listener: ln,
		Chat: NoLimits, MediaDir: t.TempDir(), Logger: testLogger(t),
		Guests: guestauth.Config{Key: guestKey, PerSecond: -1}}
	if configure != nil {
		configure(&cfg)
	}
	ln = cfg.Listener
	if cfg.DatabaseURL != dbURL {
		dbURL = cfg.DatabaseURL
		pool, err = pgxpool.New(ctx, dbURL)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
	}
	peer := mediaKey != nil
	if cfg.Media.Key == nil && peer {
		cfg.Media.Key = mediaKey
	}
	if cfg.Media.Key == nil {
		cfg.Media.Key = make([]byte, media.MinKeyLen)
		_, err = rand.Read(cfg.Media.Key)
		require.NoError(t, err)
	}
	mediaDir := cfg.MediaDir
	srv, err := server.New(ctx, cfg)
	if err != nil {
		ln.Close()
		require.NoError(t, err, "server.New")
	}
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(runCtx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				require.NoError(t, err, "server.Run")
			case <-time.After(stopTimeout):
				t.Errorf("server.Run did not return within %s of cancellation", stopTimeout)
			}
		})
	}
	t.Cleanup(stop)
	if !peer {
		require.NoError(t, srv.Media.SeedDemo(ctx), "seed the demo image")
	}
	s := &Server{URL: "http://" + ln.Addr().String(), DBURL: dbURL, DB: pool, MediaDir: mediaDir, Server: srv, secret: secret,
		guestKey: guestKey, mediaKey: cfg.Media.Key, stop: stop}
	s.waitHealthy(t)
	return s
}

// Stop stops the server and waits until it has (its database stays, for
// a restart: StartConfigured with cfg.DatabaseURL = s.DBURL). Cleanup
// stops it too.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop()
}

// waitHealthy waits until /healthz reports the replication stream
// connected and applied.
func (s *Server) waitHealthy(t testing.TB) {
	t.Helper()
	pgtest.Eventually(t, healthyTimeout, func() error {
		h, err := s.Health()
		if err != nil {
			return err
		}
		if h.Status != "ok" || !h.Replication.Connected {
			return fmt.Errorf("not ready: %+v", h)
		}
		return nil
	})
}

// Health fetches the server's /healthz report, whatever its status.
func (s *Server) Health() (server.Health, error) {
	var h server.Health
	client := &http.Client{Timeout: healthRequestTimeout}
	resp, err := client.Get(s.URL + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, err
}

// Token mints a token for id valid for an hour; "" for Anonymous (an
// identity without Subject).
func (s *Server) Token(t testing.TB, id functions.Identity) string {
	t.Helper()
	if id.Subject == "" {
		return ""
	}
	return s.TokenTTL(t, id, tokenTTL)
}

// TokenTTL mints a token for id, signed with the server's secret (a
// guest's with its guest key), that expires after ttl.
func (s *Server) TokenTTL(t testing.TB, id functions.Identity, ttl time.Duration) string {
	t.Helper()
	var tok string
	var err error
	if id.Role == functions.RoleGuest {
		tok, err = jwtauth.MintGuest(s.guestKey, id, ttl)
	} else {
		tok, err = jwtauth.MintHS256(s.secret, id, ttl)
	}
	require.NoError(t, err)
	return tok
}

// Guest is a guest identity POST /api/guest minted, with its token.
type Guest struct {
	functions.Identity
	Token string
}

// NewGuest asks the server's POST /api/guest for a guest named name ("":
// the default name), as a widget would.
func (s *Server) NewGuest(t testing.TB, name string) Guest {
	t.Helper()
	body := "{}"
	if name != "" {
		b, err := json.Marshal(map[string]string{"name": name})
		require.NoError(t, err)
		body = string(b)
	}
	client := &http.Client{Timeout: healthRequestTimeout}
	resp, err := client.Post(s.URL+guestauth.Path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out guestauth.Response
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusOK, resp.StatusCode, "POST %s", guestauth.Path)
	return Guest{Identity: functions.Identity{Subject: out.GuestID, Role: functions.RoleGuest, Name: out.Name}, Token: out.Token}
}

// Dial connects a sync client as id (Anonymous: no token) with opts (its
// Token is replaced), waits until the token is accepted, and closes the
// client when t ends, checking that it observed no protocol violation.
func (s *Server) Dial(t testing.TB, id functions.Identity, opts syncclient.Options) *syncclient.Client {
	t.Helper()
	opts.Token = s.Token(t, id)
	return s.DialToken(t, opts)
}

// DialToken is Dial with opts.Token as it is (a guest's from NewGuest;
// "": anonymous).
func (s *Server) DialToken(t testing.TB, opts syncclient.Options) *syncclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, err := syncclient.Dial(ctx, s.URL, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		require.Empty(t, c.ProtocolErrors(), "protocol violations seen by a client")
	})
	require.NoError(t, c.WaitAuth(ctx))
	return c
}

// testLogger sends the server's warnings and errors to the test log until
// the test's cleanups are done.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { // registered before the server's, so it runs after the server stopped
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter writes to t's log until done. Safe for concurrent use.
type testWriter struct {
	t    testing.TB
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

// DemoDB is a fresh database of t's, migrated and holding the demo data
// (schema.SeedDemo): its URL, and a pool that closes when t ends.
func DemoDB(t testing.TB) (url string, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	url = pgtest.NewDB(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = schema.Migrate(ctx, pool)
	require.NoError(t, err)
	require.NoError(t, schema.SeedDemo(ctx, pool))
	return url, pool
}
