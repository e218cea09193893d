package events

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/jobs"
)

// Event types: chat's mutations emit the message.* and conversation.*
// ones, the support desk's (package support) the support.* ones.
const (
	MessageCreated          = "message.created"
	MessageEdited           = "message.edited"
	MessageDeleted          = "message.deleted"
	MessageRead             = "message.read"
	ConversationCreated     = "conversation.created"
	ConversationArchived    = "conversation.archived"
	ConversationTransferred = "conversation.transferred"
	ConversationBlocked     = "conversation.blocked"
	ConversationUnblocked   = "conversation.unblocked"
	ConversationClosed      = "conversation.closed"
	ConversationReopened    = "conversation.reopened"
	SupportQueued           = "support.queued"
	SupportAssigned         = "support.assigned"
	SupportTransferred      = "support.transferred"
	SupportClosed           = "support.closed"
	SupportWarned           = "support.warned"
	SupportAgentSilent      = "support.agent_silent"
)

// Types lists every event type, for validating a webhook's filter.
var Types = []string{MessageCreated, MessageEdited, MessageDeleted, MessageRead,
	ConversationCreated, ConversationArchived, ConversationTransferred, ConversationBlocked,
	ConversationUnblocked, ConversationClosed, ConversationReopened,
	SupportQueued, SupportAssigned, SupportTransferred, SupportClosed, SupportWarned, SupportAgentSilent}

// Config configures the events domain.
type Config struct {
	// Pool is the database. Required to serve; nil only for a service
	// that describes its functions (parley codegen).
	Pool *pgxpool.Pool
	// ConversationAccess is the check of getConversationEvents: nil when
	// the caller may see the conversation (chat.ConversationAccess).
	// Required.
	ConversationAccess func(c *functions.QueryCtx, conversationID string) error
	// AllowPrivate lets webhooks reach private, loopback and link-local
	// addresses. False (the default of `parley serve`) refuses them, at
	// registration and at every connection (a name that resolves to one
	// is refused too): an admin cannot make Parley call into its own
	// network (SSRF).
	AllowPrivate bool
	// DeliveryTimeout bounds one delivery attempt, from dialling to the
	// end of the response's headers. Zero means 10s.
	DeliveryTimeout time.Duration
	// RetryHorizon is how long a delivery is retried before it goes dead.
	// Zero means 24h.
	RetryHorizon time.Duration
	// RetryBase is the delay before the first retry; each next one
	// doubles, up to RetryMax, with ±50% jitter. Zero means 5s.
	RetryBase time.Duration
	// RetryMax caps one retry's delay. Zero means 1h.
	RetryMax time.Duration
	// Retention is how long events are kept. Zero means 30 days.
	Retention time.Duration
	// CacheTTL is how long a node trusts its list of webhooks before it
	// reads it again; a commit that would miss a newer one is retried
	// with a fresh list (events_check_webhooks), so the TTL only bounds
	// the reads. Zero means 5s.
	CacheTTL time.Duration
	// Notify configures email notifications (offline mail, digests). Its
	// zero value sends none.
	Notify NotifyConfig
	// Registerer receives the metrics. Nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Service is the events domain: the outbox every mutation's events go
// through, the webhook endpoints and their deliveries. Safe for
// concurrent use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	queue   *jobs.Queue
	hooks   *hookCache
	client  *http.Client
	metrics *metrics
}

var _ functions.Outbox = (*Service)(nil)

// New validates cfg and returns the service. Give it the job queue with
// SetQueue before it serves.
func New(cfg Config) (*Service, error) {
	if cfg.ConversationAccess == nil {
		return nil, errors.New("events: ConversationAccess is required")
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 10 * time.Second
	}
	if cfg.RetryHorizon <= 0 {
		cfg.RetryHorizon = 24 * time.Hour
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 5 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Hour
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Notify.fill(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: log, hooks: newHookCache(cfg.CacheTTL), metrics: newMetrics(cfg.Registerer)}
	s.client = deliveryClient(cfg.DeliveryTimeout, cfg.AllowPrivate)
	return s, nil
}

// AddWorkers adds the domain's workers to w.
func (s *Service) AddWorkers(w *river.Workers) {
	river.AddWorker(w, &deliverWorker{s: s})
	river.AddWorker(w, &pruneWorker{s: s})
	river.AddWorker(w, &mailWorker{s: s})
	river.AddWorker(w, &offlineScanWorker{s: s})
	river.AddWorker(w, &digestScanWorker{s: s})
}

// Periodic is the domain's periodic work: pruning old events and, with
// a Mailer, the offline scan and the digest run.
func (s *Service) Periodic() []*river.PeriodicJob {
	jobs := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return pruneArgs{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true, ID: "events.prune"}),
	}
	if s.cfg.Notify.Mailer != nil {
		jobs = append(jobs, s.notifyPeriodic()...)
	}
	return jobs
}

// SetQueue gives the service the job queue its deliveries go to. Call it
// once, before serving.
func (s *Service) SetQueue(q *jobs.Queue) { s.queue = q }

// Register adds the domain's functions to r and makes the service r's
// outbox.
func (s *Service) Register(r *functions.Registry) {
	r.SetOutbox(s)
	s.registerFunctions(r)
	s.registerNotifyFunctions(r)
}

// Attribute keys of the domain's logs.
const (
	logWebhook  = "webhook"
	logDelivery = "delivery"
	logError    = "error"
	logMail     = "mail"
	logUser     = "user"
)
