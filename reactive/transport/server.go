package transport

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/clientip"
	"github.com/parley-chat/parley/reactive"
)

// Verifier turns a bearer token into a verified identity. ctx is the
// caller's: the connection's or the request's, ending when it does, so
// that work a token triggers (fetching an issuer's keys) stops with it.
type Verifier interface {
	Verify(ctx context.Context, token string) (*functions.Identity, error)
}

// HealthFunc reports the server's health for GET /healthz. ok=false answers
// 503.
type HealthFunc func(ctx context.Context) (report any, ok bool)

// Config configures the HTTP handler.
type Config struct {
	Engine   *reactive.Engine // required
	Verifier Verifier         // required
	// Queries are plain GET endpoints for queries (GET /api/ice-servers,
	// GET /api/transcript): see serveQueryGET.
	Queries []QueryRoute
	// Health answers /healthz. Nil answers {"status":"ok"}.
	Health HealthFunc
	// Gatherer serves /metrics. Nil serves no /metrics.
	Gatherer prometheus.Gatherer
	// ConnectTimeout is how long a new sync connection may take to send
	// Connect, the protocol's first message; one that has not by then
	// gets a FatalError saying so and is closed (a socket held open
	// without a word holds a file descriptor). Zero means 10s; negative
	// means no limit.
	ConnectTimeout time.Duration
	// MaxSessionsPerIP caps the sync sessions (WebSocket, SSE, long
	// poll) open at once from one client address (ClientIP's Key: an
	// IPv4 address, an IPv6 address's /64): past it a new one is
	// answered 429 before any upgrade. Clients whose address is in
	// SessionsPerIPExempt are not capped. Zero or negative: no cap.
	MaxSessionsPerIP    int
	SessionsPerIPExempt []netip.Prefix
	// ClientIP tells a request's client address: behind trusted
	// proxies, from their forwarding headers. Nil means its peer's.
	ClientIP *clientip.Resolver
	// MaxSessionsPerUser caps the sync sessions authenticated as one
	// user (a verified token's org and subject) at once: a session that
	// authenticates as a user who has that many gets a FatalError saying
	// so and is closed. Sessions without a user count only per address.
	// Zero or negative: no cap.
	MaxSessionsPerUser int
	// PingInterval is how often an idle connection gets a Ping. Zero means 15s.
	PingInterval time.Duration
	// WriteTimeout bounds one WebSocket write; a client that does not
	// accept a message in time is disconnected. Zero means 10s.
	WriteTimeout time.Duration
	// MaxMessageBytes bounds one client message. Zero means 1 MiB.
	MaxMessageBytes int64
	// MaxPendingBytes bounds what a session queues for its client alone
	// (responses to its requests), not its query results, which are the
	// engine's (see reactive.SessionConfig). Zero means 8 MiB.
	MaxPendingBytes int
	// PollTimeout is how long a long poll (GET /api/poll, and a poll of a
	// long-polling sync connection) waits for something to send before
	// it answers that nothing changed. Zero means 25s.
	PollTimeout time.Duration
	// PollIdleTimeout ends a long-polling sync connection that has had no
	// poll under way for this long (its client went away). Zero means 30s.
	PollIdleTimeout time.Duration
	// TicketTTL is how long a ticket from POST /api/tickets stays good
	// (it is good for one request, and never outlives its token). Zero
	// means 60s.
	TicketTTL time.Duration
	// Tickets keeps the tickets: internal/pgtickets shares them among
	// the nodes of one database. Nil means this server's memory.
	Tickets TicketStore
	// Registerer receives the transport's metrics (sessions per
	// transport). Nil registers none.
	Registerer prometheus.Registerer
	// Mux, when set, receives the routes in addition to Parley's own (for
	// dev-only endpoints). Nil means a new mux.
	Mux    *http.ServeMux
	Logger *slog.Logger
}

// Server serves the Convex sync protocol, the HTTP API, /healthz and
// /metrics. Safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	upgrader websocket.Upgrader
	wg       sync.WaitGroup // WebSocket connections
	mu       sync.Mutex     // orders a connection's wg.Add before Close's stop and Wait
	root     context.Context
	stop     context.CancelFunc
	// drop, a child of root, ends every long-lived connection when
	// cancelled (DropSessions), which a new drop then replaces.
	dropMu sync.Mutex
	drop   context.Context
	dropFn context.CancelFunc
	// dropReason is the last DropSessions' reason.
	dropReason atomic.Pointer[string]
	// refusing is Refuse's reason; nil: connections are accepted.
	refusing atomic.Pointer[string]
	alarms   alarms // connections' pings, token expiries and write timeouts
	tickets  TicketStore
	metrics  *metrics
	caps     *sessionCaps

	connMu sync.Mutex           // guards conns
	conns  map[string]*httpConn // SSE and long-polling sync connections by id
}

// New returns the server's handler.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil || cfg.Verifier == nil {
		return nil, errors.New("transport: Engine and Verifier are required")
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 15 * time.Second
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 25 * time.Second
	}
	if cfg.PollIdleTimeout <= 0 {
		cfg.PollIdleTimeout = 30 * time.Second
	}
	if cfg.TicketTTL <= 0 {
		cfg.TicketTTL = time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := cfg.Mux
	if mux == nil {
		mux = http.NewServeMux()
	}
	if cfg.Tickets == nil {
		cfg.Tickets = newTickets(cfg.TicketTTL)
	}
	root, stop := context.WithCancel(context.Background())
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		stop()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, mux: mux, root: root, stop: stop, upgrader: newUpgrader(),
		tickets: cfg.Tickets, metrics: m, caps: newSessionCaps(cfg), conns: map[string]*httpConn{}}
	s.drop, s.dropFn = context.WithCancel(root)
	mux.HandleFunc("GET /api/{version}/sync", s.serveSync)
	// An SSE or long-polling connection is named by ?connection= (a
	// path segment would make patterns the mux cannot order against
	// /api/storage/{file}/{variant}).
	mux.HandleFunc("GET /api/{version}/sse-sync", s.serveSSESync)
	mux.HandleFunc("POST /api/{version}/sse-sync", s.serveSend(transportSSE))
	mux.HandleFunc("DELETE /api/{version}/sse-sync", s.serveEnd(transportSSE))
	mux.HandleFunc("POST /api/{version}/poll-sync", s.servePollPost)
	mux.HandleFunc("GET /api/{version}/poll-sync", s.servePollSync)
	mux.HandleFunc("DELETE /api/{version}/poll-sync", s.serveEnd(transportPoll))
	mux.HandleFunc("GET /api/sse", s.serveSubscriptionSSE)
	mux.HandleFunc("GET /api/poll", s.serveSubscriptionPoll)
	mux.HandleFunc("POST /api/tickets", s.serveTickets)
	for _, q := range cfg.Queries {
		mux.HandleFunc("GET "+q.Path, s.serveQueryGET(q))
	}
	mux.HandleFunc("POST /api/query", s.serveCall(functions.KindQuery))
	mux.HandleFunc("POST /api/mutation", s.serveCall(functions.KindMutation))
	mux.HandleFunc("POST /api/action", s.serveAction)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Convex-Client, Last-Event-ID")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// A deployment URL with a trailing slash makes clients request
	// "//api/…"; the mux would redirect that, and WebSocket handshakes do
	// not follow redirects.
	if strings.HasPrefix(r.URL.Path, "//") {
		r.URL.Path = "/" + strings.TrimLeft(r.URL.Path, "/")
		r.URL.RawPath = ""
	}
	s.mux.ServeHTTP(w, r)
}

// Shutdown ends every long-lived connection (WebSocket, SSE stream, long
// poll) without waiting for it; no new one is accepted. Give it to
// http.Server.RegisterOnShutdown: http.Server.Shutdown waits for running
// requests, and an SSE stream or a long poll is one until it ends.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.stop() // no connection starts after this
	s.mu.Unlock()
}

// Refuse makes the server answer every new long-lived connection
// (WebSocket, SSE, long poll) with 503 and reason, until Refuse(""): a
// node whose results would be stale sends new clients elsewhere.
// Requests of the HTTP API and /healthz are still served.
func (s *Server) Refuse(reason string) {
	if reason == "" {
		s.refusing.Store(nil)
		return
	}
	s.refusing.Store(&reason)
}

// refusal is the error a new connection gets while Refuse is on; nil
// when connections are accepted.
func (s *Server) refusal() error {
	r := s.refusing.Load()
	if r == nil {
		return nil
	}
	return &functions.Error{Status: http.StatusServiceUnavailable, Code: functions.CodeUnavailable, Message: *r}
}

// DropSessions ends every long-lived connection open now (WebSocket,
// SSE stream, long poll) while the server keeps accepting new ones: a
// node that can no longer follow its cluster's change stream sends its
// clients elsewhere. A WebSocket gets a Close frame with code 1012
// (service restart) and reason, which makes clients reconnect.
func (s *Server) DropSessions(reason string) {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	s.dropReason.Store(&reason)
	s.dropFn()
	s.drop, s.dropFn = context.WithCancel(s.root)
}

// sessionsCtx is the context a long-lived connection opened now ends
// with: done on shutdown or DropSessions.
func (s *Server) sessionsCtx() context.Context {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	return s.drop
}

// Close ends every long-lived connection (Shutdown) and waits until their
// goroutines have exited. Call it after http.Server.Shutdown, which does
// not wait for hijacked (WebSocket) connections.
func (s *Server) Close() {
	s.Shutdown()
	s.wg.Wait()
}

// track counts a long-lived connection in s.wg, which Close waits for;
// false once the server is shutting down (start nothing then). The
// connection calls s.wg.Done when it is over.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.root.Err() != nil {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	var (
		report any = map[string]string{"status": "ok"}
		ok         = true
	)
	if s.cfg.Health != nil {
		report, ok = s.cfg.Health(r.Context())
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(report) //nolint:errcheck
}
