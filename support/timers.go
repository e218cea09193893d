package support

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/jobs"
)

// Inactivity timers (seed 004: a 4-minute warning, a 30-minute close):
// see doc.go's "Timers".

// Default timer settings.
const (
	DefaultWarnAfter      = 4 * time.Minute
	DefaultCloseAfter     = 30 * time.Minute
	DefaultAgentReplyIn   = 5 * time.Minute
	DefaultTimersInterval = 10 * time.Second
)

// Agent silence actions (TimersConfig.AgentSilence).
const (
	SilenceRequeue = "requeue"
	SilenceAlert   = "alert"
)

// More events of the desk's.
const (
	EventWarned      = "support.warned"       // the customer was warned of the close
	EventAgentSilent = "support.agent_silent" // an agent left a customer's message unanswered
)

// TimersConfig configures the inactivity timers.
type TimersConfig struct {
	// WarnAfter is the customer's silence, after the agent's last word
	// (or the assignment), that brings a warning; CloseAfter the one that
	// closes the chat. Zero means the defaults; negative turns them off.
	WarnAfter, CloseAfter time.Duration
	// AgentReplyIn is how long a customer's message may wait for the
	// agent holding the chat; then AgentSilence happens: "requeue" (the
	// default: the chat goes back to the queue at its place) or "alert"
	// (a notice and an event; the agent keeps it). Negative: never.
	AgentReplyIn time.Duration
	AgentSilence string
	// Interval is how often the timers are checked. Zero means
	// DefaultTimersInterval; negative schedules no check (tests run
	// CheckTimers).
	Interval time.Duration
}

func (c *TimersConfig) fill() error {
	if c.WarnAfter == 0 {
		c.WarnAfter = DefaultWarnAfter
	}
	if c.CloseAfter == 0 {
		c.CloseAfter = DefaultCloseAfter
	}
	if c.AgentReplyIn == 0 {
		c.AgentReplyIn = DefaultAgentReplyIn
	}
	if c.AgentSilence == "" {
		c.AgentSilence = SilenceRequeue
	}
	if c.Interval == 0 {
		c.Interval = DefaultTimersInterval
	}
	if c.AgentSilence != SilenceRequeue && c.AgentSilence != SilenceAlert {
		return fmt.Errorf("support: the agent silence action is %q or %q, got %q", SilenceRequeue, SilenceAlert, c.AgentSilence)
	}
	if c.WarnAfter > 0 && c.CloseAfter > 0 && c.WarnAfter >= c.CloseAfter {
		return fmt.Errorf("support: the inactivity warning (%s) must come before the close (%s)", c.WarnAfter, c.CloseAfter)
	}
	return nil
}

// timerTick is the internal mutation that acts on one chat's timers.
const timerTick = "support/internal:timerTick"

// TimerTickArgs name the chat to check.
type TimerTickArgs struct {
	ConversationID string `json:"conversationId"`
}

// TimerTickResult says what the check did: "", "warned", "closed",
// "requeued" or "alerted".
type TimerTickResult struct {
	Action string `json:"action"`
}

// SetPool gives the service its database, for the timers' scan, and the
// outbox the timers' mutations write their events to (the events
// domain's). Call it once, before serving.
func (s *Service) SetPool(pool *pgxpool.Pool, outbox functions.Outbox) {
	s.pool = pool
	s.internal.SetOutbox(outbox)
}

// registerInternal registers the mutations only the service runs (no
// client can name them: they are in a registry of the service's own).
func (s *Service) registerInternal() {
	s.internal = functions.NewRegistry()
	functions.Mutation(s.internal, timerTick, s.timerTick)
}

// timersArgs is the periodic scan's job.
type timersArgs struct{}

func (timersArgs) Kind() string { return "support.timers" }

// A scan that fails is not retried: the next one comes in an interval.
func (timersArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: 1}
}

type timersWorker struct {
	river.WorkerDefaults[timersArgs]
	s *Service
}

func (w *timersWorker) Work(ctx context.Context, _ *river.Job[timersArgs]) error {
	_, err := w.s.CheckTimers(ctx)
	return err
}

// AddWorkers adds the service's job workers.
func (s *Service) AddWorkers(w *river.Workers) { river.AddWorker(w, &timersWorker{s: s}) }

// Periodic are the service's periodic jobs: the timers' scan, on river's
// leader (so once cluster-wide).
func (s *Service) Periodic() []*river.PeriodicJob {
	if s.cfg.Timers.Interval < 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(s.cfg.Timers.Interval),
		func() (river.JobArgs, *river.InsertOpts) { return timersArgs{}, nil },
		&river.PeriodicJobOpts{ID: "support.timers"})}
}

// dueSQL finds the assigned chats with a timer due ($1 now): the agent
// has the last word (or nobody spoke since the assignment) and the
// customer has been silent past the warning ($2) or the close ($3), or
// the customer has the last word and it waits past $4. Times are the
// latest customer and admin messages (notices are neither).
const dueSQL = `SELECT r.conversation_id, r.org_id, r.agent_id, coalesce(r.agent_name, '')
	FROM support_requests r
	CROSS JOIN LATERAL (SELECT max(m.created_at) AS at FROM (SELECT created_at FROM messages
		WHERE conversation_id = r.conversation_id AND sender_type = 'customer' ORDER BY created_at DESC LIMIT 1) m) lc
	CROSS JOIN LATERAL (SELECT max(m.created_at) AS at FROM (SELECT created_at FROM messages
		WHERE conversation_id = r.conversation_id AND sender_type = 'admin' ORDER BY created_at DESC LIMIT 1) m) la
	WHERE r.state = 'assigned' AND (
		(coalesce(lc.at <= greatest(la.at, r.assigned_at), true) AND (
			($2::interval IS NOT NULL AND greatest(la.at, r.assigned_at) <= $1::timestamptz - $2::interval
				AND (r.warned_at IS NULL OR r.warned_at < greatest(la.at, r.assigned_at)))
			OR ($3::interval IS NOT NULL AND greatest(la.at, r.assigned_at) <= $1::timestamptz - $3::interval)))
		OR (lc.at > greatest(la.at, r.assigned_at) AND $4::interval IS NOT NULL
			AND greatest(lc.at, r.assigned_at) <= $1::timestamptz - $4::interval
			AND (r.alerted_at IS NULL OR r.alerted_at < lc.at)))
	ORDER BY r.assigned_at
	LIMIT 1000`

// interval is d for dueSQL, nil when it is off.
func interval(d time.Duration) *time.Duration {
	if d < 0 {
		return nil
	}
	return &d
}

// CheckTimers acts on every chat whose timer is due, each in a mutation
// of its own that checks again (so two checks never act twice), and
// returns how many acted. The periodic job runs it.
func (s *Service) CheckTimers(ctx context.Context) (int, error) {
	if s.pool == nil {
		return 0, nil
	}
	t := s.cfg.Timers
	rows, err := s.pool.Query(ctx, dueSQL, time.Now(), interval(t.WarnAfter), interval(t.CloseAfter), interval(t.AgentReplyIn))
	if err != nil {
		return 0, fmt.Errorf("support timers: %w", err)
	}
	type due struct{ conv, org, agent, name string }
	var all []due
	var d due
	if _, err := pgx.ForEachRow(rows, []any{&d.conv, &d.org, &d.agent, &d.name}, func() error {
		all = append(all, d)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("support timers: %w", err)
	}
	fn, err := s.internal.Lookup(timerTick)
	if err != nil {
		return 0, err
	}
	acted := 0
	for _, d := range all {
		// On behalf of the agent who holds the chat: the notices and the
		// close are theirs, as if they had done it.
		id := &functions.Identity{Subject: d.agent, Name: d.name, Role: functions.RoleAdmin, Org: d.org}
		raw, _ := json.Marshal(TimerTickArgs{ConversationID: d.conv})
		args, err := fn.DecodeArgs(raw)
		if err != nil {
			return acted, err
		}
		res, err := fn.RunMutationAdmitted(ctx, s.pool, id, args, functions.RequestKey{}, &functions.Admission{})
		if err != nil {
			s.log().Warn("support timer failed", slog.String("conversation", d.conv), slog.Any("error", err))
			continue
		}
		var out TimerTickResult
		if json.Unmarshal(res.Value, &out) == nil && out.Action != "" {
			acted++
		}
	}
	return acted, nil
}

// timerTick acts on the caller's chat conversationId if a timer is due,
// checked again under the request's lock.
func (s *Service) timerTick(c *functions.MutationCtx, a TimerTickArgs) (TimerTickResult, error) {
	id := c.Identity()
	t := requestTables{c.DB}
	r, err := t.openForUpdate(c.Ctx, id.Org, a.ConversationID)
	if noRow(err) {
		return TimerTickResult{}, nil
	}
	if err != nil {
		return TimerTickResult{}, err
	}
	if r.state != StateAssigned || r.agentID == nil || *r.agentID != id.Subject {
		return TimerTickResult{}, nil // taken, moved or closed since the scan
	}
	var lastCustomer, lastAgent, warned, alerted *time.Time
	if err := c.Tx.QueryRow(c.Ctx, `SELECT
			(SELECT max(created_at) FROM messages WHERE conversation_id = $1 AND sender_type = 'customer'),
			(SELECT max(created_at) FROM messages WHERE conversation_id = $1 AND sender_type = 'admin'),
			warned_at, alerted_at FROM support_requests WHERE id = $2`, r.conversationID, r.id).
		Scan(&lastCustomer, &lastAgent, &warned, &alerted); err != nil {
		return TimerTickResult{}, fmt.Errorf("support timer: %w", err)
	}
	now, cfg := c.Now(), s.cfg.Timers
	agentWord := *r.assignedAt
	if lastAgent != nil && lastAgent.After(agentWord) {
		agentWord = *lastAgent
	}
	conv, err := chat.LockDeskConversation(c, r.conversationID)
	if err != nil {
		return TimerTickResult{}, err
	}
	if lastCustomer != nil && lastCustomer.After(agentWord) {
		// The customer waits for the agent.
		since := *lastCustomer
		if r.assignedAt.After(since) {
			since = *r.assignedAt
		}
		if cfg.AgentReplyIn < 0 || now.Sub(since) < cfg.AgentReplyIn || (alerted != nil && !alerted.Before(*lastCustomer)) {
			return TimerTickResult{}, nil
		}
		if _, err := c.Tx.Exec(c.Ctx, `UPDATE support_requests SET alerted_at = $2 WHERE id = $1`, r.id, now); err != nil {
			return TimerTickResult{}, fmt.Errorf("support timer: %w", err)
		}
		waited := roundMinutes(now.Sub(since))
		emit(c, EventAgentSilent, r, EventData{AgentID: r.agentID, Reason: optional(SilenceReason(cfg.AgentSilence))})
		if cfg.AgentSilence == SilenceAlert {
			return TimerTickResult{Action: "alerted"}, chat.DeskNotice(c, &conv, id,
				fmt.Sprintf("%s has not answered for %s", id.Name, waited))
		}
		if err := t.requeue(c.Ctx, r.id, r.skills); err != nil {
			return TimerTickResult{}, err
		}
		if err := chat.DeskAssign(c, &conv, nil); err != nil {
			return TimerTickResult{}, err
		}
		emit(c, EventTransferred, r, EventData{FromAgentID: r.agentID, Note: optional("no answer for " + waited)})
		return TimerTickResult{Action: "requeued"}, chat.DeskNotice(c, &conv, id,
			fmt.Sprintf("No answer from %s for %s: back in the queue for the next agent", id.Name, waited))
	}
	silent := now.Sub(agentWord)
	if cfg.CloseAfter >= 0 && silent >= cfg.CloseAfter {
		reason := fmt.Sprintf("no reply for %s", roundMinutes(silent))
		if err := chat.CloseSupportConversation(c, r.conversationID, &reason); err != nil {
			return TimerTickResult{}, err
		}
		return TimerTickResult{Action: "closed"}, s.closeRequest(c, r.conversationID, &reason)
	}
	if cfg.WarnAfter < 0 || silent < cfg.WarnAfter || (warned != nil && !warned.Before(agentWord)) {
		return TimerTickResult{}, nil
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE support_requests SET warned_at = $2 WHERE id = $1`, r.id, now); err != nil {
		return TimerTickResult{}, fmt.Errorf("support timer: %w", err)
	}
	emit(c, EventWarned, r, EventData{AgentID: r.agentID})
	msg := "Are you still there? This chat closes"
	if cfg.CloseAfter >= 0 {
		msg += fmt.Sprintf(" in %s", roundMinutes(cfg.CloseAfter-silent))
	}
	return TimerTickResult{Action: "warned"}, chat.DeskNotice(c, &conv, id, msg+" without a reply.")
}

// SilenceReason is the agent_silent event's reason for an action.
func SilenceReason(action string) string { return "agent silence: " + action }

// roundMinutes says a duration as people do: "4 minutes", "1 minute",
// "40 seconds".
func roundMinutes(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Round(time.Second).Seconds()))
	}
	m := int(d.Round(time.Minute).Minutes())
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}
