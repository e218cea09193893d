package chat

import (
	"errors"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Delivery states of a message (MessageDoc.Status).
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
)

// MarkDeliveredArgs are the arguments of markDelivered.
type MarkDeliveredArgs struct {
	ConversationID string `json:"conversationId"`
	// UpToMessageID is the newest message the caller's client has
	// received: it and every older one are delivered to the caller.
	UpToMessageID string `json:"upToMessageId"`
}

// Delivered is the result of markDelivered.
type Delivered struct {
	// Moved is false when the caller's position already covered the
	// message (another of their clients was first): nothing was written.
	Moved bool `json:"moved"`
	// DeliveredUpTo is the creation time of upToMessageId.
	DeliveredUpTo float64 `json:"deliveredUpTo"`
}

// ErrNotRecipient answers markDelivered from a caller who does not speak
// in the conversation (an admin moderating a store conversation).
var ErrNotRecipient = functions.Forbidden("Only the conversation's participants can acknowledge its messages")

// markDelivered records that one of the caller's clients has received the
// conversation's messages up to upToMessageId: one write per batch, and
// none when the caller's position is already there.
func markDelivered(c *functions.MutationCtx, a MarkDeliveredArgs) (Delivered, error) {
	id, conv, err := callerConversation(c, a.ConversationID)
	if err != nil {
		return Delivered{}, err
	}
	if a.UpToMessageID == "" {
		return Delivered{}, functions.Invalid("upToMessageId is required")
	}
	if !isParticipant(id, conv) {
		return Delivered{}, ErrNotRecipient
	}
	at, moved, err := tables{c.DB}.deliver(c.Ctx, conv.ID, a.UpToMessageID, id, memberGated(conv.Type), c.Now())
	if errors.Is(err, schema.ErrNoRow) {
		return Delivered{}, ErrMessageNotFound
	}
	if err != nil {
		return Delivered{}, err
	}
	return Delivered{Moved: moved, DeliveredUpTo: schema.Millis(at)}, nil
}

// withReceipts sets the delivery state of docs (msgs' documents) from the
// conversation's receipts: a message is read when read (one-to-one: its
// isRead; a group: by every other participant), delivered when a client of
// the other side (a group: of every other participant) has received it,
// else sent. In a group, DeliveredTo and ReadBy name the others it has
// reached. Notices and deleted messages have no state.
func withReceipts(c *functions.QueryCtx, convID string, msgs []Message, docs []MessageDoc) error {
	if len(msgs) == 0 {
		return nil
	}
	t := tables{c.DB}
	convType, rs, err := t.Receipts(c.Ctx, convID)
	if err != nil {
		return err
	}
	var marks map[string]*Marks
	if memberGated(convType) {
		oldest := msgs[0].CreatedAt
		for _, m := range msgs {
			if m.CreatedAt.Before(oldest) {
				oldest = m.CreatedAt
			}
		}
		if marks, err = t.MarksSince(c.Ctx, convID, oldest); err != nil {
			return err
		}
	}
	for i, m := range msgs {
		if m.IsDeleted || m.MessageType == "system" || m.MessageType == "transfer" {
			continue
		}
		if memberGated(convType) {
			docs[i].Status, docs[i].DeliveredTo, docs[i].ReadBy = groupStatus(rs, m)
			docs[i].Receipts = receiptsOf(rs, marks, m)
		} else {
			docs[i].Status = directStatus(rs, convType, m)
		}
	}
	return nil
}

// covers reports whether a position reaches a message.
func covers(pos *time.Time, m Message) bool { return pos != nil && !pos.Before(m.CreatedAt) }

// directStatus is a one-to-one message's state: the other side is the
// asking side (the customer; a store with support) for the answering
// side's messages, and the store's staff or support for the asking side's.
func directStatus(rs []Receipt, convType string, m Message) string {
	if m.IsRead {
		return StatusRead
	}
	fromAsker := askingSide(m.SenderType, convType)
	for _, r := range rs {
		if askingSide(r.Role, convType) != fromAsker && covers(r.DeliveredUpTo, m) {
			return StatusDelivered
		}
	}
	return StatusSent
}

// groupStatus is a group message's state and the others it reached: read
// positions count as delivered ones (what was read was received).
func groupStatus(rs []Receipt, m Message) (status string, deliveredTo, readBy []string) {
	others := 0
	deliveredTo, readBy = []string{}, []string{}
	for _, r := range rs {
		if r.UserID == m.SenderID {
			continue
		}
		others++
		read := covers(r.ReadUpTo, m)
		if read {
			readBy = append(readBy, r.UserID)
		}
		if read || covers(r.DeliveredUpTo, m) {
			deliveredTo = append(deliveredTo, r.UserID)
		}
	}
	switch {
	case others > 0 && len(readBy) == others:
		return StatusRead, deliveredTo, readBy
	case others > 0 && len(deliveredTo) == others:
		return StatusDelivered, deliveredTo, readBy
	}
	return StatusSent, deliveredTo, readBy
}

// ReceiptDoc is when a group's or direct channel's message reached one of
// the other participants and when they read it (MessageDoc.Receipts).
type ReceiptDoc struct {
	UserID string `json:"userId"`
	// DeliveredAt is when one of their clients first acknowledged it (or
	// they read it, if earlier); absent while it has not reached them.
	DeliveredAt *float64 `json:"deliveredAt,omitempty"`
	// ReadAt is when they read it; absent while they have not.
	ReadAt *float64 `json:"readAt,omitempty"`
}

// receiptsOf is m's receipt for each other participant, in the order
// they joined, from their receipt marks. A position that reaches m
// without a mark (set by SQL, not by Parley) says that, not when: the
// time is then absent, as the position's own is no message's.
func receiptsOf(rs []Receipt, marks map[string]*Marks, m Message) []ReceiptDoc {
	out := []ReceiptDoc{}
	for _, r := range rs {
		if r.UserID == m.SenderID {
			continue
		}
		doc := ReceiptDoc{UserID: r.UserID}
		if ms := marks[r.UserID]; ms != nil {
			read, delivered := firstReaching(ms.Read, m.CreatedAt), firstReaching(ms.Delivered, m.CreatedAt)
			if delivered == nil || (read != nil && read.Before(*delivered)) {
				delivered = read // what was read was received
			}
			doc.ReadAt, doc.DeliveredAt = millisPtr(read), millisPtr(delivered)
		}
		out = append(out, doc)
	}
	return out
}

// ParticipantInfo is a participant as getParticipants shows them.
type ParticipantInfo struct {
	UserID   string  `json:"userId"`
	Name     string  `json:"name"`
	Role     string  `json:"role" ts:"customer|store|admin"`
	JoinedAt float64 `json:"joinedAt"`
	// LastReadAt is when they last marked messages read (in a group: the
	// time of the newest message they have read).
	LastReadAt *float64 `json:"lastReadAt,omitempty"`
	// LastDeliveredAt is when one of their clients last acknowledged new
	// messages (markDelivered).
	LastDeliveredAt *float64 `json:"lastDeliveredAt,omitempty"`
	// LastSeenAt is when they were last active anywhere: a call, or an
	// open session (kept to within 30 seconds).
	LastSeenAt *float64 `json:"lastSeenAt,omitempty"`
	// IsOnline says a session of theirs is open.
	IsOnline bool `json:"isOnline"`
}

// getParticipants lists a conversation's participants: who joined it
// (its customer at creation, staff and support when they first send,
// read or receive), with their read and delivery times, when they were
// last seen and whether they are online. It is the body of a shared
// query: conversationAccess has admitted the caller. It re-runs when a
// participant's online_until passes, so a vanished client goes offline.
func getParticipants(c *functions.QueryCtx, a ConversationIDArgs) ([]ParticipantInfo, error) {
	rows, err := tables{c.DB}.ParticipantsOf(c.Ctx, a.ConversationID)
	if err != nil {
		return nil, err
	}
	now := c.Now()
	out := make([]ParticipantInfo, len(rows))
	for i, p := range rows {
		out[i] = ParticipantInfo{UserID: p.UserID, Name: p.Name, Role: p.Role, JoinedAt: schema.Millis(p.JoinedAt),
			LastReadAt: millisPtr(p.LastReadAt), LastDeliveredAt: millisPtr(p.LastDeliveredAt), LastSeenAt: millisPtr(p.LastSeenAt)}
		if p.OnlineUntil != nil && p.OnlineUntil.After(now) {
			out[i].IsOnline = true
			c.RefreshAt(*p.OnlineUntil)
		}
	}
	return out, nil
}
