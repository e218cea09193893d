package assistant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley/assistant/llm"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/jobs"
	"github.com/parley-chat/parley/schema"
	"github.com/parley-chat/parley/support"
)

// Defaults.
const (
	// DefaultFlushInterval is how often, at most, a growing answer is
	// pushed to its viewers (`--ai-flush-interval`).
	DefaultFlushInterval = 50 * time.Millisecond
	// DefaultRunTimeout bounds one reply, tools included.
	DefaultRunTimeout = 2 * time.Minute
	// DefaultHistory is how many of a conversation's latest messages the
	// model sees.
	DefaultHistory = 20
	// DefaultToolRounds bounds the rounds of tool calls in one reply.
	DefaultToolRounds = 4
	// DefaultRunsPerMinute bounds the replies one conversation gets per
	// minute; later messages wait (their replies are delayed, not lost).
	DefaultRunsPerMinute = 10
	// DefaultWordDelay paces the built-in assistant's words.
	DefaultWordDelay = 25 * time.Millisecond
)

// Config configures the assistant domain.
type Config struct {
	// OpenAI answers for assistants whose provider is "openai"
	// (`--ai-base-url`, package oai). Nil: such an assistant hands its
	// conversations off, with a notice that it is unavailable.
	OpenAI llm.Provider
	// Builtin answers for assistants whose provider is "builtin".
	Builtin Builtin
	// Support queues the conversations assistants hand off. Required.
	Support *support.Service
	// FlushInterval, RunTimeout, History, ToolRounds and RunsPerMinute:
	// zero means their defaults.
	FlushInterval time.Duration
	RunTimeout    time.Duration
	History       int
	ToolRounds    int
	RunsPerMinute int
	// FinishRetry is how long a reply's final write is retried while the
	// database is away (the whole answer is only in memory). Zero means
	// DefaultFinishRetry.
	FinishRetry time.Duration
	// LeaveGrace is how long a customer who was online may be gone (every
	// session closed or expired) before the reply streaming to them stops:
	// a reload reconnects well within it and finds the text so far. Zero
	// means DefaultLeaveGrace.
	LeaveGrace time.Duration
	// Fanout shares streaming answers and the stops of replies with the
	// other nodes of a cluster (package cluster's Streams). Nil means one
	// node: nothing is shared.
	Fanout Fanout
	Logger *slog.Logger
}

// DefaultFinishRetry is Config.FinishRetry's default.
const DefaultFinishRetry = time.Minute

// DefaultLeaveGrace is Config.LeaveGrace's default: the presence TTL.
const DefaultLeaveGrace = 30 * time.Second

// Service is the assistant domain. Safe for concurrent use.
type Service struct {
	cfg      Config
	streams  *streams
	internal *functions.Registry
	pool     *pgxpool.Pool
	queue    *jobs.Queue

	mu         sync.Mutex
	invalidate func(keys ...schema.Dep)
	running    map[string]*activeRun // by conversation
	leftAt     map[string]time.Time  // when a customer with a reply streaming went offline, by org and user
}

// activeRun is a reply this node streams, for whom.
type activeRun struct {
	cancel        context.CancelCauseFunc
	org, customer string
}

// errTakeover and errLeft are why a run was cancelled.
var (
	errTakeover = errors.New("an agent took the chat over")
	errHandoff  = errors.New("the conversation was handed to an agent")
	errClosed   = errors.New("the conversation was closed")
	errLeft     = errors.New("the customer left")
)

// New returns the service; it needs SetPool, SetQueue and SetInvalidator
// before it answers anyone.
func New(cfg Config) *Service {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = DefaultRunTimeout
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.ToolRounds <= 0 {
		cfg.ToolRounds = DefaultToolRounds
	}
	if cfg.RunsPerMinute <= 0 {
		cfg.RunsPerMinute = DefaultRunsPerMinute
	}
	if cfg.FinishRetry <= 0 {
		cfg.FinishRetry = DefaultFinishRetry
	}
	if cfg.LeaveGrace <= 0 {
		cfg.LeaveGrace = DefaultLeaveGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, running: map[string]*activeRun{}, leftAt: map[string]time.Time{}}
	if cfg.Support != nil {
		cfg.Support.WatchPresence(s.presenceChanged)
	}
	s.streams = newStreams(cfg.FlushInterval, func() func(keys ...schema.Dep) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.invalidate
	})
	if cfg.Fanout != nil {
		s.streams.fanout = cfg.Fanout
		cfg.Fanout.Subscribe(s.remoteGrew, s.remoteCancel)
	}
	s.internal = functions.NewRegistry()
	functions.Mutation(s.internal, internalBegin, s.begin)
	functions.Mutation(s.internal, internalFinish, s.finish)
	return s
}

// Streams is what chat shows in a streaming message's place
// (chat.Config.Streams).
func (s *Service) Streams() chat.Streams { return s.streams }

// SetInvalidator gives the service the engine's Invalidate, through which
// a growing answer re-runs the queries that show it.
func (s *Service) SetInvalidator(f func(keys ...schema.Dep)) {
	s.mu.Lock()
	s.invalidate = f
	s.mu.Unlock()
}

// SetPool gives the service the database its replies run on, and the
// outbox their events go to.
func (s *Service) SetPool(pool *pgxpool.Pool, outbox functions.Outbox) {
	s.pool = pool
	s.internal.SetOutbox(outbox)
}

// SetQueue gives the service the job queue replies run on.
func (s *Service) SetQueue(q *jobs.Queue) { s.queue = q }

// AddWorkers adds the reply worker.
func (s *Service) AddWorkers(w *river.Workers) { river.AddWorker(w, &replyWorker{s: s}) }

// LongestJob is the longest a reply job may run: the reply's timeout,
// the final write's retries and their last attempt (the job queue's
// rescue delay must exceed it, or a reply still writing would be run
// again).
func (s *Service) LongestJob() time.Duration {
	return s.cfg.RunTimeout + s.cfg.FinishRetry + finishAttemptTimeout
}

// Register adds the domain's functions to r: "shared/assistant:<name>",
// and the desk's takeoverChat and resumeAi ("shared/support:<name>").
func (s *Service) Register(r *functions.Registry) {
	functions.Mutation(r, "shared/assistant:upsertAssistant", s.upsertAssistant)
	functions.Query(r, "shared/assistant:listAssistants", s.listAssistants, functions.ScopeIdentity(roleInOrg))
	functions.Mutation(r, "shared/assistant:startChat", s.startChat)
	functions.QueryShared(r, "shared/assistant:getChatAssistant", func(c *functions.QueryCtx, a ConversationArgs) error {
		return chat.ConversationAccess(c, a.ConversationID)
	}, s.getChatAssistant)
	functions.Mutation(r, "shared/assistant:requestHuman", s.requestHuman)
	functions.Query(r, "shared/assistant:getAiChats", s.getAiChats, functions.ScopeIdentity(roleInOrg))
	functions.Query(r, "shared/assistant:getAssistantRuns", s.getAssistantRuns)
	functions.Mutation(r, "shared/support:takeoverChat", s.takeoverChat)
	functions.Mutation(r, "shared/support:resumeAi", s.resumeAi)
}

// roleInOrg is the identity the admins' lists depend on: an org's admins
// share their instances.
func roleInOrg(id *functions.Identity) *functions.Identity {
	return &functions.Identity{Subject: "org", Role: id.Role, Org: id.Org}
}

// cancelRun stops the reply streaming in convID: on this node, or else
// (Config.Fanout) on the node that streams it.
func (s *Service) cancelRun(convID string, cause error) {
	if s.cancelLocal(convID, cause) || s.cfg.Fanout == nil {
		return
	}
	s.cfg.Fanout.Cancel(convID, causeCode(cause))
}

// cancelLocal stops the reply streaming in convID on this node, if any.
func (s *Service) cancelLocal(convID string, cause error) bool {
	s.mu.Lock()
	r := s.running[convID]
	s.mu.Unlock()
	if r != nil {
		r.cancel(cause)
	}
	return r != nil
}

// presenceChanged stops the replies streaming to a customer who went
// offline, once they have stayed away for Config.LeaveGrace without a
// break: leftAt has when each went, and coming back clears it.
func (s *Service) presenceChanged(c support.PresenceChange) {
	if c.Agent {
		return
	}
	key := c.Org + "\x00" + c.UserID
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Support.Online(c.Org, c.UserID) {
		delete(s.leftAt, key)
		return
	}
	streaming := false
	for _, r := range s.running {
		streaming = streaming || (r.org == c.Org && r.customer == c.UserID)
	}
	if !streaming {
		return
	}
	left := time.Now()
	s.leftAt[key] = left
	var check func()
	check = func() {
		s.mu.Lock()
		since, ok := s.leftAt[key]
		if !ok || since != left {
			s.mu.Unlock()
			return // back since, or gone again later (that absence has a timer of its own)
		}
		delete(s.leftAt, key)
		var gone []*activeRun
		for _, r := range s.running {
			if r.org == c.Org && r.customer == c.UserID {
				gone = append(gone, r)
			}
		}
		s.mu.Unlock()
		for _, r := range gone {
			r.cancel(errLeft)
		}
	}
	time.AfterFunc(s.cfg.LeaveGrace, check)
}

// ConversationClosed stops a reply streaming in a conversation chat
// closed (chat.Config.SupportClosed, with the desk's).
func (s *Service) ConversationClosed(c *functions.MutationCtx, convID string, _ *string) error {
	if _, err := c.DB.Querier().Exec(c.Ctx, `UPDATE assistant_chats SET state = 'handed_off', reason = 'closed', updated_at = $2
		WHERE conversation_id = $1 AND state = 'active'`, convID, c.Now()); err != nil {
		return fmt.Errorf("assistant: close: %w", err)
	}
	c.AfterCommit(func() { s.cancelRun(convID, errClosed) })
	return nil
}

func (s *Service) requireAgent(id *functions.Identity) (*functions.Identity, error) {
	if id == nil {
		return nil, functions.ErrNotAuthenticated
	}
	if id.Role != functions.RoleAdmin {
		return nil, ErrAdminOnly
	}
	return id, nil
}
