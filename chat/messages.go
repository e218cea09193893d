package chat

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/functions"
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
	MessageType     string           `json:"messageType" ts:"text|image|system|location|meeting"`
	ImageAttachment *ImageAttachment `json:"imageAttachment"`
	// Location is a location message's point (messageType "location");
	// content is then an optional caption.
	Location *LocationArgs `json:"location"`
	// Meeting is a meeting message's call (messageType "meeting");
	// content is then an optional caption.
	Meeting *MeetingArgs `json:"meeting"`
}

// LocationArgs is the point a location message shares, in degrees.
type LocationArgs struct {
	Lat   float64 `json:"lat"`
	Lng   float64 `json:"lng"`
	Label *string `json:"label"`
}

// maxLocationLabel bounds a location's label, in characters.
const maxLocationLabel = 200

// checkLocation validates a location message's point and tidies its
// label (trimmed; empty means none).
func checkLocation(a *LocationArgs) (*Location, error) {
	if a == nil {
		return nil, functions.Invalid(`location is required when messageType is "location"`)
	}
	l := &Location{Lat: a.Lat, Lng: a.Lng, Label: a.Label}
	return l, validLocation(l)
}

func validLocation(l *Location) error {
	if math.IsNaN(l.Lat) || l.Lat < -90 || l.Lat > 90 {
		return functions.Invalid("location.lat must be between -90 and 90, got %v", l.Lat)
	}
	if math.IsNaN(l.Lng) || l.Lng < -180 || l.Lng > 180 {
		return functions.Invalid("location.lng must be between -180 and 180, got %v", l.Lng)
	}
	if l.Label != nil {
		label := strings.TrimSpace(*l.Label)
		if n := utf8.RuneCountInString(label); n > maxLocationLabel {
			return functions.Invalid("location.label must be at most %d characters, got %d", maxLocationLabel, n)
		}
		l.Label = &label
		if label == "" {
			l.Label = nil
		}
	}
	return nil
}

// sendMessage posts a message and returns its id. Customers and store
// staff post text and images; admins post text and images in support
// conversations and system notices anywhere. An image message attaches a
// file the caller uploaded (imageAttachment.fileId), once; its content is
// an optional caption.
func (ch *api) sendMessage(c *functions.MutationCtx, a SendMessageArgs) (string, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return "", err
	}
	var loc *Location
	var meeting *Meeting
	if a.Location != nil && a.MessageType != "location" {
		return "", functions.Invalid(`location is only allowed when messageType is "location"`)
	}
	if a.Meeting != nil && a.MessageType != "meeting" {
		return "", functions.Invalid(`meeting is only allowed when messageType is "meeting"`)
	}
	switch a.MessageType {
	case "meeting":
		if a.ImageAttachment != nil {
			return "", functions.Invalid(`imageAttachment is only allowed when messageType is "image"`)
		}
		if meeting, err = checkMeeting(a.Meeting, c.Now()); err != nil {
			return "", err
		}
	case "location":
		if a.ImageAttachment != nil {
			return "", functions.Invalid(`imageAttachment is only allowed when messageType is "image"`)
		}
		if loc, err = checkLocation(a.Location); err != nil {
			return "", err
		}
	case "text", "system":
		if a.ImageAttachment != nil {
			return "", functions.Invalid(`imageAttachment is only allowed when messageType is "image"`)
		}
		if a.MessageType == "system" && id.Role != functions.RoleAdmin {
			return "", functions.Invalid(`messageType "system" is for admins only`)
		}
	case "image":
		if a.ImageAttachment == nil {
			return "", ErrImageAttachment
		}
		if err := checkDeclaredImage(c, a.ImageAttachment); err != nil {
			return "", err
		}
	default:
		return "", functions.Invalid(`messageType must be "text", "image", "location" or "meeting", got %q`, a.MessageType)
	}
	content := strings.TrimSpace(a.Content)
	if content == "" && (a.MessageType == "text" || a.MessageType == "system") {
		return "", functions.Invalid("Message content must not be empty")
	}
	if n := utf8.RuneCountInString(content); n > MaxContentChars {
		return "", functions.Invalid("Message content exceeds %d characters (got %d)", MaxContentChars, n)
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
	var file *File
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
	// The first admin to answer a support conversation takes it, and a
	// notice says so just before the answer.
	takes := id.Role == functions.RoleAdmin && supportType(conv.Type) && conv.AssignedAdminID == nil
	at := messageTime(conv, c.Now())
	if takes && a.MessageType != "system" {
		if err := joinNotice(c, id, conv.ID, at); err != nil {
			return "", err
		}
		at = at.Add(time.Microsecond)
	}
	msgID := schema.NewID("msg")
	if err := (tables{c.DB}).sendMessage(c.Ctx, sentMessage{ID: msgID, ConversationID: conv.ID, Sender: id,
		MessageType: a.MessageType, Content: content, FileID: fileID, Location: loc, Meeting: meeting, At: at, TakeConversation: takes, InGroup: memberGated(conv.Type)}); err != nil {
		return "", err
	}
	if file != nil {
		if err := linkImage(c, *file, msgID, a.ImageAttachment.FileName); err != nil {
			return "", err
		}
	}
	emitMessage(c, eventMessageCreated, MessageEventDoc{ID: msgID, SenderID: id.Subject, SenderType: side(id),
		MessageType: a.MessageType, Content: content, CreatedAt: schema.Millis(at), ImageFileID: fileID}, conv.ID)
	if takes && ch.cfg.SupportAssigned != nil && conv.Type == CustomerToAdmin {
		name, err := displayName(c, id)
		if err != nil {
			return "", err
		}
		if err := ch.cfg.SupportAssigned(c, conv.ID, id.Subject, name); err != nil {
			return "", err
		}
	}
	if conv.Type == CustomerToAdmin && conv.AssignedAdminID == nil && customerRole(id) {
		handled := false
		if ch.cfg.AssistantWaiting != nil {
			if handled, err = ch.cfg.AssistantWaiting(c, conv, msgID, content); err != nil {
				return "", err
			}
		}
		if !handled && ch.cfg.SupportWaiting != nil {
			if err := ch.cfg.SupportWaiting(c, conv); err != nil {
				return "", err
			}
		}
	}
	return msgID, nil
}

// joinNotice posts "<name> joined the conversation" in convID at at, as
// read: it tells who answers from now on, and asks nothing of anyone, so
// no unread count shows it.
func joinNotice(c *functions.MutationCtx, id *functions.Identity, convID string, at time.Time) error {
	t := tables{c.DB}
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return err
	}
	name, err := displayName(c, id)
	if err != nil {
		return err
	}
	return readNotice(c, t, id, convID, name+" joined the conversation", at)
}

// readNotice posts a system notice of id's in convID at at, read, and
// emits its message.created; the conversation's latest message and
// preview are the caller's to update, if at all.
func readNotice(c *functions.MutationCtx, t tables, id *functions.Identity, convID, content string, at time.Time) error {
	msgID := schema.NewID("msg")
	if err := t.postReadNotice(c.Ctx, msgID, convID, id.Subject, content, at); err != nil {
		return err
	}
	emitMessage(c, eventMessageCreated, MessageEventDoc{ID: msgID, SenderID: id.Subject, SenderType: "system",
		MessageType: "system", Content: content, CreatedAt: schema.Millis(at)}, convID)
	return nil
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

// markMessagesAsRead marks what the other side sent as read: every unread
// message, or exactly the listed ones.
func markMessagesAsRead(c *functions.MutationCtx, a MarkMessagesAsReadArgs) (MarkReadResult, error) {
	id, conv, err := callerConversation(c, a.ConversationID)
	if err != nil {
		return MarkReadResult{}, err
	}
	if !isParticipant(id, conv) {
		return MarkReadResult{}, functions.Forbidden("Only the conversation's participants can mark its messages as read")
	}
	if a.MessageIDs != nil && len(*a.MessageIDs) > 1000 {
		return MarkReadResult{}, functions.Invalid("messageIds may list at most 1000 messages")
	}
	t, now := tables{c.DB}, c.Now()
	if memberGated(conv.Type) {
		return readGroup(c, t, conv, a.MessageIDs)
	}
	ids, err := t.markRead(c.Ctx, conv.ID, conv.Type, customerSide(id, conv.Type), a.MessageIDs, now)
	if err != nil {
		return MarkReadResult{}, err
	}
	if err := t.join(c.Ctx, conv.ID, id); err != nil {
		return MarkReadResult{}, err
	}
	if err := t.setReadState(c.Ctx, conv.ID, id.Subject, now); err != nil {
		return MarkReadResult{}, err
	}
	if ids == nil {
		ids = []string{}
	}
	emitRead(c, conv.ID, id.Subject, ids, now)
	return MarkReadResult{MarkedCount: len(ids), MessageIDs: ids}, nil
}

// emitRead emits message.read for the messages a read marked, if any.
func emitRead(c *functions.MutationCtx, convID, reader string, ids []string, at time.Time) {
	if len(ids) > 0 {
		c.Emit(functions.Event{Type: eventMessageRead, ConversationID: convID,
			Data: ReadEvent{ReaderID: reader, MessageIDs: ids, ReadAt: schema.Millis(at)}})
	}
}

// readGroup is markMessagesAsRead in a group, where each participant has
// a read position: it moves to the conversation's latest message (read
// under its lock: a message still to commit will be newer, see
// messageTime), or to the newest of messageIDs.
func readGroup(c *functions.MutationCtx, t tables, conv Conversation, messageIDs *[]string) (MarkReadResult, error) {
	convID, now := conv.ID, c.Now()
	upTo := conv.CreatedAt
	if conv.LastMessageAt != nil {
		upTo = *conv.LastMessageAt
	}
	if messageIDs != nil {
		at, ok, err := t.newestOf(c.Ctx, convID, *messageIDs)
		if err != nil || !ok {
			return MarkReadResult{MessageIDs: []string{}}, err
		}
		upTo = at
	}
	ids, err := t.readGroup(c.Ctx, convID, c.Identity().Subject, upTo, now)
	if err != nil {
		return MarkReadResult{}, err
	}
	if ids == nil {
		ids = []string{}
	}
	emitRead(c, convID, c.Identity().Subject, ids, now)
	return MarkReadResult{MarkedCount: len(ids), MessageIDs: ids}, nil
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
func deleteMessage(c *functions.MutationCtx, a DeleteMessageArgs) (functions.Null, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return functions.Null{}, err
	}
	m, err := tables{c.DB}.Message(c.Ctx, a.MessageID)
	if errors.Is(err, schema.ErrNoRow) {
		return functions.Null{}, ErrMessageNotFound
	}
	if err != nil {
		return functions.Null{}, err
	}
	// Locked, and the caller must be able to see it.
	_, err = lockedConversation(c, id, m.ConversationID)
	if errors.Is(err, ErrConversationNotFound) {
		return functions.Null{}, ErrMessageNotFound
	}
	if err != nil {
		return functions.Null{}, err
	}
	if m.SenderID != id.Subject && id.Role != functions.RoleAdmin {
		return functions.Null{}, ErrNotSender
	}
	if m.IsDeleted {
		return functions.Null{}, nil
	}
	c.Emit(functions.Event{Type: eventMessageDeleted, ConversationID: m.ConversationID, MessageID: m.ID,
		Data: map[string]any{"deletedBy": id.Subject, "senderId": m.SenderID}})
	return functions.Null{}, tables{c.DB}.deleteMessage(c.Ctx, m, id.Subject, c.Now())
}

// GetMessagesArgs are the arguments of getMessages.
type GetMessagesArgs struct {
	ConversationID string  `json:"conversationId"`
	Limit          *int    `json:"limit"`
	Cursor         *string `json:"cursor"`
	// Offset skips that many of the newest messages first: page k of a
	// client ported from REST is {offset: k*limit, limit}. Not with cursor.
	Offset *int `json:"offset"`
	// IncludeTotal adds total, the conversation's message count.
	IncludeTotal *bool `json:"includeTotal"`
}

// MessageDoc is a message as queries return it.
type MessageDoc struct {
	ID             string   `json:"_id"`
	CreationTime   float64  `json:"_creationTime"`
	ConversationID string   `json:"conversationId"`
	SenderID       string   `json:"senderId"`
	SenderType     string   `json:"senderType" ts:"customer|store|admin|system|assistant"`
	SenderName     string   `json:"senderName"`
	MessageType    string   `json:"messageType" ts:"text|image|system|transfer|location|meeting"`
	Content        string   `json:"content"`
	IsRead         bool     `json:"isRead"`
	ReadAt         *float64 `json:"readAt,omitempty"`
	IsDeleted      bool     `json:"isDeleted"`
	// EditedAt is when the content was last edited (getMessageHistory
	// has the versions).
	EditedAt *float64 `json:"editedAt,omitempty"`
	// ImageAttachment is set on image messages that are not deleted.
	ImageAttachment *ImageDoc `json:"imageAttachment,omitempty"`
	// Location is set on location messages that are not deleted.
	Location *Location `json:"location,omitempty"`
	// Meeting is set on meeting messages that are not deleted.
	Meeting *Meeting `json:"meeting,omitempty"`
	// Status is how far a message has got (getMessages and
	// getMessagesPaginated; not on notices or deleted messages): "sent",
	// "delivered" (a client of the other side has received it; in a
	// group, one of every other participant's) or "read" (by the other
	// side; in a group, by every other participant).
	Status string `json:"status,omitempty" ts:"sent|delivered|read"`
	// DeliveredTo and ReadBy list, in a group, the other participants
	// (user ids) whom the message has reached and who have read it.
	DeliveredTo []string `json:"deliveredTo,omitempty"`
	ReadBy      []string `json:"readBy,omitempty"`
	// Receipts say, in a group or direct channel, when the message
	// reached each other participant and when they read it.
	Receipts []ReceiptDoc `json:"receipts,omitempty"`
	// Streaming is true on an assistant's answer while its text still
	// grows (content is the text so far).
	Streaming bool `json:"streaming,omitempty"`
	// Parts are an assistant's tool steps, in order.
	Parts []MessagePart `json:"parts,omitempty"`
	// Interrupted says why an assistant's answer stopped before its end:
	// an agent took the chat over, or the model failed. Content is what
	// it had said.
	Interrupted string `json:"interrupted,omitempty" ts:"takeover|error|cancelled"`
}

// MessagePage is the result of getMessages: newest first.
type MessagePage struct {
	Messages       []MessageDoc `json:"messages"`
	IsDone         bool         `json:"isDone"`
	ContinueCursor *string      `json:"continueCursor,omitempty"`
	// Total is the conversation's message count, when includeTotal asked.
	Total *int `json:"total,omitempty"`
}

func messageDoc(m Message) MessageDoc {
	d := MessageDoc{
		ID: m.ID, CreationTime: schema.Millis(m.CreatedAt), ConversationID: m.ConversationID,
		SenderID: m.SenderID, SenderType: m.SenderType, SenderName: m.SenderName, MessageType: m.MessageType,
		Content: m.Content, IsRead: m.IsRead, ReadAt: millisPtr(m.ReadAt), IsDeleted: m.IsDeleted, EditedAt: millisPtr(m.EditedAt),
	}
	if m.IsDeleted {
		d.Content = "" // soft-deleted: hidden from everyone, row kept for audit
	} else {
		d.Location, d.Meeting = m.Location, m.Meeting
		if a := m.Assistant; a != nil {
			d.Streaming, d.Parts, d.Interrupted = a.Streaming, a.Parts, a.Interrupted
		}
	}
	return d
}

func messageDocs(msgs []Message) []MessageDoc {
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
type pageBuf struct{ rows []Message }

func takePage() *pageBuf { return pages.Get().(*pageBuf) }

// release keeps rows' room for the next page, without keeping their
// strings alive. A page grown past what AppendMessages makes room for (a
// long pinned page of getMessagesPaginated) is left to the collector.
func (b *pageBuf) release(rows []Message) {
	b.rows = nil
	if c := cap(rows); c > 0 && c <= MaxPagePrealloc {
		clear(rows[:c])
		b.rows = rows[:0]
	}
	pages.Put(b)
}

// endCursor marks the end of the list: a page that reaches it is the last.
const endCursor = "_end"

// encodePosition makes the cursor of a place in a newest-first list
// ordered by a time and then an id: a message's (created_at, id), a
// conversation's (latest activity, id). Times keep Postgres' microseconds.
func encodePosition(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "." + id))
}

// decodePosition reads a cursor of encodePosition's.
func decodePosition(s string) (at time.Time, id string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", false
	}
	micros, id, ok := strings.Cut(string(b), ".")
	us, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", false
	}
	return time.UnixMicro(us), id, true
}

func encodeCursor(m Message) string { return encodePosition(m.CreatedAt, m.ID) }

func decodeCursor(s string) (*MessageCursor, error) {
	if at, id, ok := decodePosition(s); ok {
		return &MessageCursor{CreatedAt: at, ID: id}, nil
	}
	return nil, functions.Invalid("Invalid cursor %q", s)
}

// getMessages returns up to limit messages older than cursor, newest first.
// It is the body of a shared query: conversationAccess has admitted the
// caller.
func (ch *api) getMessages(c *functions.QueryCtx, a GetMessagesArgs) (MessagePage, error) {
	var err error
	limit := DefaultMessageLimit
	if a.Limit != nil {
		if *a.Limit < 1 || *a.Limit > MaxMessageLimit {
			return MessagePage{}, functions.Invalid("limit must be between 1 and %d, got %d", MaxMessageLimit, *a.Limit)
		}
		limit = *a.Limit
	}
	var before *MessageCursor
	if a.Cursor != nil && *a.Cursor != "" {
		if before, err = decodeCursor(*a.Cursor); err != nil {
			return MessagePage{}, err
		}
	}
	offset := 0
	if a.Offset != nil {
		if *a.Offset < 0 || *a.Offset > MaxMessageOffset {
			return MessagePage{}, functions.Invalid("offset must be between 0 and %d, got %d", MaxMessageOffset, *a.Offset)
		}
		if before != nil {
			return MessagePage{}, functions.Invalid("offset and cursor cannot be combined")
		}
		offset = *a.Offset
	}
	buf := takePage()
	msgs, err := tables{c.DB}.AppendMessages(c.Ctx, buf.rows, a.ConversationID, MessageRange{Before: before, Limit: limit + 1, Offset: offset})
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
	ch.withStreams(c, page.Messages)
	if a.IncludeTotal != nil && *a.IncludeTotal {
		n, err := tables{c.DB}.CountMessages(c.Ctx, a.ConversationID)
		if err != nil {
			return MessagePage{}, err
		}
		page.Total = &n
	}
	if err := withReceipts(c, a.ConversationID, msgs, page.Messages); err != nil {
		return MessagePage{}, err
	}
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

// splitPage bounds the rows of a pinned page (read up to maxPageRows+1)
// of numItems n: beyond maxPageRows what is left out would be a gap, so
// the client must split before showing it (SplitRequired); beyond twice n
// it should (SplitRecommended). Either way the split cursor is the middle
// row's, by cursor.
func splitPage[T any](rows []T, n int, cursor func(T) string) (page []T, splitCursor, pageStatus *string) {
	status := ""
	switch {
	case len(rows) > maxPageRows:
		rows, status = rows[:maxPageRows], "SplitRequired"
	case len(rows) > 2*n:
		status = "SplitRecommended"
	}
	if status == "" {
		return rows, nil, nil
	}
	split := cursor(rows[len(rows)/2-1])
	return rows, &split, &status
}

// paginationError makes usePaginatedQuery restart from the first page.
func paginationError(s string) *functions.Error {
	return &functions.Error{Status: 400, Code: functions.CodeInvalidArgument, Message: fmt.Sprintf("InvalidCursor: %q is not a cursor of this query", s),
		Data: map[string]any{"isConvexSystemError": true, "paginationError": "InvalidCursor"}}
}

func parsePageCursor(s *string) (*MessageCursor, bool, error) {
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
func (ch *api) getMessagesPaginated(c *functions.QueryCtx, a GetMessagesPaginatedArgs) (PaginatedMessages, error) {
	n := a.PaginationOpts.NumItems
	if n < 1 || n > MaxMessageLimit {
		return PaginatedMessages{}, functions.Invalid("paginationOpts.numItems must be between 1 and %d, got %d", MaxMessageLimit, n)
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
		msgs, err = tables{c.DB}.AppendMessages(c.Ctx, msgs, convID, MessageRange{Before: before, Limit: n + 1})
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
		msgs, err = tables{c.DB}.AppendMessages(c.Ctx, msgs, convID, MessageRange{Before: before, Limit: maxPageRows + 1})
		if err != nil {
			return PaginatedMessages{}, err
		}
		out.IsDone, out.ContinueCursor = true, endCursor
	default:
		msgs, err = tables{c.DB}.AppendMessages(c.Ctx, msgs, convID, MessageRange{Before: before, Until: until, Limit: maxPageRows + 1})
		if err != nil {
			return PaginatedMessages{}, err
		}
		out.ContinueCursor = *end
	}
	c.SetJournal(out.ContinueCursor)
	msgs, out.SplitCursor, out.PageStatus = splitPage(msgs, n, encodeCursor)
	out.Page = messageDocs(msgs)
	ch.withStreams(c, out.Page)
	if err := withReceipts(c, convID, msgs, out.Page); err != nil {
		return PaginatedMessages{}, err
	}
	return out, ch.withImages(c, msgs, out.Page)
}

// getUnreadCount is the caller's total of unread messages from the other
// side across their active conversations.
func getUnreadCount(c *functions.QueryCtx, _ functions.EmptyArgs) (int, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return 0, err
	}
	return tables{c.DB}.UnreadTotal(c.Ctx, inbox(id, "active"), inboxSide(id))
}
