package chat

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/keyrate"
	"github.com/parley-chat/parley/schema"
)

// Config tunes the chat API.
type Config struct {
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
	// RateLimitWait is how long a sendMessage or generateUploadUrl over
	// its limit may wait for its token before it is refused: a short
	// overage (a client replaying what it queued offline) is delayed,
	// in order, rather than refused. Typing updates never wait: a late
	// one is worthless. Zero means DefaultRateLimitWait; negative means
	// no wait (refused at once).
	RateLimitWait time.Duration
	// Media issues upload URLs and signs image URLs. Nil disables image
	// messages: generateUploadUrl answers 503 and image attachments are
	// listed without URLs.
	Media Media
	// EditWindow is how long after sending its sender may edit a message
	// (admins: any time). Zero means DefaultEditWindow.
	EditWindow time.Duration
	// MaxGroupSize bounds a group's participants, its creator included.
	// Zero means DefaultMaxGroupSize.
	MaxGroupSize int
	// Guests verifies the guest tokens claimGuestThreads takes as proof
	// (jwtauth.Verifier.VerifyGuest). Nil means guest access is off:
	// claimGuestThreads answers 403.
	Guests GuestVerifier
	// Now is the clock of the rate limiters. Nil means time.Now.
	Now func() time.Time
	// RateLimits makes the rate limiters (limits "chat.messages",
	// "chat.typing", "chat.uploads"): keyrate.PG.Limiter shares each
	// user's budget among the nodes of one database. Nil means
	// keyrate.Memory: this process's buckets.
	RateLimits keyrate.Factory
	// SupportWaiting, when set, is told of every message a customer (or a
	// guest) sends in their support conversation while no admin holds it
	// (assignedAdminId empty), in the sending mutation, after the message
	// is written (conv as it was locked): the support desk queues the
	// conversation (support.Service.CustomerWrote). An error fails the
	// send. Nil means nothing is told.
	SupportWaiting func(c *functions.MutationCtx, conv Conversation) error
	// SupportClosed, when set, is told of every conversation
	// closeConversation closes, in the closing mutation, after it closed
	// it: the support desk closes the conversation's open request
	// (support.Service.ConversationClosed), which would otherwise count
	// in its agent's load. An error fails the close. Nil means nothing is
	// told.
	SupportClosed func(c *functions.MutationCtx, convID string, reason *string) error
	// SupportAssigned, when set, is told of every customer's support
	// conversation an admin takes by answering it (sendMessage) or that
	// transferConversation hands to an admin, in that mutation, after the
	// assignment: the support desk gives the conversation's open request
	// to that admin (support.Service.ConversationAssigned). An error fails
	// the call. Nil means nothing is told.
	SupportAssigned func(c *functions.MutationCtx, convID, adminID, adminName string) error
	// AssistantWaiting, when set, is told first of every message a
	// customer (or a guest) sends in their support conversation while no
	// admin holds it, in the sending mutation, after the message is
	// written (conv as it was locked; msgID and content the message's):
	// the AI assistant answers it (package assistant). handled true means
	// the assistant holds the conversation and SupportWaiting is not told.
	// An error fails the send.
	AssistantWaiting func(c *functions.MutationCtx, conv Conversation, msgID, content string) (handled bool, err error)
	// Streams has the text so far of the assistant answers this node
	// streams (package assistant): queries that list messages show it in
	// a streaming message's place. Nil shows a streaming message as its
	// row has it (empty) until it ends.
	Streams Streams
}

// GuestVerifier checks a guest token and returns the guest it proves; it
// accepts guest tokens only. Its errors' messages may be shown to clients.
type GuestVerifier interface {
	VerifyGuest(ctx context.Context, token string) (*functions.Identity, error)
}

func (c *Config) fill() {
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
	if c.RateLimitWait == 0 {
		c.RateLimitWait = DefaultRateLimitWait
	}
	if c.EditWindow <= 0 {
		c.EditWindow = DefaultEditWindow
	}
	if c.MaxGroupSize <= 0 {
		c.MaxGroupSize = DefaultMaxGroupSize
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
	MaxMessageOffset         = 100_000 // getMessages' offset paging: deeper pages take the cursor
	DefaultConversationLimit = 50
	MaxConversationLimit     = 100
	// TypingQuiet is how long a repeated isTyping=true writes nothing.
	TypingQuiet  = time.Second
	previewChars = 100
)

// api is the chat API with its configuration.
type api struct {
	cfg     Config
	quiet   time.Duration // repeated isTyping=true within this writes nothing
	sends   *userLimiter
	typings *userLimiter
	uploads *userLimiter
}

// Register registers the chat API under "shared/chat:<name>".
func Register(r *functions.Registry, cfg Config) {
	cfg.fill()
	c := &api{cfg: cfg, quiet: min(TypingQuiet, cfg.TypingTTL/2),
		sends:   newUserLimiter(cfg.RateLimits, "chat.messages", "messages", cfg.MessagesPerSecond, cfg.MessageBurst, cfg.RateLimitWait),
		typings: newUserLimiter(cfg.RateLimits, "chat.typing", "typing updates", cfg.TypingPerSecond, cfg.TypingBurst, 0),
		uploads: newUserLimiter(cfg.RateLimits, "chat.uploads", "upload URLs", cfg.UploadsPerSecond, cfg.UploadBurst, cfg.RateLimitWait)}
	limit := func(l *userLimiter) functions.Option {
		return functions.Admit(func(id *functions.Identity) error {
			if id == nil {
				return nil // the handler answers 401
			}
			return l.allow(id.Subject, c.cfg.Now())
		})
	}

	functions.Mutation(r, "shared/chat:createOrGetConversation", createOrGetConversation)
	functions.Mutation(r, "shared/chat:createOrGetStoreSupportConversation", createOrGetStoreSupportConversation)
	functions.Mutation(r, "shared/chat:generateUploadUrl", c.generateUploadURL, limit(c.uploads))
	functions.Mutation(r, "shared/chat:sendMessage", c.sendMessage, limit(c.sends))
	functions.Mutation(r, "shared/chat:markMessagesAsRead", markMessagesAsRead)
	functions.Mutation(r, "shared/chat:markDelivered", markDelivered)
	functions.Mutation(r, "shared/chat:archiveConversation", archiveConversation)
	functions.Mutation(r, "shared/chat:deleteMessage", deleteMessage)
	functions.Mutation(r, "shared/chat:editMessage", c.editMessage)
	functions.Mutation(r, "shared/chat:updateTypingStatus", c.updateTypingStatus, limit(c.typings))
	functions.Mutation(r, "shared/chat:transferConversation", c.transferConversation)
	functions.Mutation(r, "shared/chat:blockConversation", blockConversation)
	functions.Mutation(r, "shared/chat:unblockConversation", unblockConversation)
	functions.Mutation(r, "shared/chat:createGroupConversation", c.createGroupConversation)
	functions.Mutation(r, "shared/chat:getOrCreateDirectChannel", getOrCreateDirectChannel)
	functions.Mutation(r, "shared/chat:setConversationSubject", setConversationSubject)
	functions.Mutation(r, "shared/chat:closeConversation", c.closeConversation)
	functions.Mutation(r, "shared/chat:reopenConversation", reopenConversation)
	functions.Mutation(r, "shared/chat:claimGuestThreads", c.claimGuestThreads)

	functions.Query(r, "shared/chat:getConversations", getConversations, functions.ScopeIdentity(inboxCaller))
	functions.Query(r, "shared/chat:getConversationsPaginated", getConversationsPaginated, functions.ScopeIdentity(inboxCaller))
	functions.QueryShared(r, "shared/chat:getConversation", func(c *functions.QueryCtx, a ConversationIDArgs) error {
		return conversationAccess(c, a.ConversationID)
	}, getConversation)
	functions.QueryShared(r, "shared/chat:getMessages", func(c *functions.QueryCtx, a GetMessagesArgs) error {
		return conversationAccess(c, a.ConversationID)
	}, c.getMessages)
	functions.QueryShared(r, "shared/chat:getMessagesPaginated", func(c *functions.QueryCtx, a GetMessagesPaginatedArgs) error {
		return conversationAccess(c, a.ConversationID)
	}, c.getMessagesPaginated)
	functions.QueryShared(r, "shared/chat:getParticipants", func(c *functions.QueryCtx, a ConversationIDArgs) error {
		return conversationAccess(c, a.ConversationID)
	}, getParticipants)
	functions.Query(r, "shared/chat:getGroupConversations", getGroupConversations, functions.ScopeIdentity(subjectOnly))
	functions.Query(r, "shared/chat:getDirectChannels", getDirectChannels, functions.ScopeIdentity(subjectOnly))
	functions.Query(r, "shared/chat:getUnreadCount", getUnreadCount, functions.ScopeIdentity(inboxCaller))
	functions.Query(r, "shared/chat:getTypingIndicators", c.getTypingIndicators)
	functions.Query(r, "shared/chat:getMessageHistory", getMessageHistory)
	functions.Query(r, "shared/chat:searchMessages", c.searchMessages)
	functions.Query(r, "shared/chat:canChatWithStore", canChatWithStore)
	functions.Query(r, "shared/chat:getChatSettings", getChatSettings, functions.ScopeIdentity(orgOnly))
	functions.Query(r, "shared/chat:isChatEnabled", isChatEnabled, functions.ScopeIdentity(orgOnly))
}

// customerSide reports whether id speaks for the asking end of a
// one-to-one conversation of type t (askingSide): a customer or a guest,
// or a store's staff with support; the others are its recipient end.
func customerSide(id *functions.Identity, t string) bool { return askingSide(string(id.Role), t) }

// customerRole reports whether id is a customer or a guest (a customer
// without orders): the conversations it sees are those it is the
// customer of.
func customerRole(id *functions.Identity) bool {
	return id.Role == functions.RoleCustomer || id.Role == functions.RoleGuest
}

// side is what id's messages and typing say of their sender
// (messages.sender_type, typing_state.user_type): its role, but
// "customer" for a guest, who speaks for the customer end. The unread
// counters and read receipts count by it.
func side(id *functions.Identity) string {
	if id.Role == functions.RoleGuest {
		return string(functions.RoleCustomer)
	}
	return string(id.Role)
}

// canSee reports whether id may read conversation c: its customer, staff
// of its store (store conversations), a group's participants, any admin.
// A group's c.Member must have been read (withMember).
func canSee(id *functions.Identity, c Conversation) bool {
	switch {
	case c.OrgID != id.Org:
		return false // nothing crosses orgs
	case id.Role == functions.RoleAdmin:
		return true
	case memberGated(c.Type):
		return c.Member
	case customerRole(id):
		return c.CustomerID == id.Subject // a guest's: its own support conversations
	case id.Role == functions.RoleStore:
		return withStore(c.Type) && c.StoreID != nil && *c.StoreID == id.StoreID
	}
	return false
}

// isParticipant reports whether id speaks in conversation c: admins speak
// in support conversations and groups they are in; in store conversations
// and other groups they moderate.
func isParticipant(id *functions.Identity, c Conversation) bool {
	switch {
	case c.OrgID != id.Org:
		return false
	case memberGated(c.Type):
		return c.Member
	case id.Role == functions.RoleAdmin:
		return supportType(c.Type)
	}
	return canSee(id, c)
}

// withMember sets a group's or direct channel's Member for the caller (a read of its
// participants); other conversations need no read.
func withMember(ctx context.Context, t tables, id *functions.Identity, c Conversation, err error) (Conversation, error) {
	if err != nil || !memberGated(c.Type) {
		return c, err
	}
	c.Member, err = t.IsMember(ctx, c.ID, id.Subject)
	return c, err
}

func requireIdentity(id *functions.Identity) (*functions.Identity, error) {
	if id == nil {
		return nil, functions.ErrNotAuthenticated
	}
	return id, nil
}

// conversationAccess is the access check of the shared queries about one
// conversation: the caller must be able to see it, else 404 (an outsider
// learns nothing). It reads only who belongs to the conversation.
func conversationAccess(c *functions.QueryCtx, convID string) error {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return err
	}
	t := tables{c.DB}
	conv, err := t.ConversationMembership(c.Ctx, convID)
	conv, err = withMember(c.Ctx, t, id, conv, err)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && !canSee(id, conv)) {
		return ErrConversationNotFound
	}
	return err
}

// lockedConversation reads a conversation for a mutation, locked for the
// transaction, and checks that id may see it (404 otherwise) and, but for
// admins, that its chat switch is on (403 "Chat is disabled").
func lockedConversation(c *functions.MutationCtx, id *functions.Identity, convID string) (Conversation, error) {
	t := tables{c.DB}
	conv, err := t.ConversationForUpdate(c.Ctx, convID)
	conv, err = withMember(c.Ctx, t, id, conv, err)
	switch {
	case errors.Is(err, schema.ErrNoRow) || (err == nil && !canSee(id, conv)):
		return conv, ErrConversationNotFound
	case err == nil && conv.ChatOff && id.Role != functions.RoleAdmin:
		return conv, ErrChatDisabled
	}
	return conv, err
}

// chatOn checks the caller's org's chat switch for the mutations that
// start something (admins pass): 403 "Chat is disabled" when it is off.
func chatOn(c *functions.MutationCtx, id *functions.Identity) error {
	if id.Role == functions.RoleAdmin {
		return nil
	}
	s, err := c.DB.Settings(c.Ctx, id.Org)
	if err != nil {
		return err
	}
	if !s.ChatEnabled {
		return ErrChatDisabled
	}
	return nil
}

// callerConversation is how a mutation starts: the verified caller and the
// conversation it names, locked, which the caller must be able to see.
func callerConversation(c *functions.MutationCtx, convID string) (*functions.Identity, Conversation, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return nil, Conversation{}, err
	}
	conv, err := lockedConversation(c, id, convID)
	return id, conv, err
}

// inboxCaller is what a caller's inbox depends on: a customer's (or a
// guest's) own id, a store's id for its staff, nothing more for admins;
// and the org. Everyone with the same inbox shares one instance of the
// inbox queries.
func inboxCaller(id *functions.Identity) *functions.Identity {
	switch id.Role {
	case functions.RoleCustomer, functions.RoleGuest:
		return &functions.Identity{Role: id.Role, Subject: id.Subject, Org: id.Org}
	case functions.RoleStore:
		return &functions.Identity{Role: id.Role, StoreID: id.StoreID, Org: id.Org}
	}
	return &functions.Identity{Role: id.Role, Org: id.Org}
}

// inbox selects the conversations a caller's lists and totals cover: a
// customer's (or a guest's) own, a store's (with its customers and with
// support), or (admins) every support conversation, customers' and
// stores'.
func inbox(id *functions.Identity, status string) ConversationFilter {
	f := ConversationFilter{Status: status, Org: id.Org}
	switch id.Role {
	case functions.RoleCustomer, functions.RoleGuest:
		f.CustomerID = id.Subject
	case functions.RoleStore:
		f.StoreID = id.StoreID
	case functions.RoleAdmin:
		f.Support = true
	}
	return f
}

// inboxSide is the side whose unread messages a caller's inbox counts: a
// customer's (or a guest's), a store's (unread_recipient in each of its
// conversations), or support's (SideSupport).
func inboxSide(id *functions.Identity) Side {
	switch id.Role {
	case functions.RoleCustomer, functions.RoleGuest:
		return SideCustomer
	case functions.RoleAdmin:
		return SideSupport
	}
	return SideRecipient
}

// messageTime is the time of a new message in conv, locked for the
// mutation (lockedConversation): now, in the microseconds Postgres keeps,
// but always after conv's latest message. Messages' times so follow their
// commit order within a conversation, which a read position (a group
// member's, readGroup) relies on: a message committed after a reader moved
// past the latest one is newer than it, whatever the clocks of the nodes
// that sent them. (The lock makes conv.LastMessageAt current: a
// concurrent change fails the serializable transaction, which reruns.)
func messageTime(conv Conversation, now time.Time) time.Time {
	now = now.Truncate(time.Microsecond)
	if conv.LastMessageAt != nil && !now.After(*conv.LastMessageAt) {
		return conv.LastMessageAt.Add(time.Microsecond)
	}
	return now
}

// storedName is the name users records for the caller when it first
// appears: the token's, else its subject.
func storedName(id *functions.Identity) string {
	if id.Name == "" {
		return id.Subject
	}
	return id.Name
}

// displayName is the caller's name as stored, else as the token says.
func displayName(c *functions.MutationCtx, id *functions.Identity) (string, error) {
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

// ImagePreview is the conversation preview of an image without a caption.
const ImagePreview = "Image"

// messagePreview is what a conversation shows of its latest message: the
// start of its content, or ImagePreview for an image without a caption.
func messagePreview(content string, fileID *string, loc *Location, meeting *Meeting) string {
	switch pv := preview(content); {
	case pv != "":
		return pv
	case fileID != nil:
		return ImagePreview
	case meeting != nil:
		return preview(MeetingPreview + ": " + meeting.Title)
	case loc != nil && loc.Label != nil:
		return preview(LocationPreview + ": " + *loc.Label)
	case loc != nil:
		return LocationPreview
	}
	return ""
}

// LocationPreview is the conversation preview of a location without a
// caption.
const LocationPreview = "Location"

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

// ConversationAccess is the check every query about one conversation
// makes, for other domains (package events' conversation event stream):
// nil when the caller may see conversation convID, else the error chat's
// own queries answer (401, or 404 for a conversation the caller may not
// see or that does not exist). It records what it read, as they do.
func ConversationAccess(c *functions.QueryCtx, convID string) error {
	return conversationAccess(c, convID)
}
