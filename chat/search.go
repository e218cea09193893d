package chat

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Search limits.
const (
	DefaultSearchLimit = 20
	MaxSearchLimit     = 50
	maxSearchQuery     = 200 // characters
)

// SearchMessagesArgs are the arguments of searchMessages.
type SearchMessagesArgs struct {
	// Query is what to look for, as people type it in a search box:
	// words, "a phrase", -excluded, or.
	Query          string  `json:"query"`
	ConversationID *string `json:"conversationId"`
	Limit          *int    `json:"limit"`
	Cursor         *string `json:"cursor"`
}

// SearchResult is the result of searchMessages: the best matches first.
type SearchResult struct {
	Messages []MessageDoc `json:"messages"`
	// Cursor continues the search after the last of these; absent at the
	// end.
	Cursor *string `json:"cursor,omitempty"`
}

// searchCursor is a position in a search's ranked list.
type searchCursor struct {
	Rank float32
	At   time.Time
	ID   string
}

func encodeSearchCursor(c searchCursor) string {
	s := strconv.FormatFloat(float64(c.Rank), 'g', -1, 32) + "|" + strconv.FormatInt(c.At.UnixMicro(), 10) + "|" + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeSearchCursor(s string) (*searchCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if parts := strings.SplitN(string(b), "|", 3); len(parts) == 3 && parts[2] != "" {
			rank, rerr := strconv.ParseFloat(parts[0], 32)
			us, terr := strconv.ParseInt(parts[1], 10, 64)
			if rerr == nil && terr == nil && !math.IsNaN(rank) {
				return &searchCursor{Rank: float32(rank), At: time.UnixMicro(us), ID: parts[2]}, nil
			}
		}
	}
	return nil, functions.Invalid("Invalid cursor %q", s)
}

// searchMessages finds messages by their words, among those the caller
// may see (one conversation's with conversationId), best matches first
// (ts_rank, then newest). The query is Postgres' websearch syntax, passed
// as a parameter: never part of the SQL. Deleted messages never match;
// notices do.
func (ch *api) searchMessages(c *functions.QueryCtx, a SearchMessagesArgs) (SearchResult, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return SearchResult{}, err
	}
	q := strings.TrimSpace(a.Query)
	switch n := utf8.RuneCountInString(q); {
	case n == 0:
		return SearchResult{}, functions.Invalid("query must not be empty")
	case n > maxSearchQuery:
		return SearchResult{}, functions.Invalid("query must be at most %d characters, got %d", maxSearchQuery, n)
	}
	limit := DefaultSearchLimit
	if a.Limit != nil {
		if *a.Limit < 1 || *a.Limit > MaxSearchLimit {
			return SearchResult{}, functions.Invalid("limit must be between 1 and %d, got %d", MaxSearchLimit, *a.Limit)
		}
		limit = *a.Limit
	}
	var after *searchCursor
	if a.Cursor != nil && *a.Cursor != "" {
		if after, err = decodeSearchCursor(*a.Cursor); err != nil {
			return SearchResult{}, err
		}
	}
	t := tables{c.DB}
	scope := SearchScope{Org: id.Org}
	switch {
	case a.ConversationID != nil:
		conv, err := t.ConversationMembership(c.Ctx, *a.ConversationID)
		conv, err = withMember(c.Ctx, t, id, conv, err)
		if errors.Is(err, schema.ErrNoRow) || (err == nil && !canSee(id, conv)) {
			return SearchResult{}, ErrConversationNotFound
		}
		if err != nil {
			return SearchResult{}, err
		}
		scope.ConversationID = conv.ID
	case customerRole(id):
		scope.CustomerID, scope.MemberID = id.Subject, id.Subject
	case id.Role == functions.RoleStore:
		scope.StoreID, scope.MemberID = id.StoreID, id.Subject
	}
	hits, err := t.SearchMessages(c.Ctx, scope, q, after, limit+1)
	if err != nil {
		return SearchResult{}, err
	}
	out := SearchResult{}
	if len(hits) > limit {
		hits = hits[:limit]
		last := hits[len(hits)-1]
		next := encodeSearchCursor(searchCursor{Rank: last.Rank, At: last.CreatedAt, ID: last.ID})
		out.Cursor = &next
	}
	msgs := make([]Message, len(hits))
	for i, h := range hits {
		msgs[i] = h.Message
	}
	out.Messages = messageDocs(msgs)
	return out, ch.withImages(c, msgs, out.Messages)
}
