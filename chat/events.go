package chat

import (
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// The domain events chat's mutations emit (functions.MutationCtx.Emit),
// written with their commits by the events domain's outbox. Each names
// the conversation and, for a message's, the message; data says what
// changed. Package events lists the same types (events.Types).
const (
	eventMessageCreated          = "message.created"
	eventMessageEdited           = "message.edited"
	eventMessageDeleted          = "message.deleted"
	eventMessageRead             = "message.read"
	eventConversationCreated     = "conversation.created"
	eventConversationArchived    = "conversation.archived"
	eventConversationTransferred = "conversation.transferred"
	eventConversationBlocked     = "conversation.blocked"
	eventConversationUnblocked   = "conversation.unblocked"
	eventConversationClosed      = "conversation.closed"
	eventConversationReopened    = "conversation.reopened"
)

// MessageEvent is the data of message.created and message.edited: the
// message as it is now.
type MessageEvent struct {
	Message MessageEventDoc `json:"message"`
}

// MessageEventDoc is a message in an event.
type MessageEventDoc struct {
	ID          string   `json:"_id"`
	SenderID    string   `json:"senderId"`
	SenderType  string   `json:"senderType"`
	MessageType string   `json:"messageType"`
	Content     string   `json:"content"`
	CreatedAt   float64  `json:"createdAt"`
	EditedAt    *float64 `json:"editedAt,omitempty"`
	// ImageFileID is an image message's file (storageId).
	ImageFileID *string `json:"imageFileId,omitempty"`
}

// ReadEvent is the data of message.read: who read which messages.
type ReadEvent struct {
	ReaderID   string   `json:"readerId"`
	MessageIDs []string `json:"messageIds"`
	ReadAt     float64  `json:"readAt"`
}

// ConversationEvent is the data of the conversation.* events.
type ConversationEvent struct {
	ConversationType string `json:"conversationType"`
	// CustomerID, StoreID and OrderID are a one-to-one conversation's.
	CustomerID *string `json:"customerId,omitempty"`
	StoreID    *string `json:"storeId,omitempty"`
	OrderID    *string `json:"orderId,omitempty"`
	// FromAdminID and ToAdminID are a transfer's.
	FromAdminID *string `json:"fromAdminId,omitempty"`
	ToAdminID   *string `json:"toAdminId,omitempty"`
	// Reason is a close's.
	Reason *string `json:"reason,omitempty"`
}

func emitMessage(c *functions.MutationCtx, typ string, m MessageEventDoc, convID string) {
	c.Emit(functions.Event{Type: typ, ConversationID: convID, MessageID: m.ID, Data: MessageEvent{Message: m}})
}

func emitConversation(c *functions.MutationCtx, typ, convID string, data ConversationEvent) {
	c.Emit(functions.Event{Type: typ, ConversationID: convID, Data: data})
}

// postNotice posts a notice (tables.postMessage) and emits its
// message.created.
func postNotice(c *functions.MutationCtx, t tables, convID string, id *functions.Identity, senderType, messageType, content string, at time.Time) (string, error) {
	msgID, err := t.postMessage(c.Ctx, convID, id, senderType, messageType, content, at)
	if err != nil {
		return "", err
	}
	emitMessage(c, eventMessageCreated, MessageEventDoc{ID: msgID, SenderID: id.Subject, SenderType: senderType,
		MessageType: messageType, Content: content, CreatedAt: schema.Millis(at)}, convID)
	return msgID, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
