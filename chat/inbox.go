package chat

import (
	"github.com/parley-chat/parley/functions"
)

// GetConversationsArgs are the arguments of getConversations.
type GetConversationsArgs struct {
	Status *string `json:"status" ts:"active|archived|closed"`
	Limit  *int    `json:"limit"`
	// Kind, OrderID, StoreID and UnreadOnly narrow the list (see
	// inboxFilters).
	Kind       *string `json:"kind" ts:"customer_to_store|customer_to_admin|store_to_admin"`
	OrderID    *string `json:"orderId"`
	StoreID    *string `json:"storeId"`
	UnreadOnly *bool   `json:"unreadOnly"`
}

// GetConversationsPaginatedArgs are the arguments of
// getConversationsPaginated: getConversations' filters and the page
// usePaginatedQuery asks for.
type GetConversationsPaginatedArgs struct {
	PaginationOpts PaginationOpts `json:"paginationOpts" tstype:"PaginationOptions"`
	Status         *string        `json:"status" ts:"active|archived|closed"`
	Kind           *string        `json:"kind" ts:"customer_to_store|customer_to_admin|store_to_admin"`
	OrderID        *string        `json:"orderId"`
	StoreID        *string        `json:"storeId"`
	UnreadOnly     *bool          `json:"unreadOnly"`
}

// PaginatedConversations is a page of conversations in the shape
// usePaginatedQuery expects.
type PaginatedConversations struct {
	Page           []ConversationDoc `json:"page"`
	IsDone         bool              `json:"isDone"`
	ContinueCursor string            `json:"continueCursor"`
	SplitCursor    *string           `json:"splitCursor,omitempty"`
	PageStatus     *string           `json:"pageStatus,omitempty" ts:"SplitRecommended|SplitRequired"`
}

// inboxFilters are the filters of both conversation lists, as given.
type inboxFilters struct {
	status, kind, orderID, storeID *string
	unreadOnly                     *bool
}

// filter checks the filters and returns what they select among the
// caller's inbox (see inbox): they only ever narrow it.
func (a inboxFilters) filter(id *functions.Identity) (ConversationFilter, error) {
	status, err := listStatus(a.status)
	if err != nil {
		return ConversationFilter{}, err
	}
	f := inbox(id, status)
	if a.kind != nil {
		switch *a.kind {
		case CustomerToStore, CustomerToAdmin, StoreToAdmin:
			f.Kind = *a.kind
		default:
			return ConversationFilter{}, functions.Invalid(`kind must be "customer_to_store", "customer_to_admin" or "store_to_admin", got %q`, *a.kind)
		}
	}
	if a.orderID != nil {
		if *a.orderID == "" {
			return ConversationFilter{}, functions.Invalid("orderId must not be empty")
		}
		f.OrderID = *a.orderID
	}
	if a.storeID != nil {
		if *a.storeID == "" {
			return ConversationFilter{}, functions.Invalid("storeId must not be empty")
		}
		f.WithStore = *a.storeID
	}
	if a.unreadOnly != nil && *a.unreadOnly {
		f.UnreadBy = inboxSide(id)
	}
	return f, nil
}

// getConversations lists the caller's conversations, newest activity
// first: a customer's own, a store's, or (admins) every support one,
// narrowed by the filters.
func getConversations(c *functions.QueryCtx, a GetConversationsArgs) ([]ConversationDoc, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return nil, err
	}
	f, err := inboxFilters{a.Status, a.Kind, a.OrderID, a.StoreID, a.UnreadOnly}.filter(id)
	if err != nil {
		return nil, err
	}
	if f.Limit, err = listLimit(a.Limit); err != nil {
		return nil, err
	}
	rows, err := tables{c.DB}.Inbox(c.Ctx, f)
	if err != nil {
		return nil, err
	}
	return conversationDocs(rows), nil
}

func conversationDocs(rows []InboxRow) []ConversationDoc {
	docs := make([]ConversationDoc, len(rows))
	for i, x := range rows {
		docs[i] = conversationDoc(x)
	}
	return docs
}

// listArgs checks a conversation list's status (default "active") and
// limit (default DefaultConversationLimit, at most MaxConversationLimit).
func listArgs(st *string, lim *int) (status string, limit int, err error) {
	if status, err = listStatus(st); err != nil {
		return "", 0, err
	}
	if limit, err = listLimit(lim); err != nil {
		return "", 0, err
	}
	return status, limit, nil
}

func listStatus(st *string) (string, error) {
	if st == nil {
		return "active", nil
	}
	switch *st {
	case "active", "archived", "closed":
		return *st, nil
	}
	return "", functions.Invalid(`status must be "active", "archived" or "closed", got %q`, *st)
}

func listLimit(lim *int) (int, error) {
	if lim == nil {
		return DefaultConversationLimit, nil
	}
	if *lim < 1 {
		return 0, functions.Invalid("limit must be at least 1, got %d", *lim)
	}
	return min(*lim, MaxConversationLimit), nil
}

func inboxCursor(x InboxRow) string {
	p := x.Position()
	return encodePosition(p.At, p.ID)
}

// parseInboxCursor is parsePageCursor for conversation lists.
func parseInboxCursor(s *string) (*InboxCursor, bool, error) {
	if s == nil || *s == "" {
		return nil, false, nil
	}
	if *s == endCursor {
		return nil, true, nil
	}
	at, id, ok := decodePosition(*s)
	if !ok {
		return nil, false, paginationError(*s)
	}
	return &InboxCursor{At: at, ID: id}, false, nil
}

// getConversationsPaginated is getConversations for usePaginatedQuery,
// paged as getMessagesPaginated is: a page is the conversations after
// cursor up to and including its end cursor, newest activity first, and
// its first run fixes the end (in the query's journal), so a page grows
// or shrinks in place and pages never overlap or leave gaps. A
// conversation with a new message moves to the top: it leaves its page
// and enters the first, whose range has no newer bound; the pages' bounds
// stay where they were.
func getConversationsPaginated(c *functions.QueryCtx, a GetConversationsPaginatedArgs) (PaginatedConversations, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return PaginatedConversations{}, err
	}
	n := a.PaginationOpts.NumItems
	if n < 1 || n > MaxConversationLimit {
		return PaginatedConversations{}, functions.Invalid("paginationOpts.numItems must be between 1 and %d, got %d", MaxConversationLimit, n)
	}
	f, err := inboxFilters{a.Status, a.Kind, a.OrderID, a.StoreID, a.UnreadOnly}.filter(id)
	if err != nil {
		return PaginatedConversations{}, err
	}
	after, atEnd, err := parseInboxCursor(a.PaginationOpts.Cursor)
	if err != nil {
		return PaginatedConversations{}, err
	}
	if atEnd {
		return PaginatedConversations{Page: []ConversationDoc{}, IsDone: true, ContinueCursor: endCursor}, nil
	}
	end := a.PaginationOpts.EndCursor
	if end == nil && c.Journal() != "" {
		j := c.Journal()
		end = &j
	}
	f.After = after
	var out PaginatedConversations
	var rows []InboxRow
	switch until, untilEnd, err := parseInboxCursor(end); {
	case err != nil:
		return PaginatedConversations{}, err
	case end == nil || *end == "":
		// First run: numItems conversations, and the end is where they stop.
		f.Limit = n + 1
		if rows, err = (tables{c.DB}).Inbox(c.Ctx, f); err != nil {
			return PaginatedConversations{}, err
		}
		if len(rows) <= n {
			out.IsDone, out.ContinueCursor = true, endCursor
		} else {
			rows = rows[:n]
			out.ContinueCursor = inboxCursor(rows[n-1])
		}
	case untilEnd:
		f.Limit = maxPageRows + 1
		if rows, err = (tables{c.DB}).Inbox(c.Ctx, f); err != nil {
			return PaginatedConversations{}, err
		}
		out.IsDone, out.ContinueCursor = true, endCursor
	default:
		f.Until, f.Limit = until, maxPageRows+1
		if rows, err = (tables{c.DB}).Inbox(c.Ctx, f); err != nil {
			return PaginatedConversations{}, err
		}
		out.ContinueCursor = *end
	}
	c.SetJournal(out.ContinueCursor)
	rows, out.SplitCursor, out.PageStatus = splitPage(rows, n, inboxCursor)
	out.Page = conversationDocs(rows)
	return out, nil
}
