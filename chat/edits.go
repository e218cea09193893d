package chat

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// DefaultEditWindow is how long after sending a message its sender may
// edit it, unless Config.EditWindow says otherwise.
const DefaultEditWindow = 15 * time.Minute

// EditMessageArgs are the arguments of editMessage.
type EditMessageArgs struct {
	MessageID string `json:"messageId"`
	Content   string `json:"content"`
}

// editable reports whether a message of type t may be edited: text, and
// the caption of an image, location or meeting. Notices are history.
func editable(t string) bool {
	return t == "text" || t == "image" || t == "location" || t == "meeting"
}

// editMessage replaces a message's content. Only its sender may, within
// the edit window of its sending (admins: at any time), while it is not
// deleted and its conversation takes messages. The replaced version is
// kept (getMessageHistory); an unchanged content writes nothing.
func (ch *api) editMessage(c *functions.MutationCtx, a EditMessageArgs) (functions.Null, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return functions.Null{}, err
	}
	t := tables{c.DB}
	m, err := t.Message(c.Ctx, a.MessageID)
	if errors.Is(err, schema.ErrNoRow) {
		return functions.Null{}, ErrMessageNotFound
	}
	if err != nil {
		return functions.Null{}, err
	}
	conv, err := lockedConversation(c, id, m.ConversationID)
	if errors.Is(err, ErrConversationNotFound) {
		return functions.Null{}, ErrMessageNotFound // an outsider learns nothing
	}
	if err != nil {
		return functions.Null{}, err
	}
	if m.SenderID != id.Subject {
		return functions.Null{}, ErrNotEditor
	}
	switch {
	case m.IsDeleted:
		return functions.Null{}, ErrEditDeleted
	case !editable(m.MessageType):
		return functions.Null{}, functions.Invalid("A %s message cannot be edited", m.MessageType)
	case id.Role != functions.RoleAdmin && c.Now().Sub(m.CreatedAt) > ch.cfg.EditWindow:
		return functions.Null{}, functions.Forbidden(fmt.Sprintf("Messages can only be edited within %s of sending", windowText(ch.cfg.EditWindow)))
	case conv.IsBlocked:
		return functions.Null{}, ErrConversationBlocked
	case conv.Status == "closed":
		return functions.Null{}, ErrClosed
	}
	content := strings.TrimSpace(a.Content)
	if content == "" && m.MessageType == "text" {
		return functions.Null{}, functions.Invalid("Message content must not be empty")
	}
	if n := utf8.RuneCountInString(content); n > MaxContentChars {
		return functions.Null{}, functions.Invalid("Message content exceeds %d characters (got %d)", MaxContentChars, n)
	}
	if content == m.Content {
		return functions.Null{}, nil
	}
	// The edit's time is after the version it replaces, whatever the
	// clock said when that one was written (see messageTime).
	at := c.Now().Truncate(time.Microsecond)
	last := m.CreatedAt
	if m.EditedAt != nil {
		last = *m.EditedAt
	}
	if !at.After(last) {
		at = last.Add(time.Microsecond)
	}
	pv := messagePreview(content, m.ImageFileID, m.Location, m.Meeting)
	edited := schema.Millis(at)
	emitMessage(c, eventMessageEdited, MessageEventDoc{ID: m.ID, SenderID: m.SenderID, SenderType: m.SenderType,
		MessageType: m.MessageType, Content: content, CreatedAt: schema.Millis(m.CreatedAt), EditedAt: &edited,
		ImageFileID: m.ImageFileID}, m.ConversationID)
	return functions.Null{}, t.editMessage(c.Ctx, m, content, pv, id.Subject, at)
}

// windowText says a window the way people do: "15 minutes", "1 hour".
func windowText(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	}
	return d.String()
}

// MessageIDArgs name one message.
type MessageIDArgs struct {
	MessageID string `json:"messageId"`
}

// VersionDoc is one version of a message.
type VersionDoc struct {
	Version int    `json:"version"` // 1 is what was sent
	Content string `json:"content"`
	// WrittenAt is when this version was sent or written.
	WrittenAt float64 `json:"writtenAt"`
	// ReplacedAt is when the next version replaced it; absent on the
	// current one.
	ReplacedAt *float64 `json:"replacedAt,omitempty"`
}

// MessageHistory is the result of getMessageHistory.
type MessageHistory struct {
	MessageID string       `json:"messageId"`
	Versions  []VersionDoc `json:"versions"` // oldest first; the last is the current content
}

// getMessageHistory lists a message's versions, for those who may see its
// conversation. A deleted message's history is as hidden as its content.
func getMessageHistory(c *functions.QueryCtx, a MessageIDArgs) (MessageHistory, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return MessageHistory{}, err
	}
	t := tables{c.DB}
	m, err := t.MessageSeen(c.Ctx, a.MessageID)
	if errors.Is(err, schema.ErrNoRow) {
		return MessageHistory{}, ErrMessageNotFound
	}
	if err != nil {
		return MessageHistory{}, err
	}
	conv, err := t.ConversationMembership(c.Ctx, m.ConversationID)
	conv, err = withMember(c.Ctx, t, id, conv, err)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && !canSee(id, conv)) {
		return MessageHistory{}, ErrMessageNotFound
	}
	if err != nil {
		return MessageHistory{}, err
	}
	out := MessageHistory{MessageID: m.ID, Versions: []VersionDoc{}}
	if m.IsDeleted {
		return out, nil
	}
	past, err := t.Versions(c.Ctx, m.ID)
	if err != nil {
		return MessageHistory{}, err
	}
	for _, v := range past {
		replaced := schema.Millis(v.ReplacedAt)
		out.Versions = append(out.Versions, VersionDoc{Version: v.Version, Content: v.Content,
			WrittenAt: schema.Millis(v.WrittenAt), ReplacedAt: &replaced})
	}
	written := m.CreatedAt
	if m.EditedAt != nil {
		written = *m.EditedAt
	}
	out.Versions = append(out.Versions, VersionDoc{Version: len(past) + 1, Content: m.Content, WrittenAt: schema.Millis(written)})
	return out, nil
}
