package functions

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/schema"
)

// ChatConfig tunes the chat API.
type ChatConfig struct {
	// MessagesPerSecond and MessageBurst limit sendMessage per user. Zero
	// means 5 per second with bursts of 10; negative disables the limit.
	MessagesPerSecond float64
	MessageBurst      int
	// TypingPerSecond and TypingBurst limit updateTypingStatus per user.
	// Zero means 2 per second with bursts of 5; negative disables the limit.
	TypingPerSecond float64
	TypingBurst     int
	// TypingTTL is how long a typing indicator lasts without a refresh.
	// Zero means 5s. Repeats within min(TypingQuiet, TypingTTL/2) write
	// nothing, so a user who keeps typing never flickers off.
	TypingTTL time.Duration
	// UploadsPerSecond and UploadBurst limit generateUploadUrl per user.
	// Zero means 1 per second with bursts of 10; negative disables the
	// limit.
	UploadsPerSecond float64
	UploadBurst      int
	// Media issues upload URLs and signs image URLs. Nil disables image
	// messages: generateUploadUrl answers 503 and image attachments are
	// listed without URLs.
	Media Media
	// Now is the clock of the rate limiters. Nil means time.Now.
	Now func() time.Time
}

func (c *ChatConfig) fill() {
	if c.MessagesPerSecond == 0 {
		c.MessagesPerSecond, c.MessageBurst = 5, 10
	}
	if c.TypingPerSecond == 0 {
		c.TypingPerSecond, c.TypingBurst = 2, 5
	}
	if c.UploadsPerSecond == 0 {
		c.UploadsPerSecond, c.UploadBurst = 1, 10
	}
	if c.TypingTTL <= 0 {
		c.TypingTTL = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Chat limits.
const (
	MaxContentChars          = 4000 // longest message content, in characters
	DefaultMessageLimit      = 50
	MaxMessageLimit          = 100
	DefaultConversationLimit = 50
	MaxConversationLimit     = 100
	// TypingQuiet is how long a repeated isTyping=true writes nothing.
	TypingQuiet  = time.Second
	previewChars = 100
)

// chat is the chat API with its configuration.
type chat struct {
	cfg     ChatConfig
	quiet   time.Duration // repeated isTyping=true within this writes nothing
	sends   *userLimiter
	typings *userLimiter
	uploads *userLimiter
}

// RegisterChat registers the chat API under "shared/chat:<name>".
func RegisterChat(r *Registry, cfg ChatConfig) {
	cfg.fill()
	c := &chat{cfg: cfg, quiet: min(TypingQuiet, cfg.TypingTTL/2),
		sends:   newUserLimiter("messages", cfg.MessagesPerSecond, cfg.MessageBurst),
		typings: newUserLimiter("typing updates", cfg.TypingPerSecond, cfg.TypingBurst),
		uploads: newUserLimiter("upload URLs", cfg.UploadsPerSecond, cfg.UploadBurst)}
	limit := func(l *userLimiter) Option {
		return Admit(func(id *Identity) error {
			if id == nil {
				return nil // the handler answers 401
			}
			return l.allow(id.Subject, c.cfg.Now())
		})
	}

	Mutation(r, "shared/chat:createOrGetConversation", createOrGetConversation)
	Mutation(r, "shared/chat:generateUploadUrl", c.generateUploadURL, limit(c.uploads))
	Mutation(r, "shared/chat:sendMessage", c.sendMessage, limit(c.sends))
	Mutation(r, "shared/chat:markMessagesAsRead", markMessagesAsRead)
	Mutation(r, "shared/chat:archiveConversation", archiveConversation)
	Mutation(r, "shared/chat:deleteMessage", deleteMessage)
	Mutation(r, "shared/chat:updateTypingStatus", c.updateTypingStatus, limit(c.typings))
	Mutation(r, "shared/chat:transferConversation", transferConversation)
	Mutation(r, "shared/chat:blockConversation", blockConversation)
	Mutation(r, "shared/chat:unblockConversation", unblockConversation)

	Query(r, "shared/chat:getConversations", getConversations, ScopeIdentity(inboxCaller))
	QueryShared(r, "shared/chat:getConversation", func(c *QueryCtx, a ConversationIDArgs) error {
		return conversationAccess(c, a.ConversationID)
	}, getConversation)
	QueryShared(r, "shared/chat:getMessages", func(c *QueryCtx, a GetMessagesArgs) error {
		return conversationAccess(c, a.ConversationID)
	}, c.getMessages)
	QueryShared(r, "shared/chat:getMessagesPaginated", func(c *QueryCtx, a GetMessagesPaginatedArgs) error {
		return conversationAccess(c, a.ConversationID)
	}, c.getMessagesPaginated)
	Query(r, "shared/chat:getUnreadCount", getUnreadCount, ScopeIdentity(inboxCaller))
	Query(r, "shared/chat:getTypingIndicators", c.getTypingIndicators)
	Query(r, "shared/chat:canChatWithStore", canChatWithStore)
	Query(r, "shared/chat:getChatSettings", getChatSettings, Public())
}

// customerSide reports whether id speaks for the customer end of a
// conversation; store staff and admins are the recipient end.
func customerSide(id *Identity) bool { return id.Role == RoleCustomer }

// canSee reports whether id may read conversation c: its customer, staff
// of its store (store conversations), any admin.
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

// isParticipant reports whether id speaks in conversation c: admins speak
// in support conversations only; in store conversations they moderate.
func isParticipant(id *Identity, c schema.Conversation) bool {
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

// conversationAccess is the access check of the shared queries about one
// conversation: the caller must be able to see it, else 404 (an outsider
// learns nothing). It reads only who belongs to the conversation.
func conversationAccess(c *QueryCtx, convID string) error {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return err
	}
	conv, err := c.DB.ConversationMembership(c.Ctx, convID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && !canSee(id, conv)) {
		return ErrConversationNotFound
	}
	return err
}

// lockedConversation reads a conversation for a mutation, locked for the
// transaction, and checks that id may see it: 404 otherwise.
func lockedConversation(c *MutationCtx, id *Identity, convID string) (schema.Conversation, error) {
	conv, err := c.DB.ConversationForUpdate(c.Ctx, convID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && !canSee(id, conv)) {
		return conv, ErrConversationNotFound
	}
	return conv, err
}

// callerConversation is how a mutation starts: the verified caller and the
// conversation it names, locked, which the caller must be able to see.
func callerConversation(c *MutationCtx, convID string) (*Identity, schema.Conversation, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return nil, schema.Conversation{}, err
	}
	conv, err := lockedConversation(c, id, convID)
	return id, conv, err
}

// inboxCaller is what a caller's inbox depends on: a customer's own id, a
// store's id for its staff, nothing more for admins. Everyone with the same
// inbox shares one instance of the inbox queries.
func inboxCaller(id *Identity) *Identity {
	switch id.Role {
	case RoleCustomer:
		return &Identity{Role: id.Role, Subject: id.Subject}
	case RoleStore:
		return &Identity{Role: id.Role, StoreID: id.StoreID}
	}
	return &Identity{Role: id.Role}
}

// inbox selects the conversations a caller's lists and totals cover: a
// customer's own, a store's, or (admins) every support conversation.
func inbox(id *Identity, status string) schema.ConversationFilter {
	f := schema.ConversationFilter{Status: status}
	switch id.Role {
	case RoleCustomer:
		f.CustomerID = id.Subject
	case RoleStore:
		f.StoreID = id.StoreID
	case RoleAdmin:
		f.Type = schema.CustomerToAdmin
	}
	return f
}

// ensureUser records the verified caller in users, so rows can refer to it.
func ensureUser(c *MutationCtx, id *Identity) error {
	_, err := c.Tx.Exec(c.Ctx, `INSERT INTO users (id, name, role) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
		id.Subject, storedName(id), string(id.Role))
	if err != nil {
		return fmt.Errorf("ensure user: %w", err)
	}
	return nil
}

// storedName is the name users records for the caller when it first
// appears: the token's, else its subject.
func storedName(id *Identity) string {
	if id.Name == "" {
		return id.Subject
	}
	return id.Name
}

// displayName is the caller's name as stored, else as the token says.
func displayName(c *MutationCtx, id *Identity) (string, error) {
	u, err := c.DB.User(c.Ctx, id.Subject)
	switch {
	case err == nil:
		return u.Name, nil
	case !errors.Is(err, schema.ErrNoRow):
		return "", err
	case id.Name != "":
		return id.Name, nil
	}
	return id.Subject, nil
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

// postMessage inserts a message and makes it the conversation's latest.
// (sendMessage, the busy path, does the same and more in one statement.)
func postMessage(c *MutationCtx, convID string, id *Identity, senderType, messageType, content string) (string, error) {
	msgID := schema.NewID("msg")
	now := c.Now()
	if _, err := c.Tx.Exec(c.Ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, msgID, convID, id.Subject, senderType, messageType, content, now); err != nil {
		return "", fmt.Errorf("insert message: %w", err)
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE conversations SET last_message_at = $2, last_message_preview = $3,
		status = CASE WHEN status = 'archived' THEN 'active' ELSE status END WHERE id = $1`,
		convID, now, preview(content)); err != nil {
		return "", fmt.Errorf("update conversation: %w", err)
	}
	return msgID, nil
}

// ImagePreview is the conversation preview of an image without a caption.
const ImagePreview = "Image"

// messagePreview is what a conversation shows of its latest message: the
// start of its content, or ImagePreview for an image without a caption.
func messagePreview(content string, fileID *string) string {
	if pv := preview(content); pv != "" || fileID == nil {
		return pv
	}
	return ImagePreview
}

func preview(s string) string {
	if utf8.RuneCountInString(s) <= previewChars {
		return s
	}
	r := []rune(s)
	return string(r[:previewChars-1]) + "…"
}

func millisPtr(t *time.Time) *float64 {
	if t == nil {
		return nil
	}
	ms := schema.Millis(*t)
	return &ms
}

// Null is the result of mutations that return nothing.
type Null struct{}

// MarshalJSON encodes null.
func (Null) MarshalJSON() ([]byte, error) { return []byte("null"), nil }
