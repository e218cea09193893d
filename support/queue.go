package support

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Queue limits and defaults.
const (
	// MaxTopicChars bounds a request's topic.
	MaxTopicChars = 200
	// MaxQueueListed bounds getQueue's list (Waiting counts them all).
	MaxQueueListed = 200
	// DefaultAvgHandleTime is the average handle time an org's ETAs use
	// before any chat of it closed (`--support-avg-handle-time`).
	DefaultAvgHandleTime = 5 * time.Minute
	// DefaultHandleTimeWindow is how many of the latest closed chats the
	// average handle time is measured over.
	DefaultHandleTimeWindow = 50
)

// RequestSupportArgs are the arguments of requestSupport.
type RequestSupportArgs struct {
	// Topic says what it is about, for the agents (at most 200
	// characters).
	Topic *string `json:"topic"`
	// Skills are what an agent must have to take it (all of them).
	Skills *[]string `json:"skills"`
	// Priority is low, normal (the default), high or urgent.
	Priority *string `json:"priority" ts:"low|normal|high|urgent"`
	// OrderID makes it about one of the customer's orders (their support
	// conversation about that order).
	OrderID *string `json:"orderId"`
}

// SupportRequestRef is requestSupport's answer: the customer's support
// conversation and its open request.
type SupportRequestRef struct {
	ConversationID string `json:"conversationId"`
	RequestID      string `json:"requestId"`
	State          string `json:"state" ts:"queued|assigned"`
	// EnqueuedAt is when it entered the queue, in milliseconds since the
	// epoch: the client shows the wait from it.
	EnqueuedAt int64 `json:"enqueuedAt"`
	// Created is false when the conversation already had an open request,
	// which is returned as it is.
	Created bool `json:"created"`
}

// requestSupport opens (or finds) the caller's support conversation and
// queues it for an agent. A conversation with an open request keeps it.
func (s *Service) requestSupport(c *functions.MutationCtx, a RequestSupportArgs) (SupportRequestRef, error) {
	var topic *string
	if a.Topic != nil {
		t := strings.TrimSpace(*a.Topic)
		if n := utf8.RuneCountInString(t); n > MaxTopicChars {
			return SupportRequestRef{}, functions.Invalid("topic: at most %d characters, got %d", MaxTopicChars, n)
		}
		if t != "" {
			topic = &t
		}
	}
	skills := []string{}
	if a.Skills != nil {
		var err error
		if skills, err = normalizeSkills(*a.Skills); err != nil {
			return SupportRequestRef{}, err
		}
	}
	prio, _ := priorityOf(DefaultPriority)
	if a.Priority != nil {
		var ok bool
		if prio, ok = priorityOf(*a.Priority); !ok {
			return SupportRequestRef{}, functions.Invalid("priority: low, normal, high or urgent")
		}
	}
	ref, err := chat.OpenSupportConversation(c, a.OrderID)
	if err != nil {
		return SupportRequestRef{}, err
	}
	id := c.Identity()
	conv, err := chat.LockDeskConversation(c, ref.ConversationID)
	if err != nil {
		return SupportRequestRef{}, err
	}
	t := requestTables{c.DB}
	open, err := t.openForUpdate(c.Ctx, id.Org, conv.ID)
	switch {
	case err == nil:
		return SupportRequestRef{ConversationID: conv.ID, RequestID: open.id, State: open.state, EnqueuedAt: open.enqueuedAt.UnixMilli()}, nil
	case !noRow(err):
		return SupportRequestRef{}, err
	}
	if err := chat.DeskReopen(c, &conv); err != nil {
		return SupportRequestRef{}, err
	}
	now := c.Now().Truncate(time.Microsecond)
	r := request{id: schema.NewID("sreq"), org: id.Org, conversationID: conv.ID, customerID: id.Subject, customerName: name(id),
		topic: topic, skills: skills, priority: prio, orderID: conv.OrderID, state: StateQueued, enqueuedAt: now}
	if err := t.insert(c.Ctx, r); err != nil {
		return SupportRequestRef{}, err
	}
	notice := "Waiting for an agent"
	if topic != nil {
		notice += ": " + *topic
	}
	if err := chat.DeskStatus(c, &conv, id, notice); err != nil {
		return SupportRequestRef{}, err
	}
	emit(c, EventQueued, r, EventData{})
	return SupportRequestRef{ConversationID: conv.ID, RequestID: r.id, State: StateQueued, EnqueuedAt: now.UnixMilli(), Created: true}, nil
}

// CustomerWrote queues conv, a customer's support conversation no admin
// holds, in which its customer (the caller) just wrote, unless it has an
// open request: the issue's "the first message of a support conversation
// when no agent holds it" (chat.Config.SupportWaiting, set when
// Config.QueueOnMessage is). The request has the default priority, no
// skills and no topic; it posts no notice (the message is there), and
// emits support.queued.
func (s *Service) CustomerWrote(c *functions.MutationCtx, conv chat.Conversation) error {
	id := c.Identity()
	t := requestTables{c.DB}
	_, err := t.openForUpdate(c.Ctx, id.Org, conv.ID)
	if err == nil || !noRow(err) {
		return err
	}
	prio, _ := priorityOf(DefaultPriority)
	r := request{id: schema.NewID("sreq"), org: id.Org, conversationID: conv.ID, customerID: id.Subject, customerName: name(id),
		skills: []string{}, priority: prio, orderID: conv.OrderID, state: StateQueued, enqueuedAt: c.Now().Truncate(time.Microsecond)}
	if err := t.insert(c.Ctx, r); err != nil {
		return err
	}
	emit(c, EventQueued, r, EventData{})
	return nil
}

// Handoff queues conv, a customer's support conversation (the caller is
// its customer), for an agent because its assistant handed it off
// (package assistant: transfer_chat_to_agent, a hand-off rule, an
// outage): topic says why (at most MaxTopicChars, cut to fit) and skills
// are what the agent must have (normalised; invalid ones are an error).
// An open request is left as it is. It emits support.queued and posts
// nothing (the assistant posts its notice).
func (s *Service) Handoff(c *functions.MutationCtx, conv chat.Conversation, topic string, skills []string) error {
	id := c.Identity()
	t := requestTables{c.DB}
	_, err := t.openForUpdate(c.Ctx, id.Org, conv.ID)
	if err == nil || !noRow(err) {
		return err
	}
	if skills, err = normalizeSkills(skills); err != nil {
		return err
	}
	var tp *string
	if topic = strings.TrimSpace(topic); topic != "" {
		if r := []rune(topic); len(r) > MaxTopicChars {
			topic = string(r[:MaxTopicChars-1]) + "…"
		}
		tp = &topic
	}
	prio, _ := priorityOf(DefaultPriority)
	r := request{id: schema.NewID("sreq"), org: id.Org, conversationID: conv.ID, customerID: id.Subject, customerName: name(id),
		topic: tp, skills: skills, priority: prio, orderID: conv.OrderID, state: StateQueued, enqueuedAt: c.Now().Truncate(time.Microsecond)}
	if err := t.insert(c.Ctx, r); err != nil {
		return err
	}
	emit(c, EventQueued, r, EventData{})
	return nil
}

// HasOpenRequest reports whether conversation convID of the caller's org
// has an open request (queued, or held by an agent): the desk has it,
// and an assistant must not answer in it. It locks the request.
func (s *Service) HasOpenRequest(c *functions.MutationCtx, convID string) (bool, error) {
	_, err := requestTables{c.DB}.openForUpdate(c.Ctx, c.Identity().Org, convID)
	if noRow(err) {
		return false, nil
	}
	return err == nil, err
}

// QueueOnMessage reports whether a customer's message in a support
// conversation no agent holds queues it (Config.QueueOnMessage): then
// chat.Config.SupportWaiting is CustomerWrote.
func (s *Service) QueueOnMessage() bool { return s.cfg.QueueOnMessage }

// name is what the desk calls a caller: the token's name, else its
// subject.
func name(id *functions.Identity) string {
	if id.Name == "" {
		return id.Subject
	}
	return id.Name
}

// QueueEntry is one waiting request in getQueue.
type QueueEntry struct {
	RequestID      string `json:"requestId"`
	ConversationID string `json:"conversationId"`
	// Position is its place in the queue, from 1.
	Position int `json:"position"`
	// EnqueuedAt is when it entered the queue (milliseconds since the
	// epoch): the wait is now minus it, which the client counts.
	EnqueuedAt   int64    `json:"enqueuedAt"`
	Priority     string   `json:"priority" ts:"low|normal|high|urgent"`
	Skills       []string `json:"skills"`
	Topic        *string  `json:"topic"`
	OrderID      *string  `json:"orderId"`
	CustomerID   string   `json:"customerId"`
	CustomerName string   `json:"customerName"`
	// Preview is the conversation's latest message, shortened.
	Preview       *string `json:"preview"`
	LastMessageAt *int64  `json:"lastMessageAt"`
}

// QueueView is getQueue's answer.
type QueueView struct {
	// Waiting counts every queued request of the org.
	Waiting int `json:"waiting"`
	// Requests are the first MaxQueueListed, in the order agents take
	// them.
	Requests []QueueEntry `json:"requests"`
}

// getQueue lists the org's queue for its agents, live.
func (s *Service) getQueue(c *functions.QueryCtx, _ struct{}) (QueueView, error) {
	id, err := requireAgent(c.Identity())
	if err != nil {
		return QueueView{}, err
	}
	rows, total, err := requestTables{c.DB}.queued(c.Ctx, id.Org, MaxQueueListed)
	if err != nil {
		return QueueView{}, err
	}
	out := QueueView{Waiting: total, Requests: make([]QueueEntry, len(rows))}
	for i, q := range rows {
		out.Requests[i] = QueueEntry{RequestID: q.id, ConversationID: q.conversationID, Position: i + 1,
			EnqueuedAt: q.enqueuedAt.UnixMilli(), Priority: priorityName(q.priority), Skills: q.skills, Topic: q.topic,
			OrderID: q.orderID, CustomerID: q.customerID, CustomerName: q.customerName, Preview: q.preview,
			LastMessageAt: millis(q.lastMessageAt)}
	}
	return out, nil
}

func millis(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

// QueueStatusArgs are the arguments of getMyQueueStatus.
type QueueStatusArgs struct {
	ConversationID string `json:"conversationId"`
}

// QueueStatus is a support conversation's place in the queue, as its
// customer sees it.
type QueueStatus struct {
	ConversationID string `json:"conversationId"`
	// State is the latest request's: none (never asked), queued, assigned
	// (an agent holds it) or closed.
	State     string  `json:"state" ts:"none|queued|assigned|closed"`
	RequestID *string `json:"requestId"`
	// Position is a queued request's place, from 1; null otherwise.
	Position *int `json:"position"`
	// EtaSeconds is ceil(position / availableAgents) * avgHandleTimeSeconds
	// while queued; null when no agent is available (or not queued).
	EtaSeconds *int64 `json:"etaSeconds"`
	// AvailableAgents counts the org's agents who are online (effective
	// status), have free capacity and every skill the request needs.
	AvailableAgents int `json:"availableAgents"`
	// AvgHandleTimeSeconds is measured over the org's latest closed chats
	// (the configured default before any).
	AvgHandleTimeSeconds int64 `json:"avgHandleTimeSeconds"`
	// EnqueuedAt and AssignedAt are milliseconds since the epoch: the
	// client counts the wait from them.
	EnqueuedAt *int64   `json:"enqueuedAt"`
	AssignedAt *int64   `json:"assignedAt"`
	AgentID    *string  `json:"agentId"`
	AgentName  *string  `json:"agentName"`
	Skills     []string `json:"skills"`
	Topic      *string  `json:"topic"`
}

// getMyQueueStatus answers whoever sees the conversation (its customer,
// admins): the body is the same for all of them, and live (the org's
// requests, its agents' presence and profiles).
func (s *Service) getMyQueueStatus(c *functions.QueryCtx, a QueueStatusArgs) (QueueStatus, error) {
	t := requestTables{c.DB}
	out := QueueStatus{ConversationID: a.ConversationID, State: StateNone, Skills: []string{}}
	r, err := t.latest(c.Ctx, a.ConversationID)
	if noRow(err) {
		return out, nil
	}
	if err != nil {
		return QueueStatus{}, err
	}
	out.State, out.RequestID, out.Skills, out.Topic = r.state, &r.id, r.skills, r.topic
	out.EnqueuedAt, out.AssignedAt, out.AgentID, out.AgentName = millis(&r.enqueuedAt), millis(r.assignedAt), r.agentID, r.agentName
	d, err := s.desk(c, r.org)
	if err != nil {
		return QueueStatus{}, err
	}
	out.AvgHandleTimeSeconds = int64(d.avg / time.Second)
	if r.state != StateQueued {
		return out, nil
	}
	pos, ok := d.positions[r.id]
	if !ok {
		// latest and the desk read one snapshot: a queued request is in it.
		return QueueStatus{}, fmt.Errorf("queued request %s is not in its org's queue", r.id)
	}
	out.Position = &pos
	out.AvailableAgents = d.available(r.skills)
	if out.AvailableAgents > 0 {
		eta := int64((pos+out.AvailableAgents-1)/out.AvailableAgents) * out.AvgHandleTimeSeconds
		out.EtaSeconds = &eta
	}
	return out, nil
}

// deskState is what every waiting customer's status in an org is
// computed from. It is read once per snapshot (functions.Memoized): a pick
// moves every customer's position, and 5,000 customers re-running then
// share one read of the queue instead of a count each.
type deskState struct {
	// positions are the queued requests' places, from 1, by id.
	positions map[string]int
	// avg is the average handle time (Config.AvgHandleTime before any
	// chat closed).
	avg time.Duration
	// free are the skills of each agent who is online (effective status)
	// with free capacity.
	free [][]string
}

// available counts the agents of d who may take a request needing skills.
func (d *deskState) available(skills []string) int {
	n := 0
	for _, have := range d.free {
		if hasAll(have, skills) {
			n++
		}
	}
	return n
}

// desk reads the org's deskState, once per snapshot.
func (s *Service) desk(c *functions.QueryCtx, org string) (*deskState, error) {
	return functions.Memoized(c, "support/desk:"+org, func(c *functions.QueryCtx) (*deskState, error) {
		t := requestTables{c.DB}
		d := &deskState{avg: s.cfg.AvgHandleTime}
		var err error
		if d.positions, err = t.positions(c.Ctx, org); err != nil {
			return nil, err
		}
		avg, n, err := t.handleTime(c.Ctx, org, s.cfg.HandleTimeWindow)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			d.avg = avg
		}
		profiles, err := agentTables{c.DB}.profiles(c.Ctx, org)
		if err != nil {
			return nil, err
		}
		loads, err := t.loads(c.Ctx, org)
		if err != nil {
			return nil, err
		}
		c.DB.Record(schema.Dep{Table: presenceTable, Column: presenceAgents, Value: presenceKey(org, "")})
		for _, up := range s.cfg.Presence.Agents(org) {
			p, ok := profiles[up.UserID]
			if !ok {
				p = defaultProfile(up.UserID)
			}
			if effective(p.status, up.Status) == Online && loads[up.UserID] < p.capacity {
				d.free = append(d.free, p.skills)
			}
		}
		return d, nil
	})
}

// hasAll reports whether have holds every one of need.
func hasAll(have, need []string) bool {
	for _, s := range need {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}
