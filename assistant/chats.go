package assistant

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Chat states.
const (
	StateActive    = "active"
	StateHandedOff = "handed_off"
	StateTakenOver = "taken_over"
	// StateNone is getChatAssistant's answer where no assistant answers
	// or ever answered.
	StateNone = "none"
)

// chatRow is an assistant_chats row.
type chatRow struct {
	convID, org, assistantID string
	state                    string
	failures, tokensUsed     int
	reason, agentID          *string
}

func lockChat(ctx context.Context, q schema.Querier, convID string) (chatRow, error) {
	var r chatRow
	err := q.QueryRow(ctx, `SELECT conversation_id, org_id, assistant_id, state, failures, tokens_used, reason, agent_id
		FROM assistant_chats WHERE conversation_id = $1 FOR UPDATE`, convID).
		Scan(&r.convID, &r.org, &r.assistantID, &r.state, &r.failures, &r.tokensUsed, &r.reason, &r.agentID)
	return r, schema.OneRow(err)
}

func assistantByID(ctx context.Context, q schema.Querier, org, id string) (assistantRow, error) {
	return scanAssistant(q.QueryRow(ctx, `SELECT `+assistantCols+` FROM assistants WHERE id = $1 AND org_id = $2`, id, org))
}

// defaultAssistant is the enabled assistant of conv's order's store, else
// of its org (schema.ErrNoRow: none).
func defaultAssistant(ctx context.Context, q schema.Querier, conv chat.Conversation) (assistantRow, error) {
	order := ""
	if conv.OrderID != nil {
		order = *conv.OrderID
	}
	return scanAssistant(q.QueryRow(ctx, `SELECT `+assistantCols+` FROM assistants a
		WHERE a.org_id = $1 AND a.enabled AND (a.store_id IS NULL OR a.store_id = (SELECT store_id FROM orders WHERE id = $2))
		ORDER BY a.store_id NULLS LAST LIMIT 1`, conv.OrgID, order))
}

// sender is a's identity on its messages.
func sender(a assistantRow) chat.Assistant {
	return chat.Assistant{ID: "assistant:" + a.id, Name: a.name, Org: a.org}
}

func senderIdentity(a assistantRow) *functions.Identity {
	s := sender(a)
	return &functions.Identity{Subject: s.ID, Name: s.Name, Role: functions.RoleAdmin, Org: s.Org}
}

// attach makes a answer conv from now on, greeting the customer when
// greet says so (a widget that opened the chat; a customer who wrote
// first gets the answer instead).
func attach(c *functions.MutationCtx, conv *chat.Conversation, a assistantRow, greet bool) (chatRow, error) {
	if _, err := c.Tx.Exec(c.Ctx, `INSERT INTO assistant_chats (conversation_id, org_id, assistant_id, state, updated_at)
		VALUES ($1, $2, $3, 'active', $4)`, conv.ID, a.org, a.id, c.Now()); err != nil {
		return chatRow{}, fmt.Errorf("attach assistant: %w", err)
	}
	if greet && a.greeting != "" {
		if _, err := chat.AssistantPost(c, conv, sender(a), a.greeting, false); err != nil {
			return chatRow{}, err
		}
	}
	return chatRow{convID: conv.ID, org: a.org, assistantID: a.id, state: StateActive}, nil
}

// customerConversation locks the caller's support conversation convID
// for a customer's action: 401 without an identity, 403 for any role but
// customers and guests, then chat's desk rule (404 for another's).
func customerConversation(c *functions.MutationCtx, convID string) (chat.Conversation, error) {
	id := c.Identity()
	if id == nil {
		return chat.Conversation{}, functions.ErrNotAuthenticated
	}
	if id.Role != functions.RoleCustomer && id.Role != functions.RoleGuest {
		return chat.Conversation{}, ErrCustomersOnly
	}
	return chat.LockDeskConversation(c, convID)
}

// ConversationArgs name a conversation.
type ConversationArgs struct {
	ConversationID string `json:"conversationId"`
}

// StartChatArgs start an assistant chat: assistantId chooses the
// assistant (the widget's configId); without it, the conversation's
// store's, else the org's.
type StartChatArgs struct {
	ConversationID string  `json:"conversationId"`
	AssistantID    *string `json:"assistantId"`
}

// ChatAssistant is who answers a support conversation, as its widget
// shows it.
type ChatAssistant struct {
	ConversationID string `json:"conversationId"`
	// State: active (the assistant answers), handed_off (to the queue),
	// taken_over (by an agent), or none (no assistant).
	State         string  `json:"state" ts:"active|handed_off|taken_over|none"`
	AssistantID   *string `json:"assistantId"`
	AssistantName *string `json:"assistantName"`
	// Streaming says an answer is being written now.
	Streaming bool    `json:"streaming"`
	Reason    *string `json:"reason"`
}

func (r chatRow) doc(name string) ChatAssistant {
	return ChatAssistant{ConversationID: r.convID, State: r.state, AssistantID: &r.assistantID, AssistantName: &name, Reason: r.reason}
}

// startChat has an assistant answer the caller's support conversation
// from now on (the greeting is posted once), unless an agent holds it.
// Already started, it answers as it is.
func (s *Service) startChat(c *functions.MutationCtx, a StartChatArgs) (ChatAssistant, error) {
	conv, err := customerConversation(c, a.ConversationID)
	if err != nil {
		return ChatAssistant{}, err
	}
	id := c.Identity()
	row, err := lockChat(c.Ctx, c.Tx, conv.ID)
	if err == nil {
		asst, err := assistantByID(c.Ctx, c.Tx, row.org, row.assistantID)
		if err != nil {
			return ChatAssistant{}, err
		}
		return row.doc(asst.name), nil
	}
	if !errors.Is(err, schema.ErrNoRow) {
		return ChatAssistant{}, err
	}
	none := ChatAssistant{ConversationID: conv.ID, State: StateNone}
	var asst assistantRow
	if a.AssistantID != nil {
		asst, err = assistantByID(c.Ctx, c.Tx, id.Org, *a.AssistantID)
		if errors.Is(err, schema.ErrNoRow) || (err == nil && !asst.enabled) {
			return ChatAssistant{}, ErrAssistantNotFound
		}
	} else {
		asst, err = defaultAssistant(c.Ctx, c.Tx, conv)
		if errors.Is(err, schema.ErrNoRow) {
			return none, nil
		}
	}
	if err != nil {
		return ChatAssistant{}, err
	}
	if conv.AssignedAdminID != nil {
		return none, nil // an agent answers
	}
	if row, err = attach(c, &conv, asst, true); err != nil {
		return ChatAssistant{}, err
	}
	return row.doc(asst.name), nil
}

// getChatAssistant answers whoever sees the conversation: who answers it,
// live.
func (s *Service) getChatAssistant(c *functions.QueryCtx, a ConversationArgs) (ChatAssistant, error) {
	c.DB.Record(schema.Dep{Table: "assistant_chats", Column: "conversation_id", Value: a.ConversationID})
	var r chatRow
	var name string
	err := c.DB.Querier().QueryRow(c.Ctx, `SELECT ac.conversation_id, ac.org_id, ac.assistant_id, ac.state, ac.reason, a.name
		FROM assistant_chats ac JOIN assistants a ON a.id = ac.assistant_id WHERE ac.conversation_id = $1`, a.ConversationID).
		Scan(&r.convID, &r.org, &r.assistantID, &r.state, &r.reason, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return ChatAssistant{ConversationID: a.ConversationID, State: StateNone}, nil
	}
	if err != nil {
		return ChatAssistant{}, fmt.Errorf("read assistant chat: %w", err)
	}
	out := r.doc(name)
	c.DB.Record(schema.Dep{Table: "assistant_runs", Column: "conversation_id", Value: a.ConversationID})
	if err := c.DB.Querier().QueryRow(c.Ctx, `SELECT EXISTS (SELECT 1 FROM assistant_runs WHERE conversation_id = $1 AND state = 'running')`,
		a.ConversationID).Scan(&out.Streaming); err != nil {
		return ChatAssistant{}, fmt.Errorf("read assistant runs: %w", err)
	}
	return out, nil
}

// RequestHumanReason is the queue topic of a customer's "talk to a
// human".
const RequestHumanReason = "The customer asked for a person"

// requestHuman hands the caller's support conversation from its
// assistant to the queue ("talk to a human"). Where no assistant
// answers, it does nothing and says so.
func (s *Service) requestHuman(c *functions.MutationCtx, a ConversationArgs) (ChatAssistant, error) {
	conv, err := customerConversation(c, a.ConversationID)
	if err != nil {
		return ChatAssistant{}, err
	}
	row, err := lockChat(c.Ctx, c.Tx, conv.ID)
	if errors.Is(err, schema.ErrNoRow) {
		return ChatAssistant{ConversationID: conv.ID, State: StateNone}, nil
	}
	if err != nil {
		return ChatAssistant{}, err
	}
	asst, err := assistantByID(c.Ctx, c.Tx, row.org, row.assistantID)
	if err != nil {
		return ChatAssistant{}, err
	}
	if row.state == StateActive {
		if err := s.handoff(c, &conv, &row, asst, RequestHumanReason, nil); err != nil {
			return ChatAssistant{}, err
		}
	}
	return row.doc(asst.name), nil
}

// handoff moves conv from its assistant to the desk's queue: the chat's
// state, the queue's request (topic reason, skills), a notice, and the
// end of any reply streaming now.
func (s *Service) handoff(c *functions.MutationCtx, conv *chat.Conversation, row *chatRow, a assistantRow, reason string, skills []string) error {
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE assistant_chats SET state = 'handed_off', reason = $2, updated_at = $3 WHERE conversation_id = $1`,
		conv.ID, reason, c.Now()); err != nil {
		return fmt.Errorf("hand off: %w", err)
	}
	row.state, row.reason = StateHandedOff, &reason
	if s.cfg.Support != nil {
		if err := s.cfg.Support.Handoff(c, *conv, reason, skills); err != nil {
			return err
		}
	}
	if err := chat.DeskNotice(c, conv, senderIdentity(a), "Transferred to an agent: "+reason); err != nil {
		return err
	}
	c.AfterCommit(func() { s.cancelRun(conv.ID, errHandoff) })
	return nil
}

// wantsHuman reports whether content asks for a person, or has one of
// keywords (whole words, any case).
func wantsHuman(content string, keywords []string) bool {
	if humanAsk.MatchString(content) {
		return true
	}
	if len(keywords) == 0 {
		return false
	}
	text := " " + words(content) + " "
	for _, k := range keywords {
		if w := words(k); w != "" && strings.Contains(text, " "+w+" ") {
			return true
		}
	}
	return false
}

// words is s in lower case with every run of non-letters and non-digits
// one space: whole-word matching with no pattern compiled per message.
func words(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " ")
}

var humanAsk = regexp.MustCompile(`(?i)\b(talk|speak|chat|connect me)\b.{0,20}\b(human|person|agent|someone|representative|people)\b|\b(human|real person|live agent)\b`)

// CustomerWrote is chat's AssistantWaiting: a customer wrote msgID in
// their support conversation no agent holds. With an assistant answering
// it (or one to attach: the store's, else the org's), the reply is
// queued as a job in the same transaction, and the desk is not told;
// a message asking for a person (or with a hand-off keyword) hands the
// conversation to the queue instead.
func (s *Service) CustomerWrote(c *functions.MutationCtx, conv chat.Conversation, msgID, content string) (bool, error) {
	row, err := lockChat(c.Ctx, c.Tx, conv.ID)
	if err != nil && !errors.Is(err, schema.ErrNoRow) {
		return false, err
	}
	found := err == nil
	if s.cfg.Support != nil && (!found || row.state == StateActive) {
		// The customer asked the desk for an agent (requestSupport): the
		// queue has the conversation, and the assistant steps aside.
		open, err := s.cfg.Support.HasOpenRequest(c, conv.ID)
		if err != nil {
			return false, err
		}
		if open {
			if found {
				if _, err := c.Tx.Exec(c.Ctx, `UPDATE assistant_chats SET state = 'handed_off', reason = $2, updated_at = $3
					WHERE conversation_id = $1`, conv.ID, "The customer asked for an agent", c.Now()); err != nil {
					return false, fmt.Errorf("assistant: step aside: %w", err)
				}
				c.AfterCommit(func() { s.cancelRun(conv.ID, errHandoff) })
			}
			return false, nil
		}
	}
	var asst assistantRow
	switch {
	case !found:
		if asst, err = defaultAssistant(c.Ctx, c.Tx, conv); errors.Is(err, schema.ErrNoRow) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if row, err = attach(c, &conv, asst, false); err != nil {
			return false, err
		}
	default:
		if row.state != StateActive {
			return false, nil
		}
		if asst, err = assistantByID(c.Ctx, c.Tx, row.org, row.assistantID); err != nil {
			return false, err
		}
	}
	if wantsHuman(content, asst.keywords) {
		return true, s.handoff(c, &conv, &row, asst, RequestHumanReason, nil)
	}
	if s.queue == nil {
		return false, errors.New("assistant: no job queue (SetQueue)")
	}
	id := c.Identity()
	if _, err := s.queue.InsertTx(c.Ctx, c.Tx, replyArgs{ConversationID: conv.ID, TriggerMessageID: msgID,
		CustomerID: id.Subject, CustomerName: id.Name, Role: string(id.Role), Org: id.Org}, nil); err != nil {
		return false, fmt.Errorf("assistant: queue reply: %w", err)
	}
	return true, nil
}

// AiChat is a conversation an assistant answers, as the console lists it.
type AiChat struct {
	ConversationID string  `json:"conversationId"`
	AssistantID    string  `json:"assistantId"`
	AssistantName  string  `json:"assistantName"`
	CustomerID     string  `json:"customerId"`
	CustomerName   string  `json:"customerName"`
	OrderID        *string `json:"orderId"`
	Preview        *string `json:"preview"`
	LastMessageAt  *int64  `json:"lastMessageAt"`
	Streaming      bool    `json:"streaming"`
	Failures       int     `json:"failures"`
	TokensUsed     int     `json:"tokensUsed"`
}

// MaxAiChats bounds getAiChats.
const MaxAiChats = 200

// getAiChats lists the caller's org's conversations an assistant answers
// now, latest activity first, live (the chats, their conversations'
// previews, their runs).
func (s *Service) getAiChats(c *functions.QueryCtx, _ struct{}) ([]AiChat, error) {
	id, err := s.requireAgent(c.Identity())
	if err != nil {
		return nil, err
	}
	c.DB.Record(schema.Dep{Table: "assistant_chats", Column: "org_id", Value: id.Org})
	c.DB.Record(schema.Dep{Table: "assistant_runs", Column: "org_id", Value: id.Org})
	rows, err := c.DB.Querier().Query(c.Ctx, `SELECT ac.conversation_id, ac.assistant_id, a.name, cv.customer_id,
			coalesce(u.name, cv.customer_id), cv.order_id, cv.last_message_preview,
			(extract(epoch FROM cv.last_message_at) * 1000)::bigint,
			EXISTS (SELECT 1 FROM assistant_runs r WHERE r.conversation_id = ac.conversation_id AND r.state = 'running'),
			ac.failures, ac.tokens_used
		FROM assistant_chats ac JOIN assistants a ON a.id = ac.assistant_id
		JOIN conversations cv ON cv.id = ac.conversation_id LEFT JOIN users u ON u.id = cv.customer_id
		WHERE ac.org_id = $1 AND ac.state = 'active'
		ORDER BY cv.last_message_at DESC NULLS LAST, ac.conversation_id LIMIT $2`, id.Org, MaxAiChats)
	if err != nil {
		return nil, fmt.Errorf("list ai chats: %w", err)
	}
	out := []AiChat{}
	var r AiChat
	_, err = pgx.ForEachRow(rows, []any{&r.ConversationID, &r.AssistantID, &r.AssistantName, &r.CustomerID, &r.CustomerName,
		&r.OrderID, &r.Preview, &r.LastMessageAt, &r.Streaming, &r.Failures, &r.TokensUsed}, func() error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list ai chats: %w", err)
	}
	for _, r := range out {
		c.DB.Record(schema.Dep{Table: "conversations", Column: "id", Value: r.ConversationID, Watch: "last_message_preview,last_message_at"})
	}
	return out, nil
}

// takeoverChat gives an AI-held conversation to the calling agent: the
// assistant stops (mid-stream, its partial answer kept and marked
// "takeover"), the conversation is assigned to the agent, who joins.
func (s *Service) takeoverChat(c *functions.MutationCtx, a ConversationArgs) (ChatAssistant, error) {
	agent, err := s.requireAgent(c.Identity())
	if err != nil {
		return ChatAssistant{}, err
	}
	conv, err := chat.LockDeskConversation(c, a.ConversationID)
	if err != nil {
		return ChatAssistant{}, err
	}
	row, err := lockChat(c.Ctx, c.Tx, conv.ID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && row.state != StateActive) {
		return ChatAssistant{}, ErrNotAiHeld
	}
	if err != nil {
		return ChatAssistant{}, err
	}
	asst, err := assistantByID(c.Ctx, c.Tx, row.org, row.assistantID)
	if err != nil {
		return ChatAssistant{}, err
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE assistant_chats SET state = 'taken_over', agent_id = $2, reason = NULL, updated_at = $3
		WHERE conversation_id = $1`, conv.ID, agent.Subject, c.Now()); err != nil {
		return ChatAssistant{}, fmt.Errorf("take over: %w", err)
	}
	if err := chat.DeskAssign(c, &conv, agent); err != nil {
		return ChatAssistant{}, err
	}
	if err := chat.DeskJoin(c, &conv, agent); err != nil {
		return ChatAssistant{}, err
	}
	c.AfterCommit(func() { s.cancelRun(conv.ID, errTakeover) })
	row.state, row.agentID, row.reason = StateTakenOver, &agent.Subject, nil
	return row.doc(asst.name), nil
}

// resumeAi hands a conversation back to its assistant: the agent who
// held it lets go (its open desk request, if any, is closed), and the
// assistant answers the customer's next message.
func (s *Service) resumeAi(c *functions.MutationCtx, a ConversationArgs) (ChatAssistant, error) {
	agent, err := s.requireAgent(c.Identity())
	if err != nil {
		return ChatAssistant{}, err
	}
	conv, err := chat.LockDeskConversation(c, a.ConversationID)
	if err != nil {
		return ChatAssistant{}, err
	}
	row, err := lockChat(c.Ctx, c.Tx, conv.ID)
	if errors.Is(err, schema.ErrNoRow) {
		return ChatAssistant{}, ErrNoAssistant
	}
	if err != nil {
		return ChatAssistant{}, err
	}
	if row.state == StateActive {
		return ChatAssistant{}, ErrAiActive
	}
	asst, err := assistantByID(c.Ctx, c.Tx, row.org, row.assistantID)
	if err != nil {
		return ChatAssistant{}, err
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE assistant_chats SET state = 'active', agent_id = NULL, reason = NULL, failures = 0, updated_at = $2
		WHERE conversation_id = $1`, conv.ID, c.Now()); err != nil {
		return ChatAssistant{}, fmt.Errorf("resume: %w", err)
	}
	if s.cfg.Support != nil {
		reason := "Handed back to the assistant"
		if err := s.cfg.Support.ConversationClosed(c, conv.ID, &reason); err != nil {
			return ChatAssistant{}, err
		}
	}
	if err := chat.DeskAssign(c, &conv, nil); err != nil {
		return ChatAssistant{}, err
	}
	if err := chat.DeskNotice(c, &conv, agent, asst.name+" is back to help"); err != nil {
		return ChatAssistant{}, err
	}
	row.state, row.agentID, row.reason, row.failures = StateActive, nil, nil, 0
	return row.doc(asst.name), nil
}
