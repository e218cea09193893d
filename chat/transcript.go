package chat

import (
	"slices"
	"time"

	"github.com/parley-chat/parley/functions"
)

// TranscriptPage is how many messages ReadTranscript reads per statement.
const TranscriptPage = 500

// TranscriptSource is a conversation as a transcript shows it: what it is
// about and all its messages (notices included), oldest first, as
// getMessages documents them (a deleted message emptied, images with
// signed URLs).
type TranscriptSource struct {
	ConversationID string
	Type, Status   string
	Subject        *string
	OrderID        *string
	StoreID        *string
	Title          *string
	CreatedAt      time.Time
	Messages       []MessageDoc
	// Truncated says the conversation has more than max messages: the
	// oldest ones are left out.
	Truncated bool
}

// ReadTranscript reads conversation convID for a transcript: at most max
// messages, the newest ones, oldest first; media signs the images' URLs
// (nil: none). It is for a query that chat's access rule has admitted
// (ConversationAccess, or QueryShared with it): it checks nothing itself.
func ReadTranscript(c *functions.QueryCtx, media Media, convID string, max int) (TranscriptSource, error) {
	t := tables{c.DB}
	conv, err := t.Conversation(c.Ctx, convID)
	if err != nil {
		return TranscriptSource{}, err
	}
	src := TranscriptSource{ConversationID: conv.ID, Type: conv.Type, Status: conv.Status, Subject: conv.Subject,
		OrderID: conv.OrderID, StoreID: conv.StoreID, Title: conv.Title, CreatedAt: conv.CreatedAt}
	var msgs []Message
	var before *MessageCursor
	for len(msgs) < max {
		n := min(TranscriptPage, max-len(msgs))
		page, err := t.Messages(c.Ctx, convID, MessageRange{Before: before, Limit: n + 1})
		if err != nil {
			return TranscriptSource{}, err
		}
		more := len(page) > n
		if more {
			page = page[:n]
		}
		msgs = append(msgs, page...)
		if !more {
			break
		}
		last := page[len(page)-1]
		before = &MessageCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		if len(msgs) == max {
			src.Truncated = true
		}
	}
	slices.Reverse(msgs)
	src.Messages = messageDocs(msgs)
	return src, withImages(c, media, msgs, src.Messages)
}
