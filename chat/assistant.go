package chat

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// The AI assistant's hooks (package assistant, issue 20): an assistant
// answers in a customer's support conversation with messages of sender
// type "assistant", whose text grows while the model streams it. The
// text so far is not written per token: the node running the reply keeps
// it (Config.Streams) and the message row says only {"streaming": true};
// every query that lists messages shows the text so far in its place
// and re-runs when the stream says it grew. The answer is written once,
// at its end (AssistantFinish).

// SenderAssistant is the sender type of an assistant's messages.
const SenderAssistant = "assistant"

// MessagePart is one tool step of an assistant's answer: a call
// ("tool-use", with its input) and what it returned ("tool-result", with
// its output), in the order they happened.
type MessagePart struct {
	Type string `json:"type" ts:"tool-use|tool-result"`
	// CallID pairs a tool-result with its tool-use.
	CallID string `json:"callId"`
	Tool   string `json:"tool"`
	// Input is the call's arguments (a JSON object as text).
	Input string `json:"input,omitempty"`
	// Output is what the tool answered, for people (a line of text).
	Output string `json:"output,omitempty"`
	// Error is set when the tool failed or refused.
	Error bool `json:"error,omitempty"`
}

// AssistantState is an assistant's message's state (the messages row's
// assistant column).
type AssistantState struct {
	Streaming   bool          `json:"streaming,omitempty"`
	Parts       []MessagePart `json:"parts,omitempty"`
	Interrupted string        `json:"interrupted,omitempty"`
}

func decodeAssistant(msgID string, raw []byte) (*AssistantState, error) {
	a := new(AssistantState)
	if err := json.Unmarshal(raw, a); err != nil {
		return nil, fmt.Errorf("message %s: assistant: %w", msgID, err)
	}
	return a, nil
}

// Streams is what a node knows of the assistant answers it is streaming
// (Config.Streams): Partial returns a streaming message's text and parts
// so far, false when this node streams no such message. Queries record
// StreamDep(messageID) for each streaming message they show; the stream
// invalidates that key (reactive.Engine.Invalidate) when it grew.
type Streams interface {
	Partial(messageID string) (content string, parts []MessagePart, ok bool)
}

// StreamTable is the in-memory table of streaming answers: queries that
// show a streaming message depend on StreamDep of it.
const StreamTable = "assistant_streams"

// StreamDep is the dependency a query showing streaming message msgID
// records.
func StreamDep(msgID string) schema.Dep {
	return schema.Dep{Table: StreamTable, Column: "message_id", Value: msgID}
}

// withStreams puts each streaming message's text so far in docs.
func (ch *api) withStreams(c *functions.QueryCtx, docs []MessageDoc) {
	for i := range docs {
		d := &docs[i]
		if !d.Streaming {
			continue
		}
		c.DB.Record(StreamDep(d.ID))
		if ch.cfg.Streams == nil {
			continue
		}
		if content, parts, ok := ch.cfg.Streams.Partial(d.ID); ok {
			d.Content, d.Parts = content, parts
		}
	}
}

// Assistant is who an assistant's messages are from.
type Assistant struct {
	// ID is the sender id of its messages ("assistant:" + its id).
	ID   string
	Name string
	Org  string
}

// identity is the assistant as a messages' sender (a users row of role
// admin: it answers for the desk).
func (a Assistant) identity() *functions.Identity {
	return &functions.Identity{Subject: a.ID, Role: functions.RoleAdmin, Name: a.Name, Org: a.Org}
}

// AssistantPost posts an assistant's message in conv at the caller's
// time (after the conversation's latest message): the greeting, or an
// answer to be streamed (streaming true: empty content, the text arrives
// through Config.Streams until AssistantFinish). It is the conversation's
// latest message, unread by the customer; it emits message.created
// (with the content it has). It returns the message's id.
func AssistantPost(c *functions.MutationCtx, conv *Conversation, a Assistant, content string, streaming bool) (string, error) {
	t := tables{c.DB}
	id := a.identity()
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return "", err
	}
	at := deskTime(conv, c.Now())
	msgID := schema.NewID("msg")
	var state []byte
	if streaming {
		state = []byte(`{"streaming":true}`)
	}
	if _, err := t.Querier().Exec(c.Ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content,
			created_at, assistant) VALUES ($1, $2, $3, 'assistant', 'text', $4, $5, $6)`,
		msgID, conv.ID, a.ID, content, at, state); err != nil {
		return "", fmt.Errorf("post assistant message: %w", err)
	}
	if _, err := t.Querier().Exec(c.Ctx, `UPDATE conversations SET last_message_at = $2, last_message_preview = $3,
		status = CASE WHEN status = 'archived' THEN 'active' ELSE status END WHERE id = $1`,
		conv.ID, at, preview(content)); err != nil {
		return "", fmt.Errorf("post assistant message: %w", err)
	}
	conv.LastMessageAt = &at
	emitMessage(c, eventMessageCreated, MessageEventDoc{ID: msgID, SenderID: a.ID, SenderType: SenderAssistant,
		MessageType: "text", Content: content, CreatedAt: schema.Millis(at)}, conv.ID)
	return msgID, nil
}

// AssistantFinish writes a streamed answer's end: its whole text, its
// tool steps, and why it stopped early ("" when it did not). The
// conversation's preview becomes the text when the answer is still its
// latest message. A message that is no longer streaming is left as it is
// (false).
func AssistantFinish(c *functions.MutationCtx, convID, msgID, content string, parts []MessagePart, interrupted string) (bool, error) {
	state, err := json.Marshal(AssistantState{Parts: parts, Interrupted: interrupted})
	if err != nil {
		return false, fmt.Errorf("finish assistant message: %w", err)
	}
	tag, err := c.DB.Querier().Exec(c.Ctx, `UPDATE messages SET content = $3, assistant = $4
		WHERE id = $1 AND conversation_id = $2 AND sender_type = 'assistant' AND (assistant->>'streaming')::boolean`,
		msgID, convID, content, state)
	if err != nil {
		return false, fmt.Errorf("finish assistant message: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if _, err := c.DB.Querier().Exec(c.Ctx, `UPDATE conversations c SET last_message_preview = $3
		WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = $1 AND m.id <> $2
			AND (m.created_at, m.id) > (SELECT created_at, id FROM messages WHERE id = $2))`,
		convID, msgID, preview(content)); err != nil {
		return false, fmt.Errorf("finish assistant message: %w", err)
	}
	return true, nil
}

// HistoryMessage is a message of a conversation as an assistant reads it.
type HistoryMessage struct {
	ID          string
	SenderType  string
	SenderName  string
	MessageType string
	Content     string
	Streaming   bool
	CreatedAt   time.Time
}

// RecentMessages reads conversation convID's latest max messages, oldest
// first, for an assistant's prompt (deleted messages are left out).
// Callers check access themselves.
func RecentMessages(c *functions.MutationCtx, convID string, max int) ([]HistoryMessage, error) {
	msgs, err := tables{c.DB}.Messages(c.Ctx, convID, MessageRange{Limit: max})
	if err != nil {
		return nil, err
	}
	out := make([]HistoryMessage, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.IsDeleted {
			continue
		}
		out = append(out, HistoryMessage{ID: m.ID, SenderType: m.SenderType, SenderName: m.SenderName, MessageType: m.MessageType,
			Content: m.Content, Streaming: m.Assistant != nil && m.Assistant.Streaming, CreatedAt: m.CreatedAt})
	}
	return out, nil
}

// SupportConversation reads conversation convID for the assistant, locked
// for the transaction, with no access check (a job acting for the
// customer checks who it acts for itself): ErrNotCustomerSupport for any
// other kind.
func SupportConversation(c *functions.MutationCtx, convID string) (Conversation, error) {
	conv, err := tables{c.DB}.ConversationForUpdate(c.Ctx, convID)
	if err != nil {
		return conv, err
	}
	if conv.Type != CustomerToAdmin {
		return conv, ErrNotCustomerSupport
	}
	return conv, nil
}
