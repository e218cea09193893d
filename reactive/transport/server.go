package transport

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-chat/parley/functions"
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
	// Health answers /healthz. Nil answers {"status":"ok"}.
	Health HealthFunc
	// Gatherer serves /metrics. Nil serves no /metrics.
	Gatherer prometheus.Gatherer
	// PingInterval is how often an idle connection gets a Ping. Zero means 15s.
	PingInterval time.Duration
	// WriteTimeout bounds one WebSocket write; a client that does not
	// accept a message in time is disconnected. Zero means 10s.
	WriteTimeout time.Duration
	// MaxMessageBytes bounds one client message. Zero means 1 MiB.
	MaxMessageBytes int64
	// MaxPendingBytes bounds a session's unsent results. Zero means 8 MiB.
	MaxPendingBytes int
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
	alarms   alarms // connections' pings, token expiries and write timeouts
}

// New returns the server's handler.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil || cfg.Verifier == nil {
		return nil, errors.New("transport: Engine and Verifier are required")
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 15 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := cfg.Mux
	if mux == nil {
		mux = http.NewServeMux()
	}
	root, stop := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: log, mux: mux, root: root, stop: stop, upgrader: newUpgrader()}
	mux.HandleFunc("GET /api/{version}/sync", s.serveSync)
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
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Convex-Client")
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

// Close closes every WebSocket connection and waits until their goroutines
// have exited. Call it after http.Server.Shutdown, which does not wait for
// hijacked (WebSocket) connections.
func (s *Server) Close() {
	s.mu.Lock()
	s.stop() // no connection starts after this
	s.mu.Unlock()
	s.wg.Wait()
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
