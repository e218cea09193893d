package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/cluster"
	"github.com/parley-chat/parley/events"
	"github.com/parley-chat/parley/events/smtpmail"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/functions/tsgen"
	"github.com/parley-chat/parley/internal/activity"
	"github.com/parley-chat/parley/internal/clientip"
	"github.com/parley-chat/parley/internal/connlimit"
	"github.com/parley-chat/parley/internal/guestauth"
	"github.com/parley-chat/parley/internal/jobs"
	"github.com/parley-chat/parley/internal/slowbody"
	"github.com/parley-chat/parley/media"
	"github.com/parley-chat/parley/media/vips"
	"github.com/parley-chat/parley/reactive"
	"github.com/parley-chat/parley/reactive/pgrepl"
	"github.com/parley-chat/parley/reactive/transport"
	"github.com/parley-chat/parley/schema"
	"github.com/parley-chat/parley/support"
)

// Config configures a server.
type Config struct {
	// DatabaseURL is the Postgres connection string. Required.
	DatabaseURL string
	// Verifier checks bearer tokens. Required.
	Verifier transport.Verifier
	// Listener accepts HTTP connections. Required.
	Listener net.Listener
	// Source is the committed change stream the engine follows. Nil means
	// a pgrepl.Source on DatabaseURL reading the permanent slot
	// ReplicationSlot. /healthz reports it if it implements
	// reactive.StatusReporter.
	Source reactive.ChangeSource
	// ReplicationSlot names the default Source's permanent logical
	// replication slot: a reconnect resumes it, so only the gap's changes
	// are matched (pgrepl.Config.Slot). Slots are cluster-wide: every server
	// needs its own. Empty means DefaultSlot(DatabaseURL's database);
	// TemporarySlots means a new temporary slot per connection, and every
	// live query re-run after each reconnect.
	ReplicationSlot string
	// MaxConns bounds the pool. Zero means 32.
	MaxConns int32
	// Chat tunes the chat API (rate limits, typing expiry). Zero values
	// are the documented defaults. Its Guests is filled in from Verifier
	// when guests are on.
	Chat chat.Config
	// Guests configures guest access: POST /api/guest (package guestauth)
	// and claimGuestThreads. A nil Guests.Key turns it off: the endpoint
	// and claimGuestThreads answer 403. With a key, Verifier must accept
	// the tokens it signs (jwtauth.Config.GuestKey) and have VerifyGuest
	// (chat.GuestVerifier). Registerer and Logger are filled in when nil.
	Guests guestauth.Config
	// Mux receives extra routes (dev-only endpoints). Nil means none.
	Mux *http.ServeMux
	// MediaDir is where uploaded images are stored (a media.DirStore),
	// unless Media.Store is set. Empty with a nil Media.Store disables
	// image uploads.
	MediaDir string
	// Media configures image uploads and downloads. Pool, Processor (a
	// media/vips processor), Authenticate (through Verifier), Registerer
	// and Logger are filled in when nil; BaseURL empty means
	// "http://" + the listener's address (127.0.0.1 for an unspecified
	// host); Key is required when media is enabled.
	Media media.Config
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
	// WriteTimeout bounds one WebSocket write: a client that does not
	// take a message in time is disconnected. Zero means 10s.
	WriteTimeout time.Duration
	// PingInterval, PollTimeout, PollIdleTimeout and TicketTTL tune the
	// long-lived transports (transport.Config's fields of those names:
	// the ping of idle WebSocket and SSE connections, the long poll's
	// wait, the end of a long-polling connection nobody polls, a
	// ticket's life). Zero means transport's defaults: 15s, 25s, 30s, 60s.
	PingInterval    time.Duration
	PollTimeout     time.Duration
	PollIdleTimeout time.Duration
	TicketTTL       time.Duration
	// ConnectTimeout is how long a new sync connection may take to send
	// Connect (transport.Config.ConnectTimeout). Zero means 10s; negative
	// means no limit.
	ConnectTimeout time.Duration
	// BodyIdleTimeout is how long a request body may go without a byte
	// before its read fails (package slowbody: a slowloris holds no
	// connection for longer). Zero means 30s; negative means no limit.
	BodyIdleTimeout time.Duration
	// IdleTimeout ends a keep-alive HTTP connection that has waited this
	// long for its next request. Zero means 2m.
	IdleTimeout time.Duration
	// MaxConnections caps the connections the server holds open (package
	// connlimit): past it a new one gets a fast 503, and the last
	// connlimitReserve places are kept for /healthz and /metrics. Zero
	// means connlimit.FromFileLimit (the open-file limit less headroom);
	// negative means no cap.
	MaxConnections int
	// MaxSessionsPerIP and MaxSessionsPerUser cap the sync sessions
	// (WebSocket, SSE, long poll) open at once on this node from one
	// client address and as one user (transport.Config's fields of those
	// names); clients whose address is in SessionsPerIPExempt are not
	// capped per address. Zero means no cap.
	MaxSessionsPerIP    int
	MaxSessionsPerUser  int
	SessionsPerIPExempt []netip.Prefix
	// TrustedProxies tells a request's client address (package
	// clientip): only from a peer it trusts are X-Forwarded-For and
	// Forwarded believed. The per-IP session cap and the guest tokens'
	// per-address limit (unless Guests.ClientIP is set) count by it. Nil
	// trusts no proxy: every client is its connection's peer.
	TrustedProxies *clientip.Resolver
	// DBGrace bounds how long a mutation waits for an unreachable database
	// to come back before it fails as unavailable (reactive.Config.DBGrace).
	// Zero means 10s; negative means no wait.
	DBGrace time.Duration
	// Events configures the events domain: webhooks' reach and retries.
	Events EventsConfig
	// Support configures the support domain (presence TTL, idle time).
	// Zero values are support.Config's defaults.
	Support support.Config
	// Assistant configures the AI assistant (its Support is the server's
	// desk). Zero values are assistant.Config's defaults.
	Assistant assistant.Config
	// Jobs tunes the job queue.
	Jobs JobsConfig
	// Mail configures notification mail (offline mail, digests). Its
	// zero value sends none (logged once at start).
	Mail MailConfig
	// Cluster, when set, makes the server a node of a cluster on
	// ReplicationSlot (the same on every node): Source is then a
	// cluster.Source. Nil means a server of its own.
	Cluster *ClusterConfig
	// ActivityInterval is the least time between two writes of one user's
	// activity (user_activity; activity.Config.Interval). Zero means
	// activity.DefaultInterval.
	ActivityInterval time.Duration
	// SharedState keeps in Postgres the state every node of a cluster
	// must share (see "Per-node state" in the package doc): the rate
	// limits of chat, support and guest access (keyrate.PG, where their
	// RateLimits is nil), the tickets of POST /api/tickets (pgtickets)
	// and, when Media.Store is nil, the images (media.PGStore; MediaDir
	// is then unused). False keeps them in this process: buckets and
	// tickets in memory, images under MediaDir.
	SharedState bool
}

// EventsConfig is the part of events.Config a server's user sets; zero
// values are events.Config's defaults.
type EventsConfig struct {
	// AllowPrivate lets webhooks reach private and loopback addresses
	// (parley dev; `parley serve --webhooks-allow-private`).
	AllowPrivate    bool
	DeliveryTimeout time.Duration
	RetryHorizon    time.Duration
	RetryBase       time.Duration
	RetryMax        time.Duration
}

// MailConfig configures notification mail; zero durations are
// events.NotifyConfig's defaults.
type MailConfig struct {
	// Mailer sends the mail. Nil means an SMTP sender on SMTPURL.
	Mailer events.Mailer
	// SMTPURL is smtp://[user:pass@]host[:port] (STARTTLS when offered)
	// or smtps://… (implicit TLS). Empty with a nil Mailer turns mail off.
	SMTPURL string
	// From is the sender. Empty means "Parley <parley@localhost>".
	From string
	// BaseURL is the web app's URL that thread and unsubscribe links
	// start with. Empty means "http://" + the listener's address.
	BaseURL string
	// UnsubscribeKey signs unsubscribe links, at least 32 bytes.
	// Required when mail is on.
	UnsubscribeKey []byte
	OfflineAfter   time.Duration
	ScanInterval   time.Duration
	DigestInterval time.Duration
	RetryBase      time.Duration
	RetryMax       time.Duration
}

// notifyConfig is the events domain's mail configuration from cfg.
func notifyConfig(cfg Config, log *slog.Logger) (events.NotifyConfig, error) {
	mc := cfg.Mail
	n := events.NotifyConfig{Mailer: mc.Mailer, From: mc.From, BaseURL: mc.BaseURL, UnsubscribeKey: mc.UnsubscribeKey,
		OfflineAfter: mc.OfflineAfter, ScanInterval: mc.ScanInterval, DigestInterval: mc.DigestInterval,
		RetryBase: mc.RetryBase, RetryMax: mc.RetryMax}
	if n.Mailer == nil && mc.SMTPURL != "" {
		m, err := smtpmail.New(smtpmail.Config{URL: mc.SMTPURL})
		if err != nil {
			return n, err
		}
		n.Mailer = m
		log.Info("notification mail on", slog.String("smtp", m.String()))
	}
	if n.Mailer == nil {
		log.Info("notification mail off: no SMTP server configured (--smtp-url)")
		return n, nil
	}
	if n.BaseURL == "" {
		n.BaseURL = baseURL(cfg.Listener.Addr())
	}
	return n, nil
}

// JobsConfig is the part of jobs.Config a server's user sets; zero values
// are jobs.Config's defaults.
type JobsConfig struct {
	MaxWorkers int
	// StreamWorkers bounds the assistant's replies streaming at once
	// (`--ai-max-streams`). Zero means 100.
	StreamWorkers     int
	Timeout           time.Duration // a job's bound unless its worker sets one
	RescueAfter       time.Duration
	FetchPollInterval time.Duration
}

// Server is an assembled Parley. Not safe for concurrent use of Run.
type Server struct {
	cfg Config
	log *slog.Logger
	// bodyTimeouts counts request bodies slowbody cut.
	bodyTimeouts prometheus.Counter
	// listener is Config.Listener, capped (connlimit).
	listener net.Listener
	Pool     *pgxpool.Pool
	Engine   *reactive.Engine
	Source   reactive.ChangeSource
	HTTP     *transport.Server
	// Media is the image service; nil when disabled.
	Media *media.Service
	// Activity keeps user_activity from the engine's sessions and calls.
	Activity *activity.Tracker
	// Events is the events domain (the outbox, webhooks).
	Events *events.Service
	// Support is the support domain (agents, presence).
	Support *support.Service
	// Assistant is the AI assistant domain.
	Assistant *assistant.Service
	// Jobs is the durable job queue (webhook deliveries, digests).
	Jobs *jobs.Queue
	// Cluster is the change source of a cluster node; nil on a server of
	// its own.
	Cluster *cluster.Source
	reg     *prometheus.Registry
	// shared is the Postgres-kept state (Config.SharedState); nil if off.
	shared *sharedState
	// joined is what a cluster node shares over NATS; nil off a cluster.
	joined *clusterState
}

// Sentinel errors for a database Parley cannot use.
var (
	ErrWalLevel    = errors.New("server: the database needs wal_level=logical (set it in postgresql.conf and restart Postgres)")
	ErrReplication = errors.New("server: the database role needs the REPLICATION attribute (ALTER ROLE … WITH REPLICATION)")
)

// New checks the database and builds the server.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DatabaseURL == "" || cfg.Verifier == nil || cfg.Listener == nil {
		return nil, errors.New("server: DatabaseURL, Verifier and Listener are required")
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 32
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pcfg.MaxConns = cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := checkDatabase(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	slot := cfg.ReplicationSlot
	switch slot {
	case "":
		slot = DefaultSlot(pcfg.ConnConfig.Database)
	case TemporarySlots:
		slot = ""
	}
	var joined *clusterState
	if cfg.Cluster != nil {
		if joined, err = joinCluster(&cfg, slot); err != nil {
			pool.Close()
			return nil, err
		}
	}
	var shared *sharedState
	if cfg.SharedState {
		if shared, err = useSharedState(&cfg, pool, log); err != nil {
			pool.Close()
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bodyTimeouts := prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_http_body_timeouts_total",
		Help: "Request bodies cut for sending no byte within the body idle timeout (slowloris)."})
	reg.MustRegister(bodyTimeouts)
	listener := cfg.Listener
	if cfg.MaxConnections >= 0 {
		maxConns := cfg.MaxConnections
		if maxConns == 0 {
			maxConns = connlimit.FromFileLimit()
		}
		refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_http_connections_refused_total",
			Help: "Connections answered 503 and closed at once: full (past the cap), reserved (in the places kept for health checks, and not one)."},
			[]string{"reason"})
		refused.WithLabelValues(connlimit.ReasonFull)
		refused.WithLabelValues(connlimit.ReasonReserved)
		lim := connlimit.Listen(cfg.Listener, connlimit.Config{Max: maxConns, Reserve: min(connlimitReserve, maxConns/2),
			ReservedPaths: []string{"/healthz", "/metrics"}, Refused: func(r string) { refused.WithLabelValues(r).Inc() }})
		reg.MustRegister(refused, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_http_connections",
			Help: "HTTP connections open (WebSocket sessions included)."}, func() float64 { return float64(lim.Open()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_http_connections_max",
				Help: "The cap on open HTTP connections (--max-connections)."}, func() float64 { return float64(maxConns) }))
		listener = lim
		log.Debug("connection cap", slog.Int("max", maxConns))
	}
	var svc *media.Service
	mux := cfg.Mux
	if mux == nil {
		mux = http.NewServeMux()
	}
	if cfg.MediaDir != "" || cfg.Media.Store != nil {
		if svc, err = newMedia(cfg, pool, reg, log); err != nil {
			pool.Close()
			return nil, err
		}
		svc.Register(mux)
		cfg.Chat.Media = chatMedia{svc}
	}
	if err := registerGuests(&cfg, mux, reg, log); err != nil {
		pool.Close()
		return nil, err
	}
	notify, err := notifyConfig(cfg, log)
	if err != nil {
		pool.Close()
		return nil, err
	}
	ev, err := events.New(events.Config{Pool: pool, ConversationAccess: chat.ConversationAccess, AllowPrivate: cfg.Events.AllowPrivate,
		DeliveryTimeout: cfg.Events.DeliveryTimeout, RetryHorizon: cfg.Events.RetryHorizon, RetryBase: cfg.Events.RetryBase,
		RetryMax: cfg.Events.RetryMax, Notify: notify, Registerer: reg, Logger: log})
	if err != nil {
		pool.Close()
		return nil, err
	}
	ev.RegisterHTTP(mux)
	if err := cfg.Support.Validate(); err != nil {
		pool.Close()
		return nil, err
	}
	cfg.Support.Media = cfg.Chat.Media
	if cfg.Support.Logger == nil {
		cfg.Support.Logger = log
	}
	sup := support.New(cfg.Support)
	aiCfg := cfg.Assistant
	aiCfg.Support = sup
	if aiCfg.Logger == nil {
		aiCfg.Logger = log
	}
	ai := assistant.New(aiCfg)
	registry := Functions(cfg.Chat, ev, sup, ai)
	workers := river.NewWorkers()
	ev.AddWorkers(workers)
	sup.AddWorkers(workers)
	ai.AddWorkers(workers)
	sup.SetPool(pool, ev)
	ai.SetPool(pool, ev)
	queue, err := jobs.New(jobs.Config{Pool: pool, Workers: workers, Periodic: append(ev.Periodic(), sup.Periodic()...), MaxWorkers: cfg.Jobs.MaxWorkers, StreamWorkers: cfg.Jobs.StreamWorkers,
		JobTimeout: cfg.Jobs.Timeout, LongestJob: max(ev.LongestJob(), ai.LongestJob()), RescueAfter: cfg.Jobs.RescueAfter,
		FetchPollInterval: cfg.Jobs.FetchPollInterval, Logger: log})
	if err != nil {
		pool.Close()
		return nil, err
	}
	ev.SetQueue(queue)
	ai.SetQueue(queue)
	act := activity.New(activity.Config{Pool: pool, Interval: cfg.ActivityInterval, Logger: log})
	eng, err := reactive.New(reactive.Config{Pool: pool, Registry: registry, Metrics: reactive.NewMetrics(reg), Logger: log,
		DBGrace: cfg.DBGrace, Activity: act, IdentityLeft: sup.IdentityLeft})
	if err != nil {
		pool.Close()
		return nil, err
	}
	sup.SetInvalidator(eng.Invalidate)
	ai.SetInvalidator(eng.Invalidate)
	s := &Server{cfg: cfg, log: log, bodyTimeouts: bodyTimeouts, listener: listener, Pool: pool, Engine: eng, Source: cfg.Source, Media: svc, Activity: act, Events: ev, Support: sup, Assistant: ai,
		Jobs: queue, reg: reg, shared: shared, joined: joined}
	if s.Source == nil {
		if cfg.Cluster != nil {
			s.Cluster, err = s.clusterSource(cfg, slot)
			s.Source = s.Cluster
		} else {
			s.Source, err = pgrepl.New(pgrepl.Config{ConnString: cfg.DatabaseURL, Publication: schema.Publication, Slot: slot, Logger: log})
		}
		if err != nil {
			pool.Close()
			return nil, err
		}
	}
	var tickets transport.TicketStore // nil: in memory
	if shared != nil {
		tickets = shared.tickets
	}
	s.HTTP, err = transport.New(transport.Config{Tickets: tickets, Engine: eng, Verifier: cfg.Verifier, Health: s.health,
		Queries: []transport.QueryRoute{{Path: "/api/ice-servers", Function: "shared/support:getIceServers"},
			{Path: "/api/transcript", Function: "shared/support:getTranscript", Args: []string{"conversationId", "format", "timeZone"}, File: true}},
		Gatherer: reg, Registerer: reg, Mux: mux, Logger: log, WriteTimeout: cfg.WriteTimeout,
		PingInterval: cfg.PingInterval, ConnectTimeout: cfg.ConnectTimeout, PollTimeout: cfg.PollTimeout, PollIdleTimeout: cfg.PollIdleTimeout, TicketTTL: cfg.TicketTTL,
		MaxSessionsPerIP: cfg.MaxSessionsPerIP, MaxSessionsPerUser: cfg.MaxSessionsPerUser, SessionsPerIPExempt: cfg.SessionsPerIPExempt,
		ClientIP: cfg.TrustedProxies})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// registerGuests puts POST /api/guest on mux and, with guests on, the
// verifier of claimGuestThreads in cfg.Chat.
func registerGuests(cfg *Config, mux *http.ServeMux, reg prometheus.Registerer, log *slog.Logger) error {
	gc := cfg.Guests
	if gc.Registerer == nil {
		gc.Registerer = reg
	}
	if gc.Logger == nil {
		gc.Logger = log
	}
	if gc.ClientIP == nil {
		gc.ClientIP = cfg.TrustedProxies
	}
	if gc.Key != nil {
		gv, ok := cfg.Verifier.(chat.GuestVerifier)
		if !ok {
			return errors.New("server: guests need a Verifier with VerifyGuest (a jwtauth.Verifier with GuestKey)")
		}
		// The verifier must take what the endpoint mints: a probe says so.
		probe, err := jwtauth.MintGuest(gc.Key, functions.Identity{Subject: jwtauth.NewGuestSubject(), Role: functions.RoleGuest}, time.Minute)
		if err == nil {
			_, err = gv.VerifyGuest(context.Background(), probe)
		}
		if err != nil {
			return fmt.Errorf("server: the Verifier does not accept the guest tokens Guests.Key signs (give it the key as jwtauth.Config.GuestKey): %w", err)
		}
		cfg.Chat.Guests = gv
	}
	g, err := guestauth.New(gc)
	if err != nil {
		return err
	}
	g.Register(mux)
	return nil
}

// newMedia builds the media service from cfg.Media, filling in what the
// server knows.
func newMedia(cfg Config, pool *pgxpool.Pool, reg prometheus.Registerer, log *slog.Logger) (*media.Service, error) {
	mc := cfg.Media
	if mc.Store == nil {
		st, err := media.NewDirStore(cfg.MediaDir)
		if err != nil {
			return nil, err
		}
		mc.Store = st
	}
	if mc.Processor == nil {
		p, err := vips.New(vips.Config{})
		if err != nil {
			return nil, err
		}
		if !p.Blocked {
			log.Warn("libvips older than 8.13: untrusted loaders are not blocked; only sniffed JPEG, PNG, GIF and WebP reach it",
				slog.String("libvips", vips.Version))
		}
		mc.Processor = p
	}
	if mc.Pool == nil {
		mc.Pool = pool
	}
	if mc.BaseURL == "" {
		mc.BaseURL = baseURL(cfg.Listener.Addr())
	}
	if mc.Authenticate == nil {
		mc.Authenticate = func(ctx context.Context, token string) (string, error) {
			id, err := cfg.Verifier.Verify(ctx, token)
			if err != nil {
				return "", err
			}
			return id.Subject, nil
		}
	}
	if mc.Registerer == nil {
		mc.Registerer = reg
	}
	if mc.Logger == nil {
		mc.Logger = log
	}
	return media.New(mc)
}

// baseURL is the URL clients reach a listener at, for a server whose
// public URL was not given.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// chatMedia is the media service as the chat API sees it.
type chatMedia struct{ s *media.Service }

var _ chat.Media = chatMedia{}

func (m chatMedia) NewUploadURL(ctx context.Context, q schema.Querier, owner string, now time.Time) (string, error) {
	return m.s.NewUploadURL(ctx, q, owner, now)
}

func (m chatMedia) SignImage(conversationID, fileID string, now time.Time) chat.SignedImage {
	s := m.s.Sign(conversationID, fileID, now)
	return chat.SignedImage{URL: s.URL, ThumbnailURL: s.ThumbnailURL, ExpiresAt: s.ExpiresAt, RefreshAt: s.RefreshAt}
}

func checkDatabase(ctx context.Context, pool *pgxpool.Pool) error {
	var walLevel string
	var replication, superuser bool
	err := pool.QueryRow(ctx, `SELECT current_setting('wal_level'), rolreplication, rolsuper
		FROM pg_roles WHERE rolname = current_user`).Scan(&walLevel, &replication, &superuser)
	if err != nil {
		return fmt.Errorf("check database: %w", err)
	}
	if walLevel != "logical" {
		return fmt.Errorf("%w; it is %q", ErrWalLevel, walLevel)
	}
	if !replication && !superuser {
		return ErrReplication
	}
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.cfg.Listener.Addr() }

// The session caps' defaults in parley dev and serve (cmd/parley says
// why these numbers), and the addresses the per-IP cap leaves alone by
// default: loopback, where parley bench and local tools connect.
const (
	DefaultMaxSessionsPerIP   = 1000
	DefaultMaxSessionsPerUser = 100
)

// Loopback is the loopback ranges, IPv4's and IPv6's.
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// connlimitReserve is how many of the connection cap's places only
// /healthz and /metrics may take.
const connlimitReserve = 32

// shutdownGrace is how long Run waits for HTTP requests to finish after ctx
// is done before it closes their connections.
const shutdownGrace = 5 * time.Second

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	defer s.Pool.Close()
	bodyIdle, idle := s.cfg.BodyIdleTimeout, s.cfg.IdleTimeout
	if bodyIdle == 0 {
		bodyIdle = 30 * time.Second
	}
	if idle <= 0 {
		idle = 2 * time.Minute
	}
	httpSrv := &http.Server{Handler: slowbody.Handler(s.HTTP, bodyIdle, s.bodyTimeouts.Inc, media.UploadPath), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: idle}
	// SSE streams and long polls are requests Shutdown would wait for.
	httpSrv.RegisterOnShutdown(s.HTTP.Shutdown)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Engine.Run(gctx) })
	g.Go(func() error { return s.Source.Run(gctx, s.Engine) })
	g.Go(func() error {
		if err := httpSrv.Serve(s.listener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error { return s.pruneMutationLog(gctx) })
	g.Go(func() error { return s.Activity.Run(gctx) })
	g.Go(func() error { return s.Support.Run(gctx) })
	g.Go(func() error { return s.Jobs.Run(gctx) })
	if s.Media != nil {
		g.Go(func() error { return s.Media.Run(gctx) })
	}
	if s.joined != nil {
		for _, f := range s.joined.run(gctx) {
			g.Go(f)
		}
	}
	if s.shared != nil {
		g.Go(func() error { return s.shared.limits.Run(gctx) })
		g.Go(func() error { return s.shared.tickets.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		err := httpSrv.Shutdown(sctx)
		if errors.Is(err, context.DeadlineExceeded) {
			// A request still running, or a connection that never sent
			// one (HTTP clients dial spares): net/http waits 5 s for
			// those. Past the grace period they are closed.
			s.log.Warn("closing HTTP connections still open after the shutdown grace period", slog.Duration("grace", shutdownGrace))
			err = httpSrv.Close()
		}
		s.HTTP.Close()
		return err
	})
	return g.Wait()
}

// pruneMutationLog deletes old replay records every hour until ctx ends.
func (s *Server) pruneMutationLog(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := functions.PruneMutationLog(ctx, s.Pool); err != nil && ctx.Err() == nil {
			s.log.Warn("prune mutation log", slog.Any("error", err))
		} else if n > 0 {
			s.log.Info("pruned mutation log", slog.Int64("rows", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// TemporarySlots as Config.ReplicationSlot asks for a temporary slot per
// replication connection.
const TemporarySlots = "temporary"

// DefaultSlot is the permanent slot name of a server of database db:
// "parley_" and the name with every character but [a-z0-9_] made "_".
func DefaultSlot(db string) string {
	var b strings.Builder
	b.WriteString("parley_")
	for _, r := range strings.ToLower(db) {
		if b.Len() == maxSlotName {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// maxSlotName is PostgreSQL's limit on a name (NAMEDATALEN-1).
const maxSlotName = 63

// Health is the /healthz report.
type Health struct {
	Status string `json:"status"` // ok | degraded
	// Stale says live results may lag the database (reactive.Engine.Stale):
	// the change stream is down, or re-runs cannot reach the database.
	// The status is degraded then.
	Stale       bool   `json:"stale"`
	Database    string `json:"database"`
	Replication struct {
		Connected  bool   `json:"connected"`
		Slot       string `json:"slot"`
		AppliedLSN string `json:"appliedLsn"`
		LagBytes   uint64 `json:"lagBytes"`
		Reconnects int64  `json:"reconnects"`
		Resumes    int64  `json:"resumes"` // reconnects that resumed the permanent slot
	} `json:"replication"`
	// Media is "ok", "full" (the image store ran out of space at the last
	// upload; the status is degraded until one is stored again), or absent
	// when uploads are disabled.
	Media         string `json:"media,omitempty"`
	Sessions      int    `json:"sessions"`
	Subscriptions int    `json:"subscriptions"`
	Instances     int    `json:"queryInstances"`
	// SessionsClosedSlow counts the sessions closed, since the start, for
	// not reading what they were sent.
	SessionsClosedSlow uint64 `json:"sessionsClosedSlow"`
	// Cluster is the node's place in its cluster; absent on a server of
	// its own. A node that does not follow the change stream is degraded.
	Cluster *cluster.Status `json:"cluster,omitempty"`
}

func (s *Server) health(ctx context.Context) (any, bool) {
	var h Health
	h.Status, h.Database = "ok", "ok"
	st := reactive.SourceStatus{Connected: s.Engine.Replicating()}
	if r, ok := s.Source.(reactive.StatusReporter); ok {
		st = r.Status()
	}
	h.Replication.Connected, h.Replication.Slot, h.Replication.Reconnects = st.Connected, st.Slot, st.Reconnects
	h.Replication.Resumes = st.Resumes
	applied := s.Engine.Applied()
	h.Replication.AppliedLSN = applied.String()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var current string
	if err := s.Pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&current); err != nil {
		s.log.Warn("health check: database unreachable", slog.Any("error", err))
		h.Database, h.Status = "unreachable", "degraded"
	} else if lsn, err := functions.ParseLSN(current); err == nil && lsn > uint64(applied) {
		h.Replication.LagBytes = lsn - uint64(applied)
	}
	h.Stale = s.Engine.Stale()
	if !st.Connected || !s.Engine.Replicating() || h.Stale {
		h.Status = "degraded"
	}
	if s.Media != nil {
		h.Media = "ok"
		if s.Media.StoreFull() {
			h.Media, h.Status = "full", "degraded"
		}
	}
	if s.Cluster != nil {
		cs := s.Cluster.ClusterStatus()
		h.Cluster = &cs
	}
	stats := s.Engine.Stats()
	h.Sessions, h.Subscriptions, h.Instances = stats.Sessions, stats.Subscriptions, stats.Instances
	h.SessionsClosedSlow = stats.ClosedSlow
	return h, h.Status == "ok"
}

// Functions is the registry of every function the server serves, one
// registration per domain: the chat API configured by chatCfg, the
// events domain ev and the support domain sup (nil: ones that only
// describe their functions). `parley codegen` generates client types
// from it.
func Functions(chatCfg chat.Config, ev *events.Service, sup *support.Service, ai *assistant.Service) *functions.Registry {
	r := functions.NewRegistry()
	if sup == nil {
		sup = support.New(support.Config{})
	}
	if ai == nil {
		ai = assistant.New(assistant.Config{Support: sup})
	}
	if sup.QueueOnMessage() {
		chatCfg.SupportWaiting = sup.CustomerWrote
	}
	chatCfg.AssistantWaiting, chatCfg.Streams = ai.CustomerWrote, ai.Streams()
	chatCfg.SupportClosed = func(c *functions.MutationCtx, convID string, reason *string) error {
		if err := ai.ConversationClosed(c, convID, reason); err != nil {
			return err
		}
		return sup.ConversationClosed(c, convID, reason)
	}
	chatCfg.SupportAssigned = sup.ConversationAssigned
	chat.Register(r, chatCfg)
	sup.Register(r)
	ai.Register(r)
	if ev == nil {
		var err error
		if ev, err = events.New(events.Config{ConversationAccess: chat.ConversationAccess}); err != nil {
			panic(err) // only a missing ConversationAccess fails
		}
	}
	ev.Register(r)
	return r
}

// Tables are the tables whose documents the functions return, for the
// data model `parley codegen --convex-dir` writes (Doc<"messages">).
func Tables() []tsgen.Table {
	return []tsgen.Table{
		{Name: "conversations", Doc: reflect.TypeFor[chat.ConversationDoc]()},
		{Name: "messages", Doc: reflect.TypeFor[chat.MessageDoc]()},
	}
}
