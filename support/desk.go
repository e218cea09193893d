package support

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Why pickNext took nothing.
const (
	ReasonQueueEmpty   = "queue_empty"
	ReasonNoMatch      = "no_matching_request"
	ReasonCapacityFull = "capacity_full"
)

// MaxNoteChars bounds a transfer's note.
const MaxNoteChars = 500

// PickResult is what pickNext and claim took: a conversation now the
// caller's, or (pickNext) nothing and why.
type PickResult struct {
	// ConversationID is null when nothing was taken (Reason says why).
	ConversationID *string  `json:"conversationId"`
	RequestID      *string  `json:"requestId"`
	CustomerID     *string  `json:"customerId"`
	CustomerName   *string  `json:"customerName"`
	Topic          *string  `json:"topic"`
	Skills         []string `json:"skills"`
	Reason         *string  `json:"reason" ts:"queue_empty|no_matching_request|capacity_full"`
	// Load is the caller's open chats (this one included); Capacity their
	// profile's.
	Load     int `json:"load"`
	Capacity int `json:"capacity"`
}

func nothing(reason string, load, capacity int) PickResult {
	return PickResult{Skills: []string{}, Reason: &reason, Load: load, Capacity: capacity}
}

func taken(r request, load, capacity int) PickResult {
	return PickResult{ConversationID: &r.conversationID, RequestID: &r.id, CustomerID: &r.customerID, CustomerName: &r.customerName,
		Topic: r.topic, Skills: r.skills, Load: load, Capacity: capacity}
}

// pickNext takes the org's best queued request the caller may handle
// (every skill it needs, a free place in their capacity), atomically: the
// row is locked (FOR UPDATE SKIP LOCKED: a concurrent pick takes the next
// one) and the serializable transaction fails, and is run again, if
// another took it or changed the caller's load meanwhile. The pick is the
// transaction's first statement (requestTables.pick), so the snapshot is
// as fresh as can be; concurrent picks still retry over the predicate
// reads of the queue and of loads (see the package documentation).
func (s *Service) pickNext(c *functions.MutationCtx, _ struct{}) (PickResult, error) {
	id, err := requireAgent(c.Identity())
	if err != nil {
		return PickResult{}, err
	}
	t := requestTables{c.DB}
	r, err := t.pick(c.Ctx, id.Org, id.Subject, DefaultCapacity)
	if err != nil && !noRow(err) {
		return PickResult{}, err
	}
	found := err == nil
	p, err := agentTables{c.DB}.profile(c.Ctx, id.Org, id.Subject)
	if err != nil {
		return PickResult{}, err
	}
	load, err := t.load(c.Ctx, id.Org, id.Subject)
	if err != nil {
		return PickResult{}, err
	}
	if found {
		if err := s.take(c, id, r); err != nil {
			return PickResult{}, err
		}
		return taken(r, load+1, p.capacity), nil
	}
	if load >= p.capacity {
		return nothing(ReasonCapacityFull, load, p.capacity), nil
	}
	// Requests a concurrent pick holds were skipped: they are being taken.
	waiting, err := t.unmatched(c.Ctx, id.Org, p.skills)
	if err != nil {
		return PickResult{}, err
	}
	if waiting {
		return nothing(ReasonNoMatch, load, p.capacity), nil
	}
	return nothing(ReasonQueueEmpty, load, p.capacity), nil
}

// take assigns request r (locked) to agent: the request, the conversation
// (chat's assignedAdminId), the join notice and support.assigned.
func (s *Service) take(c *functions.MutationCtx, agent *functions.Identity, r request) error {
	conv, err := chat.LockDeskConversation(c, r.conversationID)
	if err != nil {
		return err
	}
	if err := (requestTables{c.DB}).assign(c.Ctx, r.id, agent.Subject, name(agent), c.Now()); err != nil {
		return err
	}
	if err := chat.DeskAssign(c, &conv, agent); err != nil {
		return err
	}
	if err := chat.DeskJoin(c, &conv, agent); err != nil {
		return err
	}
	emit(c, EventAssigned, r, EventData{AgentID: &agent.Subject})
	return nil
}

// ClaimArgs are the arguments of claim.
type ClaimArgs struct {
	ConversationID string `json:"conversationId"`
}

// claim takes one conversation: its queued request, or (a customer's
// support conversation that asked for nobody) a request made for it and
// taken at once. Claiming one's own again changes nothing; another
// agent's is 409, as are a claim beyond the caller's capacity and one of
// a closed conversation.
func (s *Service) claim(c *functions.MutationCtx, a ClaimArgs) (PickResult, error) {
	id, err := requireAgent(c.Identity())
	if err != nil {
		return PickResult{}, err
	}
	t := requestTables{c.DB}
	r, err := t.openForUpdate(c.Ctx, id.Org, a.ConversationID)
	if err != nil && !noRow(err) {
		return PickResult{}, err
	}
	found := err == nil
	conv, err := chat.LockDeskConversation(c, a.ConversationID)
	if err != nil {
		return PickResult{}, err
	}
	p, err := agentTables{c.DB}.profile(c.Ctx, id.Org, id.Subject)
	if err != nil {
		return PickResult{}, err
	}
	load, err := t.load(c.Ctx, id.Org, id.Subject)
	if err != nil {
		return PickResult{}, err
	}
	switch {
	case found && r.state == StateAssigned && *r.agentID == id.Subject:
		return taken(r, load, p.capacity), nil
	case found && r.state == StateAssigned:
		return PickResult{}, functions.Conflict(fmt.Sprintf("%s already has this conversation", *r.agentName))
	case load >= p.capacity:
		return PickResult{}, ErrCapacityFull
	}
	if !found && conv.Status == "closed" {
		return PickResult{}, ErrClosed
	}
	if !found {
		customer, err := c.DB.User(c.Ctx, conv.CustomerID)
		if err != nil {
			return PickResult{}, err
		}
		prio, _ := priorityOf(DefaultPriority)
		r = request{id: schema.NewID("sreq"), org: id.Org, conversationID: conv.ID, customerID: conv.CustomerID, customerName: customer.Name,
			skills: []string{}, priority: prio, orderID: conv.OrderID, state: StateQueued, enqueuedAt: c.Now().Truncate(time.Microsecond)}
		if err := t.insert(c.Ctx, r); err != nil {
			return PickResult{}, err
		}
	}
	if err := s.take(c, id, r); err != nil {
		return PickResult{}, err
	}
	return taken(r, load+1, p.capacity), nil
}

// TransferChatArgs are the arguments of transferChat: one of ToAgentID
// and ToSkill.
type TransferChatArgs struct {
	ConversationID string `json:"conversationId"`
	// ToAgentID hands the chat to that agent, who must be online or away
	// with free capacity.
	ToAgentID *string `json:"toAgentId"`
	// ToSkill puts it back in the queue, at its place, for an agent with
	// that skill.
	ToSkill *string `json:"toSkill"`
	// Note is added to the transfer's notice (at most 500 characters).
	Note *string `json:"note"`
}

// transferChat hands a conversation's open request to another agent, or
// back to the queue for a skill, and posts "Transferred to …".
func (s *Service) transferChat(c *functions.MutationCtx, a TransferChatArgs) (functions.Null, error) {
	id, err := requireAgent(c.Identity())
	if err != nil {
		return functions.Null{}, err
	}
	if (a.ToAgentID == nil) == (a.ToSkill == nil) {
		return functions.Null{}, functions.Invalid("give one of toAgentId and toSkill")
	}
	note := ""
	if a.Note != nil {
		note = strings.TrimSpace(*a.Note)
		if n := utf8.RuneCountInString(note); n > MaxNoteChars {
			return functions.Null{}, functions.Invalid("note: at most %d characters, got %d", MaxNoteChars, n)
		}
	}
	skill := ""
	if a.ToSkill != nil {
		if skill, err = normalizeSkill("toSkill", *a.ToSkill); err != nil {
			return functions.Null{}, err
		}
	}
	t := requestTables{c.DB}
	r, err := t.openForUpdate(c.Ctx, id.Org, a.ConversationID)
	if err != nil && !noRow(err) {
		return functions.Null{}, err
	}
	found := err == nil
	conv, err := chat.LockDeskConversation(c, a.ConversationID)
	if err != nil {
		return functions.Null{}, err
	}
	if !found {
		return functions.Null{}, ErrNoOpenRequest
	}
	data := EventData{FromAgentID: r.agentID, Note: optional(note)}
	var to string
	if skill != "" {
		if err := t.requeue(c.Ctx, r.id, []string{skill}); err != nil {
			return functions.Null{}, err
		}
		if err := chat.DeskAssign(c, &conv, nil); err != nil {
			return functions.Null{}, err
		}
		r.skills, data.ToSkill, to = []string{skill}, &skill, skillTitle(skill)
	} else {
		agent, err := s.transferTarget(c, id.Org, *a.ToAgentID, r)
		if err != nil {
			return functions.Null{}, err
		}
		if err := t.assign(c.Ctx, r.id, agent.Subject, agent.Name, c.Now()); err != nil {
			return functions.Null{}, err
		}
		if err := chat.DeskAssign(c, &conv, agent); err != nil {
			return functions.Null{}, err
		}
		data.ToAgentID, data.AgentID, to = &agent.Subject, &agent.Subject, agent.Name
	}
	notice := "Transferred to " + to
	if note != "" {
		notice += ": " + note
	}
	if err := chat.DeskNotice(c, &conv, id, notice); err != nil {
		return functions.Null{}, err
	}
	emit(c, EventTransferred, r, data)
	return functions.Null{}, nil
}

// transferTarget checks that agentID may take r: an agent of org who is
// online or away (400 otherwise, naming them), not already holding it,
// with free capacity (409).
func (s *Service) transferTarget(c *functions.MutationCtx, org, agentID string, r request) (*functions.Identity, error) {
	if agentID == "" {
		return nil, functions.Invalid("toAgentId: empty")
	}
	var up *UserPresence
	for _, a := range s.cfg.Presence.Agents(org) {
		if a.UserID == agentID {
			up = &a
			break
		}
	}
	p, err := agentTables{c.DB}.profile(c.Ctx, org, agentID)
	if err != nil {
		return nil, err
	}
	if up == nil || effective(p.status, up.Status) == Offline {
		u, err := c.DB.User(c.Ctx, agentID)
		if err == nil && u.Role == string(functions.RoleAdmin) && u.OrgID == org {
			return nil, functions.Invalid("toAgentId: %s is offline", u.Name)
		}
		if err != nil && !noRow(err) {
			return nil, err
		}
		return nil, functions.Invalid("toAgentId: no agent %q", agentID)
	}
	if r.state == StateAssigned && *r.agentID == agentID {
		return nil, chat.ErrAlreadyAssigned
	}
	load, err := requestTables{c.DB}.load(c.Ctx, org, agentID)
	if err != nil {
		return nil, err
	}
	if load >= p.capacity {
		return nil, functions.Conflict(fmt.Sprintf("%s has no free capacity (%d of %d chats)", up.Name, load, p.capacity))
	}
	n := up.Name
	if n == "" {
		n = agentID
	}
	return &functions.Identity{Subject: agentID, Name: n, Role: functions.RoleAdmin, Org: org}, nil
}

// skillTitle is a skill as a notice names it: billing → Billing.
func skillTitle(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// CloseChatArgs are the arguments of closeChat.
type CloseChatArgs struct {
	ConversationID string  `json:"conversationId"`
	Reason         *string `json:"reason"`
}

// closeChat ends a support chat: the conversation is closed as chat's
// closeConversation does, with its notice, and its open request with it
// (closeRequest: its handle time counts in the average from now on).
func (s *Service) closeChat(c *functions.MutationCtx, a CloseChatArgs) (functions.Null, error) {
	if _, err := requireAgent(c.Identity()); err != nil {
		return functions.Null{}, err
	}
	if _, err := chat.LockDeskConversation(c, a.ConversationID); err != nil {
		return functions.Null{}, err
	}
	if err := chat.CloseSupportConversation(c, a.ConversationID, a.Reason); err != nil {
		return functions.Null{}, err
	}
	return functions.Null{}, s.closeRequest(c, a.ConversationID, a.Reason)
}

// ConversationClosed closes the open request of a conversation chat's
// closeConversation closed (chat.Config.SupportClosed), so that a chat
// closed from the inbox rather than the desk frees its agent too.
func (s *Service) ConversationClosed(c *functions.MutationCtx, convID string, reason *string) error {
	return s.closeRequest(c, convID, reason)
}

// ConversationAssigned gives convID's open request, if it has one, to the
// admin chat assigned the conversation to (chat.Config.SupportAssigned:
// an admin answered it, or transferConversation handed it over), so that
// the desk and chat agree on who holds it: support.assigned for a queued
// request, support.transferred for another agent's. Capacity is not
// checked: chat's own actions do not know of it.
func (s *Service) ConversationAssigned(c *functions.MutationCtx, convID, adminID, adminName string) error {
	id := c.Identity()
	t := requestTables{c.DB}
	r, err := t.openForUpdate(c.Ctx, id.Org, convID)
	if noRow(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.state == StateAssigned && *r.agentID == adminID {
		return nil
	}
	if err := t.assign(c.Ctx, r.id, adminID, adminName, c.Now()); err != nil {
		return err
	}
	if r.state == StateQueued {
		emit(c, EventAssigned, r, EventData{AgentID: &adminID})
		return nil
	}
	emit(c, EventTransferred, r, EventData{AgentID: &adminID, FromAgentID: r.agentID, ToAgentID: &adminID})
	return nil
}

// closeRequest closes convID's open request, if it has one, and emits
// support.closed with the time from its first assignment.
func (s *Service) closeRequest(c *functions.MutationCtx, convID string, reason *string) error {
	id := c.Identity()
	t := requestTables{c.DB}
	r, err := t.openForUpdate(c.Ctx, id.Org, convID)
	if noRow(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if reason != nil {
		rs := strings.TrimSpace(*reason)
		reason = optional(rs)
	}
	now := c.Now()
	if err := t.close(c.Ctx, r.id, reason, now); err != nil {
		return err
	}
	data := EventData{AgentID: r.agentID, Reason: reason}
	if r.assignedAt != nil {
		secs := now.Sub(*r.assignedAt).Seconds()
		data.HandleTimeSeconds = &secs
	}
	emit(c, EventClosed, r, data)
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
