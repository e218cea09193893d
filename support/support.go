package support

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/keyrate"
	"github.com/parley-chat/parley/schema"
)

// Config configures the support domain.
type Config struct {
	// Presence keeps presence entries. Nil means a MemoryPresence with
	// PresenceTTL (the service's Run sweeps it).
	Presence Presence
	// PresenceTTL is how long a session's presence entry lives without a
	// heartbeat (`parley serve --presence-ttl`). Zero means
	// DefaultPresenceTTL. Ignored when Presence is set.
	PresenceTTL time.Duration
	// AwayAfter is the idle time (heartbeat's idleSeconds) from which a
	// session counts as away. Zero means DefaultAwayAfter.
	AwayAfter time.Duration
	// HeartbeatsPerSecond and HeartbeatBurst limit heartbeat per user (all
	// their sessions): a client flipping idle on and off re-runs the
	// queries that read its presence each time. Zero means 2 per second
	// with bursts of 20 (ten tabs reconnecting at once); negative disables
	// the limit.
	HeartbeatsPerSecond float64
	HeartbeatBurst      int
	// RateLimits makes the heartbeat limiter (limit "support.heartbeats"):
	// keyrate.PG.Limiter shares each user's budget among the nodes of one
	// database. Nil means keyrate.Memory: this process's buckets.
	RateLimits keyrate.Factory
	// AvgHandleTime is the average handle time of an org's ETAs until one
	// of its chats closes (`--support-avg-handle-time`). Zero means
	// DefaultAvgHandleTime.
	AvgHandleTime time.Duration
	// HandleTimeWindow is how many of an org's latest closed chats the
	// average handle time is measured over. Zero means
	// DefaultHandleTimeWindow.
	HandleTimeWindow int
	// QueueOnMessage queues a customer's support conversation when they
	// write in it while no agent holds it and it has no open request, as
	// requestSupport would (`--support-queue-on-message`). False (the
	// default) queues only on requestSupport: until the AI assistant
	// issue says who else may hold a conversation, a shop opts in.
	QueueOnMessage bool
	// Media signs the links of transcripts' images (internal/server sets
	// chat's). Nil means transcripts list images without links.
	Media chat.Media
	// ICE are the STUN and TURN servers of getIceServers.
	ICE ICEConfig
	// Timers are the inactivity timers of assigned chats.
	Timers TimersConfig
	// Logger receives the timers' failures. Nil means slog.Default.
	Logger *slog.Logger
}

// Validate reports a setting the service cannot run with.
func (c Config) Validate() error {
	if err := c.ICE.Validate(); err != nil {
		return err
	}
	t := c.Timers
	return t.fill()
}

// DefaultAwayAfter is the idle time from which a session is away.
const DefaultAwayAfter = 5 * time.Minute

// Service is the support domain: agents' profiles and presence. Safe for
// concurrent use.
type Service struct {
	cfg    Config
	memory *MemoryPresence // the default Presence; nil when Config.Presence was given
	ttl    time.Duration
	beats  keyrate.Taker // heartbeats per user; nil: no limit

	pool     *pgxpool.Pool       // for the timers' scan (SetPool)
	internal *functions.Registry // the mutations only the service runs

	mu         sync.RWMutex
	invalidate func(keys ...schema.Dep)
	watchers   []func(PresenceChange)
}

func (s *Service) log() *slog.Logger {
	if s.cfg.Logger != nil {
		return s.cfg.Logger
	}
	return slog.Default()
}

// New returns the service. Give it the engine's Invalidate with
// SetInvalidator before it serves.
func New(cfg Config) *Service {
	if cfg.PresenceTTL <= 0 {
		cfg.PresenceTTL = DefaultPresenceTTL
	}
	if cfg.AwayAfter <= 0 {
		cfg.AwayAfter = DefaultAwayAfter
	}
	if cfg.AvgHandleTime <= 0 {
		cfg.AvgHandleTime = DefaultAvgHandleTime
	}
	if cfg.HandleTimeWindow <= 0 {
		cfg.HandleTimeWindow = DefaultHandleTimeWindow
	}
	if cfg.HeartbeatsPerSecond == 0 {
		cfg.HeartbeatsPerSecond, cfg.HeartbeatBurst = 2, 20
	}
	_ = cfg.Timers.fill() // defaults; Validate reports what is wrong
	if cfg.RateLimits == nil {
		cfg.RateLimits = keyrate.Memory
	}
	s := &Service{cfg: cfg, ttl: cfg.PresenceTTL, beats: cfg.RateLimits("support.heartbeats", cfg.HeartbeatsPerSecond, cfg.HeartbeatBurst)}
	s.registerInternal()
	if cfg.Presence == nil {
		s.memory = NewMemoryPresence(MemoryConfig{TTL: cfg.PresenceTTL})
		s.cfg.Presence = s.memory
		s.ttl = s.memory.TTL()
	}
	s.cfg.Presence.OnChange(s.changed)
	return s
}

// SetInvalidator gives the service the engine's Invalidate
// (reactive.Engine.Invalidate), through which a presence change re-runs
// the queries that read it. Call it once, before serving.
func (s *Service) SetInvalidator(f func(keys ...schema.Dep)) {
	s.mu.Lock()
	s.invalidate = f
	s.mu.Unlock()
}

// WatchPresence has f told of every change of a user's presence (after
// the queries reading it are), outside any lock: the assistant stops
// answering a customer who left. Call it before serving.
func (s *Service) WatchPresence(f func(PresenceChange)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, f)
	s.mu.Unlock()
}

// Online reports whether user of org has a live session now.
func (s *Service) Online(org, user string) bool {
	return s.cfg.Presence.Users(org, []string{user})[0].Status != Offline
}

// IdentityLeft drops the presence of connection conn, which closed or took
// another identity (reactive.Config.IdentityLeft).
func (s *Service) IdentityLeft(conn uint64) { s.cfg.Presence.Leave(conn) }

// Run sweeps expired presence entries until ctx is done (nothing to do
// with a Presence of Config's).
func (s *Service) Run(ctx context.Context) error {
	if s.memory == nil {
		<-ctx.Done()
		return nil
	}
	return s.memory.Run(ctx)
}

// Presence dependencies: the table name no Postgres table has, and its
// keys. A user's (presenceUser: presenceKey(org, user)); an org's agents
// as a set (presenceAgents: the org, length-prefixed).
const (
	presenceTable  = "@presence"
	presenceUser   = "user"
	presenceAgents = "agents"
)

// changed re-runs the queries that read c's user, and their org's agents
// when the user is one.
func (s *Service) changed(c PresenceChange) {
	s.mu.RLock()
	f, watchers := s.invalidate, s.watchers
	s.mu.RUnlock()
	for _, w := range watchers {
		w(c)
	}
	if f == nil {
		return
	}
	keys := []schema.Dep{{Table: presenceTable, Column: presenceUser, Value: presenceKey(c.Org, c.UserID)}}
	if c.Agent {
		keys = append(keys, schema.Dep{Table: presenceTable, Column: presenceAgents, Value: presenceKey(c.Org, "")})
	}
	f(keys...)
}

// Register adds the domain's functions to r, as "shared/support:<name>".
func (s *Service) Register(r *functions.Registry) {
	functions.Query(r, "shared/support:getMyAgentProfile", s.getMyAgentProfile)
	functions.Mutation(r, "shared/support:updateAgentProfile", s.updateAgentProfile)
	functions.Mutation(r, "shared/support:heartbeat", s.heartbeat, functions.InMemory(), functions.Admit(s.admitBeat))
	functions.Query(r, "shared/support:getPresence", s.getPresence, functions.ScopeIdentity(orgOnly))
	functions.Query(r, "shared/support:getOnlineAgents", s.getOnlineAgents, functions.ScopeIdentity(roleInOrg))
	functions.Mutation(r, "shared/support:requestSupport", s.requestSupport)
	functions.Query(r, "shared/support:getQueue", s.getQueue, functions.ScopeIdentity(roleInOrg))
	functions.QueryShared(r, "shared/support:getMyQueueStatus", func(c *functions.QueryCtx, a QueueStatusArgs) error {
		return chat.ConversationAccess(c, a.ConversationID)
	}, s.getMyQueueStatus)
	functions.Query(r, "shared/support:getCustomerHistory", s.getCustomerHistory, functions.ScopeIdentity(roleInOrg))
	functions.Mutation(r, "shared/support:pickNext", s.pickNext)
	functions.Mutation(r, "shared/support:claim", s.claim)
	functions.Mutation(r, "shared/support:transferChat", s.transferChat)
	functions.Mutation(r, "shared/support:closeChat", s.closeChat)
	functions.Query(r, "shared/support:getIceServers", s.getIceServers)
	functions.QueryShared(r, "shared/support:getTranscript", func(c *functions.QueryCtx, a GetTranscriptArgs) error {
		return chat.ConversationAccess(c, a.ConversationID)
	}, s.getTranscript)
}

// orgOnly is the identity getPresence depends on: every caller of an org
// shares its instances.
func orgOnly(id *functions.Identity) *functions.Identity {
	return &functions.Identity{Subject: "org", Org: id.Org}
}

// roleInOrg is the identity getOnlineAgents, getQueue and
// getCustomerHistory depend on: an org's admins share their instances.
func roleInOrg(id *functions.Identity) *functions.Identity {
	return &functions.Identity{Subject: "org", Role: id.Role, Org: id.Org}
}

// admitBeat takes a heartbeat token for the caller, or answers 429 with
// retryAfterMs.
func (s *Service) admitBeat(id *functions.Identity) error {
	if id == nil || s.beats == nil {
		return nil // the handler answers 401; no limit
	}
	d := s.beats.Take(presenceKey(id.Org, id.Subject), time.Now())
	if d <= 0 {
		return nil
	}
	ms := int(math.Ceil(float64(d) / float64(time.Millisecond)))
	return &functions.Error{Status: http.StatusTooManyRequests, Code: functions.CodeRateLimited,
		Message: fmt.Sprintf("Too many heartbeats: try again in %dms", ms), Data: map[string]any{"retryAfterMs": ms}}
}

func requireIdentity(id *functions.Identity) (*functions.Identity, error) {
	if id == nil {
		return nil, functions.ErrNotAuthenticated
	}
	return id, nil
}

// requireAgent admits admins (who may act as agents): 401 without an
// identity, 403 for any other role.
func requireAgent(id *functions.Identity) (*functions.Identity, error) {
	if id == nil {
		return nil, functions.ErrNotAuthenticated
	}
	if id.Role != functions.RoleAdmin {
		return nil, ErrAdminOnly
	}
	return id, nil
}
