package functions

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/schema"
)

// ImageAttachment is what a client declares about the image it attaches:
// FileID is the storageId its upload answered. The rest is not trusted:
// a declared FileSize over the settings' limit is refused, FileName is
// kept for display, and the type, size and dimensions shown are the
// server's own.
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
	MessageType     string           `json:"messageType" ts:"text|image|system"`
	ImageAttachment *ImageAttachment `json:"imageAttachment"`
}

// sendMessage posts a message and returns its id. Customers and store
// staff post text and images; admins post text and images in support
// conversations and system notices anywhere. An image message attaches a
// file the caller uploaded (imageAttachment.fileId), once; its content is
// an optional caption.
func (ch *chat) sendMessage(c *MutationCtx, a SendMessageArgs) (string, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return "", err
	}
	switch a.MessageType {
	case "text", "system":
		if a.ImageAttachment != nil {
			return "", Invalid(`imageAttachment is only allowed when messageType is "image"`)
		}
		if a.MessageType == "system" && id.Role != RoleAdmin {
			return "", Invalid(`messageType "system" is for admins only`)
		}
	case "image":
		if a.ImageAttachment == nil {
			return "", ErrImageAttachment
		}
		if err := checkDeclaredImage(c, a.ImageAttachment); err != nil {
			return "", err
		}
	default:
		return "", Invalid(`messageType must be "text" or "image", got %q`, a.MessageType)
	}
	content := strings.TrimSpace(a.Content)
	if content == "" && a.MessageType != "image" {
		return "", Invalid("Message content must not be empty")
	}
	if n := utf8.RuneCountInString(content); n > MaxContentChars {
		return "", Invalid("Message content exceeds %d characters (got %d)", MaxContentChars, n)
	}
	conv, err := lockedConversation(c, id, a.ConversationID)
	if err != nil {
		return "", err
	}
	if a.MessageType != "system" && !isParticipant(id, conv) {
		return "", ErrUnauthorizedSend
	}
	// Admins' system notices are moderation: they reach blocked and closed
	// conversations too.
	if conv.IsBlocked && a.MessageType != "system" {
		return "", ErrConversationBlocked
	}
	if conv.Status == "closed" && a.MessageType != "system" {
		return "", ErrClosed
	}
	var file *schema.File
	if a.MessageType == "image" {
		f, err := attachImage(c, id, a.ImageAttachment)
		if err != nil {
			return "", err
		}
		file = &f
	}
	var fileID *string
	if file != nil {
		fileID = &file.ID
	}
	// The first admin to answer a support conversation takes it.
	takes := id.Role == RoleAdmin && conv.Type == schema.CustomerToAdmin && conv.AssignedAdminID == nil
	msgID := schema.NewID("msg")
	if _, err := c.Tx.Exec(c.Ctx, sendMessageSQL, msgID, conv.ID, id.Subject, string(id.Role), a.MessageType,
		content, fileID, c.Now(), storedName(id), messagePreview(content, fileID), takes); err != nil {
		return "", fmt.Errorf("send message: %w", err)
	}
	if file != nil {
		if err := linkImage(c, *file, msgID, a.ImageAttachment.FileName); err != nil {
			return "", err
		}
	}
	return msgID, nil
}

// sendMessageSQL is sendMessage's writes as one statement of
// data-modifying CTEs: the sender is recorded (in users, and as a
// participant), the message inserted and made the conversation's latest
// (which reopens an archived one and, when $11 says so, assigns the
// answering admin), and the sender's typing ended. The sub-statements share
// one snapshot and none reads another's rows; the foreign keys that name
// the caller's new user row (the participant's, the assignment's) are
// checked after the whole statement, as is the unread counters' trigger,
// which then sees the conversation as latest left it. One statement costs
// Postgres markedly less than five (pgbench: internal/bench/pgbench).
const sendMessageSQL = `WITH
	caller AS (INSERT INTO users (id, name, role) VALUES ($3, $9, $4) ON CONFLICT (id) DO NOTHING),
	joined AS (INSERT INTO conversation_participants (conversation_id, user_id, role)
		VALUES ($2, $3, $4) ON CONFLICT DO NOTHING),
	posted AS (INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content,
			image_file_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)),
	latest AS (UPDATE conversations SET last_message_at = $8, last_message_preview = $10,
		status = CASE WHEN status = 'archived' THEN 'active' ELSE status END,
		assigned_admin_id = CASE WHEN $11 THEN coalesce(assigned_admin_id, $3) ELSE assigned_admin_id END
		WHERE id = $2),
	typed AS (UPDATE typing_state SET is_typing = false
		WHERE conversation_id = $2 AND user_id = $3 AND is_typing)
SELECT`

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

// markMessagesAsRead marks what the other side sent as read: every unread
// message, or exactly the listed ones.
func markMessagesAsRead(c *MutationCtx, a MarkMessagesAsReadArgs) (MarkReadResult, error) {
	id, conv, err := callerConversation(c, a.ConversationID)
	if err != nil {
		return MarkReadResult{}, err
	}
	if !isParticipant(id, conv) {
		return MarkReadResult{}, Forbidden("Only the conversation's participants can mark its messages as read")
	}
	// A customer reads everything not from the customer; staff and admins
	// read the customer's messages.
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

// DeleteMessageArgs are the arguments of deleteMessage.
type DeleteMessageArgs struct {
	MessageID string `json:"messageId"`
}

// DeletedPreview replaces the preview of a conversation whose latest
// message was deleted.
const DeletedPreview = "Message deleted"

// deleteMessage soft-deletes a message: its content is hidden from
// everyone and the row is kept for audit. Only its sender or an admin may.
func deleteMessage(c *MutationCtx, a DeleteMessageArgs) (Null, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return Null{}, err
	}
	m, err := c.DB.Message(c.Ctx, a.MessageID)
	if errors.Is(err, schema.ErrNoRow) {
		return Null{}, ErrMessageNotFound
	}
	if err != nil {
		return Null{}, err
	}
	conv, err := lockedConversation(c, id, m.ConversationID)
	if errors.Is(err, ErrConversationNotFound) {
		return Null{}, ErrMessageNotFound
	}
	if err != nil {
		return Null{}, err
	}
	if m.SenderID != id.Subject && id.Role != RoleAdmin {
		return Null{}, ErrNotSender
	}
	if m.IsDeleted {
		return Null{}, nil
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE messages SET is_deleted = true, deleted_at = $2, deleted_by = $3 WHERE id = $1`,
		m.ID, c.Now(), id.Subject); err != nil {
		return Null{}, fmt.Errorf("delete message: %w", err)
	}
	// The preview must not keep showing deleted content.
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE conversations SET last_message_preview = $2 WHERE id = $1
		AND NOT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND (created_at, id) > ($3, $4))`,
		conv.ID, DeletedPreview, m.CreatedAt, m.ID); err != nil {
		return Null{}, fmt.Errorf("update preview: %w", err)
	}
	return Null{}, nil
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
	SenderType     string   `json:"senderType" ts:"customer|store|admin|system"`
	SenderName     string   `json:"senderName"`
	MessageType    string   `json:"messageType" ts:"text|image|system|transfer"`
	Content        string   `json:"content"`
	IsRead         bool     `json:"isRead"`
	ReadAt         *float64 `json:"readAt,omitempty"`
	IsDeleted      bool     `json:"isDeleted"`
	// ImageAttachment is set on image messages that are not deleted.
	ImageAttachment *ImageDoc `json:"imageAttachment,omitempty"`
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
		Content: m.Content, IsRead: m.IsRead, ReadAt: millisPtr(m.ReadAt), IsDeleted: m.IsDeleted,
	}
	if m.IsDeleted {
		d.Content = "" // soft-deleted: hidden from everyone, row kept for audit
	}
	return d
}

func messageDocs(msgs []schema.Message) []MessageDoc {
	out := make([]MessageDoc, len(msgs))
	for i, m := range msgs {
		out[i] = messageDoc(m)
	}
	return out
}

// pages holds the message pages of finished runs. getMessages is the query
// re-run most (once per new message of every watched conversation), and a
// fresh page per run (3.5 KB for 20 messages) was about 6% of what the
// server allocated in bench scenario c.
var pages = sync.Pool{New: func() any { return new(pageBuf) }}

// pageBuf is a pooled page: takePage, then AppendMessages to rows, then
// release with what it returned once nothing refers to those rows.
type pageBuf struct{ rows []schema.Message }

func takePage() *pageBuf { return pages.Get().(*pageBuf) }

// release keeps rows' room for the next page, without keeping their
// strings alive. A page grown past what AppendMessages makes room for (a
// long pinned page of getMessagesPaginated) is left to the collector.
func (b *pageBuf) release(rows []schema.Message) {
	b.rows = nil
	if c := cap(rows); c > 0 && c <= schema.MaxPagePrealloc {
		clear(rows[:c])
		b.rows = rows[:0]
	}
	pages.Put(b)
}

// endCursor marks the end of the list: a page that reaches it is the last.
const endCursor = "_end"

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

// getMessages returns up to limit messages older than cursor, newest first.
// It is the body of a shared query: conversationAccess has admitted the
// caller.
func (ch *chat) getMessages(c *QueryCtx, a GetMessagesArgs) (MessagePage, error) {
	var err error
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
	buf := takePage()
	msgs, err := c.DB.AppendMessages(c.Ctx, buf.rows, a.ConversationID, schema.MessageRange{Before: before, Limit: limit + 1})
	defer buf.release(msgs)
	if err != nil {
		return MessagePage{}, err
	}
	page := MessagePage{IsDone: len(msgs) <= limit}
	if !page.IsDone {
		msgs = msgs[:limit]
		next := encodeCursor(msgs[len(msgs)-1])
		page.ContinueCursor = &next
	}
	page.Messages = messageDocs(msgs)
	return page, ch.withImages(c, msgs, page.Messages)
}

// PaginationOpts are the page arguments usePaginatedQuery sends.
type PaginationOpts struct {
	NumItems         int      `json:"numItems"`
	Cursor           *string  `json:"cursor"`
	EndCursor        *string  `json:"endCursor"`
	ID               *float64 `json:"id"`
	MaximumRowsRead  *float64 `json:"maximumRowsRead"`
	MaximumBytesRead *float64 `json:"maximumBytesRead"`
}

// GetMessagesPaginatedArgs are the arguments of getMessagesPaginated.
type GetMessagesPaginatedArgs struct {
	ConversationID string         `json:"conversationId"`
	PaginationOpts PaginationOpts `json:"paginationOpts" tstype:"PaginationOptions"`
}

// PaginatedMessages is a page in the shape usePaginatedQuery expects.
type PaginatedMessages struct {
	Page           []MessageDoc `json:"page"`
	IsDone         bool         `json:"isDone"`
	ContinueCursor string       `json:"continueCursor"`
	SplitCursor    *string      `json:"splitCursor,omitempty"`
	PageStatus     *string      `json:"pageStatus,omitempty" ts:"SplitRecommended|SplitRequired"`
}

// maxPageRows bounds a page that has grown while pinned; usePaginatedQuery
// splits pages long before (at twice numItems).
const maxPageRows = 1000

// paginationError makes usePaginatedQuery restart from the first page.
func paginationError(s string) *Error {
	return &Error{Status: 400, Code: CodeInvalidArgument, Message: fmt.Sprintf("InvalidCursor: %q is not a cursor of this query", s),
		Data: map[string]any{"isConvexSystemError": true, "paginationError": "InvalidCursor"}}
}

func parsePageCursor(s *string) (*schema.MessageCursor, bool, error) {
	if s == nil || *s == "" {
		return nil, false, nil
	}
	if *s == endCursor {
		return nil, true, nil
	}
	cur, err := decodeCursor(*s)
	if err != nil {
		return nil, false, paginationError(*s)
	}
	return cur, false, nil
}

// getMessagesPaginated is getMessages for usePaginatedQuery. A page is the
// messages after cursor up to and including its end cursor, newest first.
// The first run fixes the end (in the query's journal), so when messages
// arrive the page grows rather than slides: pages never overlap or leave
// gaps. It is the body of a shared query: conversationAccess has admitted
// the caller.
func (ch *chat) getMessagesPaginated(c *QueryCtx, a GetMessagesPaginatedArgs) (PaginatedMessages, error) {
	n := a.PaginationOpts.NumItems
	if n < 1 || n > MaxMessageLimit {
		return PaginatedMessages{}, Invalid("paginationOpts.numItems must be between 1 and %d, got %d", MaxMessageLimit, n)
	}
	before, atEnd, err := parsePageCursor(a.PaginationOpts.Cursor)
	if err != nil {
		return PaginatedMessages{}, err
	}
	convID := a.ConversationID
	if atEnd {
		return PaginatedMessages{Page: []MessageDoc{}, IsDone: true, ContinueCursor: endCursor}, nil
	}
	end := a.PaginationOpts.EndCursor
	if end == nil && c.Journal() != "" {
		j := c.Journal()
		end = &j
	}
	var out PaginatedMessages
	buf := takePage()
	msgs := buf.rows
	defer func() { buf.release(msgs) }()
	switch until, untilEnd, err := parsePageCursor(end); {
	case err != nil:
		return PaginatedMessages{}, err
	case end == nil || *end == "":
		// First run: numItems messages, and the end is where they stop.
		msgs, err = c.DB.AppendMessages(c.Ctx, msgs, convID, schema.MessageRange{Before: before, Limit: n + 1})
		if err != nil {
			return PaginatedMessages{}, err
		}
		if len(msgs) <= n {
			out.IsDone, out.ContinueCursor = true, endCursor
		} else {
			msgs = msgs[:n]
			out.ContinueCursor = encodeCursor(msgs[n-1])
		}
	case untilEnd:
		msgs, err = c.DB.AppendMessages(c.Ctx, msgs, convID, schema.MessageRange{Before: before, Limit: maxPageRows + 1})
		if err != nil {
			return PaginatedMessages{}, err
		}
		out.IsDone, out.ContinueCursor = true, endCursor
	default:
		msgs, err = c.DB.AppendMessages(c.Ctx, msgs, convID, schema.MessageRange{Before: before, Until: until, Limit: maxPageRows + 1})
		if err != nil {
			return PaginatedMessages{}, err
		}
		out.ContinueCursor = *end
	}
	c.SetJournal(out.ContinueCursor)
	status := ""
	switch {
	case len(msgs) > maxPageRows:
		// The pinned range holds more than one page may: what is left out
		// would be a gap, so the client must split before showing it.
		msgs, status = msgs[:maxPageRows], "SplitRequired"
	case len(msgs) > 2*n:
		status = "SplitRecommended"
	}
	out.Page = messageDocs(msgs)
	if status != "" {
		split := encodeCursor(msgs[len(msgs)/2-1])
		out.SplitCursor, out.PageStatus = &split, &status
	}
	return out, ch.withImages(c, msgs, out.Page)
}

// getUnreadCount is the caller's total of unread messages from the other
// side across their active conversations.
func getUnreadCount(c *QueryCtx, _ EmptyArgs) (int, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return 0, err
	}
	return c.DB.UnreadTotal(c.Ctx, inbox(id, "active"), customerSide(id))
}
