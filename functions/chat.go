package functions

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/schema"
)

// Chat limits.
const (
	MaxContentChars     = 4000 // longest message content, in characters
	DefaultMessageLimit = 50
	MaxMessageLimit     = 100
	previewChars        = 100
)

// RegisterChat registers the chat API under "shared/chat:<name>".
func RegisterChat(r *Registry) {
	Mutation(r, "shared/chat:createOrGetConversation", createOrGetConversation)
	Mutation(r, "shared/chat:sendMessage", sendMessage)
	Mutation(r, "shared/chat:markMessagesAsRead", markMessagesAsRead)
	Query(r, "shared/chat:getMessages", getMessages)
	Query(r, "shared/chat:getUnreadCount", getUnreadCount)
}

// side is which end of a conversation a caller speaks for: the customer, or
// the recipient (store staff or support admin).
func customerSide(id *Identity) bool { return id.Role == RoleCustomer }

// canSee reports whether id may read conversation c.
func canSee(id *Identity, c schema.Conversation) bool {
	switch id.Role {
	case RoleCustomer:
		return c.CustomerID == id.Subject
	case RoleStore:
		return c.Type == schema.CustomerToStore && c.StoreID != nil && *c.StoreID == id.StoreID
	case RoleAdmin:
		return true
	}
	return false
}

// canSend reports whether id may post to conversation c (which it can see).
func canSend(id *Identity, c schema.Conversation) bool {
	if id.Role == RoleAdmin {
		return c.Type == schema.CustomerToAdmin
	}
	return canSee(id, c)
}

func requireIdentity(id *Identity) (*Identity, error) {
	if id == nil {
		return nil, ErrNotAuthenticated
	}
	return id, nil
}

// visibleConversation reads a conversation and checks that id may see it.
// A caller outside it learns nothing: 404 either way.
func visibleConversation(c *QueryCtx, id *Identity, convID string) (schema.Conversation, error) {
	conv, err := c.DB.Conversation(c.Ctx, convID)
	if errors.Is(err, schema.ErrNoRow) {
		return conv, ErrConversationNotFound
	}
	if err != nil {
		return conv, err
	}
	if !canSee(id, conv) {
		return conv, ErrConversationNotFound
	}
	return conv, nil
}

func lockedConversation(c *MutationCtx, id *Identity, convID string) (schema.Conversation, error) {
	conv, err := c.DB.ConversationForUpdate(c.Ctx, convID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && !canSee(id, conv)) {
		return conv, ErrConversationNotFound
	}
	return conv, err
}

// ensureUser records the verified caller in users, so rows can refer to it.
func ensureUser(c *MutationCtx, id *Identity) error {
	name := id.Name
	if name == "" {
		name = id.Subject
	}
	_, err := c.Tx.Exec(c.Ctx, `INSERT INTO users (id, name, role) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
		id.Subject, name, string(id.Role))
	if err != nil {
		return fmt.Errorf("ensure user: %w", err)
	}
	return nil
}

func joinConversation(c *MutationCtx, id *Identity, convID string) error {
	if err := ensureUser(c, id); err != nil {
		return err
	}
	_, err := c.Tx.Exec(c.Ctx, `INSERT INTO conversation_participants (conversation_id, user_id, role)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, convID, id.Subject, string(id.Role))
	if err != nil {
		return fmt.Errorf("join conversation: %w", err)
	}
	return nil
}

// CreateOrGetConversationArgs are the arguments of createOrGetConversation.
type CreateOrGetConversationArgs struct {
	OrderID *string `json:"orderId"`
	StoreID *string `json:"storeId"`
}

// ConversationRef is the result of createOrGetConversation.
type ConversationRef struct {
	ConversationID   string `json:"conversationId"`
	ConversationType string `json:"conversationType"`
}

func createOrGetConversation(c *MutationCtx, a CreateOrGetConversationArgs) (ConversationRef, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return ConversationRef{}, err
	}
	if id.Role != RoleCustomer {
		return ConversationRef{}, Forbidden("Only customers can start conversations")
	}
	convType, storeID, orderID := schema.CustomerToAdmin, "", ""
	if a.OrderID != nil && *a.OrderID != "" {
		order, err := c.DB.Order(c.Ctx, *a.OrderID)
		switch {
		case errors.Is(err, schema.ErrNoRow) || (err == nil && order.CustomerID != id.Subject):
			return ConversationRef{}, &Error{Status: 404, Code: CodeNotFound, Message: "Order not found"}
		case err != nil:
			return ConversationRef{}, err
		}
		orderID = order.ID
		if a.StoreID != nil && *a.StoreID == order.StoreID {
			convType, storeID = schema.CustomerToStore, order.StoreID
		}
	}
	if a.StoreID != nil && *a.StoreID != "" {
		if _, err := c.DB.Store(c.Ctx, *a.StoreID); errors.Is(err, schema.ErrNoRow) {
			return ConversationRef{}, &Error{Status: 404, Code: CodeNotFound, Message: "Store not found"}
		} else if err != nil {
			return ConversationRef{}, err
		}
	}
	existing, err := c.DB.ConversationBySubject(c.Ctx, id.Subject, convType, storeID, orderID)
	if err == nil {
		return ConversationRef{ConversationID: existing.ID, ConversationType: existing.Type}, nil
	}
	if !errors.Is(err, schema.ErrNoRow) {
		return ConversationRef{}, err
	}
	if err := ensureUser(c, id); err != nil {
		return ConversationRef{}, err
	}
	convID := schema.NewID("conv")
	// A concurrent twin makes this insert fail with a unique violation; the
	// mutation is then retried and finds the twin's conversation above.
	_, err = c.Tx.Exec(c.Ctx, `INSERT INTO conversations (id, conversation_type, customer_id, store_id, order_id)
		VALUES ($1, $2, $3, nullif($4, ''), nullif($5, ''))`, convID, convType, id.Subject, storeID, orderID)
	if err != nil {
		return ConversationRef{}, fmt.Errorf("insert conversation: %w", err)
	}
	if err := joinConversation(c, id, convID); err != nil {
		return ConversationRef{}, err
	}
	return ConversationRef{ConversationID: convID, ConversationType: convType}, nil
}

// ImageAttachment describes an uploaded image (the media issue fills it in).
type ImageAttachment struct {
	FileID   string   `json:"fileId"`
	FileName *string  `json:"fileName"`
	FileType *string  `json:"fileType"`
	FileSize *float64 `json:"fileSize"`
	Width    *float64 `json:"width"`
	Height   *float64 `json:"height"`
}

// SendMessageArgs are the arguments of sendMessage.
type SendMessageArgs struct {
	ConversationID  string           `json:"conversationId"`
	Content         string           `json:"content"`
	MessageType     string           `json:"messageType"`
	ImageAttachment *ImageAttachment `json:"imageAttachment"`
}

func sendMessage(c *MutationCtx, a SendMessageArgs) (string, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return "", err
	}
	switch a.MessageType {
	case "text":
		if a.ImageAttachment != nil {
			return "", Invalid("imageAttachment is only allowed when messageType is \"image\"")
		}
	case "image":
		return "", Invalid("Image messages are not supported yet")
	default:
		return "", Invalid("messageType must be \"text\" or \"image\", got %q", a.MessageType)
	}
	content := strings.TrimSpace(a.Content)
	if content == "" {
		return "", Invalid("Message content must not be empty")
	}
	if n := utf8.RuneCountInString(content); n > MaxContentChars {
		return "", Invalid("Message content exceeds %d characters (got %d)", MaxContentChars, n)
	}
	conv, err := lockedConversation(c, id, a.ConversationID)
	if err != nil {
		return "", err
	}
	if !canSend(id, conv) {
		return "", ErrUnauthorizedSend
	}
	if conv.IsBlocked {
		return "", ErrConversationBlocked
	}
	if err := joinConversation(c, id, conv.ID); err != nil {
		return "", err
	}
	msgID := schema.NewID("msg")
	now := c.Now()
	if _, err := c.Tx.Exec(c.Ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, msgID, conv.ID, id.Subject, string(id.Role), a.MessageType, content, now); err != nil {
		return "", fmt.Errorf("insert message: %w", err)
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE conversations SET last_message_at = $2, last_message_preview = $3 WHERE id = $1`,
		conv.ID, now, preview(content)); err != nil {
		return "", fmt.Errorf("update conversation: %w", err)
	}
	return msgID, nil
}

func preview(s string) string {
	if utf8.RuneCountInString(s) <= previewChars {
		return s
	}
	r := []rune(s)
	return string(r[:previewChars-1]) + "…"
}

// MarkMessagesAsReadArgs are the arguments of markMessagesAsRead.
type MarkMessagesAsReadArgs struct {
	ConversationID string    `json:"conversationId"`
	MessageIDs     *[]string `json:"messageIds"`
}

// MarkReadResult says which messages changed.
type MarkReadResult struct {
	MarkedCount int      `json:"markedCount"`
	MessageIDs  []string `json:"messageIds"`
}

func markMessagesAsRead(c *MutationCtx, a MarkMessagesAsReadArgs) (MarkReadResult, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return MarkReadResult{}, err
	}
	conv, err := lockedConversation(c, id, a.ConversationID)
	if err != nil {
		return MarkReadResult{}, err
	}
	// A caller reads what the other side sent: a customer reads everything
	// not from the customer; staff and admins read the customer's messages.
	const q = `UPDATE messages SET is_read = true, read_at = $2
		WHERE conversation_id = $1 AND NOT is_read AND NOT is_deleted
		AND (sender_type = 'customer') <> $3`
	now := c.Now()
	var ids []string
	if a.MessageIDs == nil {
		err = scanIDs(c, &ids, q+` RETURNING id`, conv.ID, now, customerSide(id))
	} else {
		if len(*a.MessageIDs) > 1000 {
			return MarkReadResult{}, Invalid("messageIds may list at most 1000 messages")
		}
		err = scanIDs(c, &ids, q+` AND id = ANY($4) RETURNING id`, conv.ID, now, customerSide(id), *a.MessageIDs)
	}
	if err != nil {
		return MarkReadResult{}, err
	}
	if err := joinConversation(c, id, conv.ID); err != nil {
		return MarkReadResult{}, err
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE conversation_participants SET last_read_at = $3, last_seen_at = $3
		WHERE conversation_id = $1 AND user_id = $2`, conv.ID, id.Subject, now); err != nil {
		return MarkReadResult{}, fmt.Errorf("update read state: %w", err)
	}
	if ids == nil {
		ids = []string{}
	}
	return MarkReadResult{MarkedCount: len(ids), MessageIDs: ids}, nil
}

func scanIDs(c *MutationCtx, out *[]string, sql string, args ...any) error {
	rows, err := c.Tx.Query(c.Ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		*out = append(*out, s)
	}
	return rows.Err()
}

// GetMessagesArgs are the arguments of getMessages.
type GetMessagesArgs struct {
	ConversationID string  `json:"conversationId"`
	Limit          *int    `json:"limit"`
	Cursor         *string `json:"cursor"`
}

// MessageDoc is a message as queries return it.
type MessageDoc struct {
	ID             string   `json:"_id"`
	CreationTime   float64  `json:"_creationTime"`
	ConversationID string   `json:"conversationId"`
	SenderID       string   `json:"senderId"`
	SenderType     string   `json:"senderType"`
	SenderName     string   `json:"senderName"`
	MessageType    string   `json:"messageType"`
	Content        string   `json:"content"`
	IsRead         bool     `json:"isRead"`
	ReadAt         *float64 `json:"readAt,omitempty"`
	IsDeleted      bool     `json:"isDeleted"`
}

// MessagePage is the result of getMessages: newest first.
type MessagePage struct {
	Messages       []MessageDoc `json:"messages"`
	IsDone         bool         `json:"isDone"`
	ContinueCursor *string      `json:"continueCursor,omitempty"`
}

func messageDoc(m schema.Message) MessageDoc {
	d := MessageDoc{
		ID: m.ID, CreationTime: schema.Millis(m.CreatedAt), ConversationID: m.ConversationID,
		SenderID: m.SenderID, SenderType: m.SenderType, SenderName: m.SenderName, MessageType: m.MessageType,
		Content: m.Content, IsRead: m.IsRead, IsDeleted: m.IsDeleted,
	}
	if m.ReadAt != nil {
		ms := schema.Millis(*m.ReadAt)
		d.ReadAt = &ms
	}
	if m.IsDeleted {
		d.Content = "" // soft-deleted: hidden from everyone, row kept for audit
	}
	return d
}

func encodeCursor(m schema.Message) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(m.CreatedAt.UnixMicro(), 10) + "." + m.ID))
}

func decodeCursor(s string) (*schema.MessageCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		micros, id, ok := strings.Cut(string(b), ".")
		if us, perr := strconv.ParseInt(micros, 10, 64); ok && perr == nil && id != "" {
			return &schema.MessageCursor{CreatedAt: time.UnixMicro(us), ID: id}, nil
		}
	}
	return nil, Invalid("Invalid cursor %q", s)
}

func getMessages(c *QueryCtx, a GetMessagesArgs) (MessagePage, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return MessagePage{}, err
	}
	limit := DefaultMessageLimit
	if a.Limit != nil {
		if *a.Limit < 1 || *a.Limit > MaxMessageLimit {
			return MessagePage{}, Invalid("limit must be between 1 and %d, got %d", MaxMessageLimit, *a.Limit)
		}
		limit = *a.Limit
	}
	var before *schema.MessageCursor
	if a.Cursor != nil && *a.Cursor != "" {
		if before, err = decodeCursor(*a.Cursor); err != nil {
			return MessagePage{}, err
		}
	}
	conv, err := visibleConversation(c, id, a.ConversationID)
	if err != nil {
		return MessagePage{}, err
	}
	msgs, err := c.DB.Messages(c.Ctx, conv.ID, before, limit+1)
	if err != nil {
		return MessagePage{}, err
	}
	page := MessagePage{Messages: make([]MessageDoc, 0, min(len(msgs), limit)), IsDone: len(msgs) <= limit}
	if !page.IsDone {
		msgs = msgs[:limit]
		next := encodeCursor(msgs[len(msgs)-1])
		page.ContinueCursor = &next
	}
	for _, m := range msgs {
		page.Messages = append(page.Messages, messageDoc(m))
	}
	return page, nil
}

// GetUnreadCountArgs are the (empty) arguments of getUnreadCount.
type GetUnreadCountArgs struct{}

func getUnreadCount(c *QueryCtx, _ GetUnreadCountArgs) (int, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return 0, err
	}
	f := schema.ConversationFilter{Status: "active"}
	switch id.Role {
	case RoleCustomer:
		f.CustomerID = id.Subject
	case RoleStore:
		f.StoreID = id.StoreID
	case RoleAdmin:
		f.Type = schema.CustomerToAdmin
	}
	convs, err := c.DB.Conversations(c.Ctx, f)
	if err != nil {
		return 0, err
	}
	ids := make([]string, len(convs))
	for i, cv := range convs {
		ids[i] = cv.ID
	}
	counts, err := c.DB.UnreadCounts(c.Ctx, ids)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, u := range counts {
		if customerSide(id) {
			total += u.Customer
		} else {
			total += u.Recipient
		}
	}
	return total, nil
}
