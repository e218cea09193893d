package guestauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/clientip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/keyrate"
)

// Path is the endpoint's path.
const Path = "/api/guest"

// Defaults and limits.
const (
	DefaultTTL       = 24 * time.Hour
	DefaultPerSecond = 0.2 // tokens per second per address: 12 a minute
	DefaultBurst     = 10
	// MaxNameChars bounds a guest's name, in characters.
	MaxNameChars = 100
	// maxBodyBytes bounds a request body.
	maxBodyBytes = 4 << 10
)

// ErrConfig is returned by New for unusable settings.
var ErrConfig = errors.New("guestauth: invalid config")

// Log attribute keys.
const (
	logKeyErr  = "error"
	logKeyAddr = "addr"
)

// Config configures the endpoint.
type Config struct {
	// Key signs guest tokens (jwtauth.MintGuest): the server's verifier
	// must hold it as jwtauth.Config.GuestKey. At least
	// jwtauth.MinSecretLen bytes. Nil means guest access is off: the
	// endpoint answers 403.
	Key []byte
	// TTL is a guest token's lifetime. Zero means DefaultTTL.
	TTL time.Duration
	// PerSecond and Burst limit the tokens one address gets. Zero
	// PerSecond means DefaultPerSecond with bursts of DefaultBurst (Burst
	// zero: DefaultBurst); negative disables the limit.
	PerSecond float64
	Burst     int
	// RateLimits makes the per-address limiter (limit "guest.tokens"):
	// keyrate.PG.Limiter shares each address's budget among the nodes of
	// one database. Nil means keyrate.Memory: this process's buckets.
	RateLimits keyrate.Factory
	// ClientIP tells a request's client address (behind trusted proxies,
	// from their forwarding headers): the one the per-IP session cap
	// counts. Nil means the connection's peer.
	ClientIP *clientip.Resolver
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Registerer receives the parley_guest_tokens_total counter. Nil
	// means none.
	Registerer prometheus.Registerer
	// Logger receives minting failures. Nil means discard.
	Logger *slog.Logger
}

// Service mints guest tokens over HTTP. Safe for concurrent use.
type Service struct {
	key   []byte
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger
	limit keyrate.Taker // per client address; nil: no limit
	ip    *clientip.Resolver
	count *prometheus.CounterVec
}

// New validates cfg and fills defaults.
func New(cfg Config) (*Service, error) {
	if cfg.Key != nil && len(cfg.Key) < jwtauth.MinSecretLen {
		return nil, fmt.Errorf("%w: Key has %d bytes, need at least %d", ErrConfig, len(cfg.Key), jwtauth.MinSecretLen)
	}
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("%w: TTL must not be negative, got %s", ErrConfig, cfg.TTL)
	}
	s := &Service{key: cfg.Key, ttl: cfg.TTL, now: cfg.Now, log: cfg.Logger, ip: cfg.ClientIP}
	if s.ttl == 0 {
		s.ttl = DefaultTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	perSecond, burst := cfg.PerSecond, cfg.Burst
	if perSecond == 0 {
		perSecond = DefaultPerSecond
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	if perSecond > 0 {
		factory := cfg.RateLimits
		if factory == nil {
			factory = keyrate.Memory
		}
		s.limit = factory("guest.tokens", perSecond, burst)
	}
	s.count = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_guest_tokens_total",
		Help: "Guest token requests (POST /api/guest) by outcome: issued, limited (429), refused (400, 403)."}, []string{"outcome"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(s.count); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return s, nil
}

// take takes a token for key from the limiter, if there is one.
func (s *Service) take(key string, now time.Time) time.Duration {
	if s.limit == nil {
		return 0
	}
	return s.limit.Take(key, now)
}

// Enabled reports whether the service mints tokens.
func (s *Service) Enabled() bool { return s.key != nil }

// Register adds POST Path to mux.
func (s *Service) Register(mux *http.ServeMux) { mux.Handle("POST "+Path, s) }

// Request is the optional body of a token request.
type Request struct {
	Name *string `json:"name"`
	Org  *string `json:"org"`
}

// Response is a minted guest identity.
type Response struct {
	Token   string `json:"token"`
	GuestID string `json:"guestId"`
	Name    string `json:"name"`
	// ExpiresAt is the token's expiry, in milliseconds since the epoch.
	ExpiresAt float64 `json:"expiresAt"`
}

// ServeHTTP answers a token request.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.key == nil {
		s.count.WithLabelValues("refused").Inc()
		writeError(w, http.StatusForbidden, "Guest access is disabled on this server", nil)
		return
	}
	now := s.now()
	if wait := s.take(s.ip.Key(r), now); wait > 0 {
		s.count.WithLabelValues("limited").Inc()
		ms := int(math.Ceil(float64(wait) / float64(time.Millisecond)))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, http.StatusTooManyRequests,
			fmt.Sprintf("Too many guest tokens from this address: try again in %s", wait.Round(100*time.Millisecond)),
			map[string]any{"retryAfterMs": ms})
		return
	}
	name, org, err := parse(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		s.count.WithLabelValues("refused").Inc()
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	sub := jwtauth.NewGuestSubject()
	if name == "" {
		name = "Guest " + sub[len(jwtauth.GuestSubjectPrefix):len(jwtauth.GuestSubjectPrefix)+4]
	}
	id := functions.Identity{Subject: sub, Role: functions.RoleGuest, Name: name, Org: org}
	tok, err := jwtauth.MintGuest(s.key, id, s.ttl)
	if err != nil {
		s.log.Error("mint guest token", logKeyErr, err, logKeyAddr, r.RemoteAddr)
		writeError(w, http.StatusInternalServerError, "Internal server error", nil)
		return
	}
	s.count.WithLabelValues("issued").Inc()
	writeJSON(w, http.StatusOK, Response{Token: tok, GuestID: sub, Name: name, ExpiresAt: float64(now.Add(s.ttl).UnixMilli())})
}

// parse reads and checks an optional request body: its name (trimmed;
// empty means none) and org.
func parse(body io.Reader) (name, org string, err error) {
	raw, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", "", fmt.Errorf("body must be at most %d bytes", maxBodyBytes)
		}
		return "", "", errors.New("body could not be read")
	}
	var req Request
	if s := strings.TrimSpace(string(raw)); s != "" {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return "", "", bodyError(err)
		}
		if dec.More() {
			return "", "", errors.New(`body must be one JSON object: {"name"?: string, "org"?: string}`)
		}
	}
	if req.Name != nil {
		name = strings.TrimSpace(*req.Name)
		switch n := utf8.RuneCountInString(name); {
		case !utf8.ValidString(name):
			return "", "", errors.New("name must be UTF-8 text")
		case n > MaxNameChars:
			return "", "", fmt.Errorf("name must be at most %d characters, got %d", MaxNameChars, n)
		case strings.IndexFunc(name, unicode.IsControl) >= 0:
			return "", "", errors.New("name must have no control characters")
		}
	}
	if req.Org != nil {
		org = *req.Org
		switch {
		case len(org) > jwtauth.MaxOrgLen:
			return "", "", fmt.Errorf("org must be at most %d bytes, got %d", jwtauth.MaxOrgLen, len(org))
		case jwtauth.ValidOrg(org) != nil:
			return "", "", errors.New("org must have no spaces or control characters")
		}
	}
	return name, org, nil
}

// bodyError names what is wrong with a body that did not decode.
func bodyError(err error) error {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Errorf("%s must be a string, got %s", typeErr.Field, typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("body has an unknown field %s (it may have name and org)", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errors.New(`body must be a JSON object: {"name"?: string, "org"?: string}`)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // strings, numbers and maps of them: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string, extra map[string]any) {
	body := map[string]any{"error": msg}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}
