package reactive_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// End-to-end tests of the chat API's flows over the sync protocol:
// usePaginatedQuery's pages, support conversations, deleting messages.

// flowWait bounds the wait for a pushed result.
const flowWait = 15 * time.Second

// flowMessage is a message as getMessages and getMessagesPaginated return it.
type flowMessage struct {
	ID          string `json:"_id"`
	SenderID    string `json:"senderId"`
	SenderType  string `json:"senderType"`
	MessageType string `json:"messageType"`
	Content     string `json:"content"`
	IsDeleted   bool   `json:"isDeleted"`
}

// flowPage is getMessagesPaginated's result.
type flowPage struct {
	Page           []flowMessage `json:"page"`
	IsDone         bool          `json:"isDone"`
	ContinueCursor string        `json:"continueCursor"`
	SplitCursor    *string       `json:"splitCursor"`
	PageStatus     *string       `json:"pageStatus"`
}

func (p flowPage) ids() []string {
	out := make([]string, len(p.Page))
	for i, m := range p.Page {
		out[i] = m.ID
	}
	return out
}

// flowDecode decodes a successful result into out.
func flowDecode(u syncclient.Update, out any) error {
	if u.Failed {
		return fmt.Errorf("query failed: %s", u.ErrorMessage)
	}
	return json.Unmarshal(u.Value, out)
}

// latestPage returns a page subscription's newest result and journal.
func latestPage(sub *syncclient.Subscription) (flowPage, *string, error) {
	u, ok := sub.Current()
	if !ok {
		return flowPage{}, nil, errors.New("no result yet")
	}
	var p flowPage
	err := flowDecode(u, &p)
	return p, u.Journal, err
}

// flowPageArgs are getMessagesPaginated's arguments as usePaginatedQuery sends
// them (id 1 for every page of one pagination).
func flowPageArgs(conv string, numItems int, cursor, endCursor *string) map[string]any {
	opts := map[string]any{"numItems": numItems, "cursor": cursor, "id": 1}
	if endCursor != nil {
		opts["endCursor"] = *endCursor
	}
	return map[string]any{"conversationId": conv, "paginationOpts": opts}
}

// conversationMessageIDs is the oracle: every message of conv, newest first.
func conversationMessageIDs(ctx context.Context, s *parleytest.Server, conv string) ([]string, error) {
	rows, err := s.DB.Query(ctx, `SELECT id FROM messages WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC`, conv)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// pageWant is what one page subscription must show.
type pageWant struct {
	sub  *syncclient.Subscription
	len  int
	end  string   // its continueCursor, which is also its journal
	same []string // when set, exactly these messages
}

// waitPages waits until every page shows what it must and the pages
// together are the conversation's messages, newest first, with no overlap
// or gap. It returns the pages.
func waitPages(t *testing.T, ctx context.Context, s *parleytest.Server, conv string, want ...pageWant) []flowPage {
	t.Helper()
	var pages []flowPage
	pgtest.Eventually(t, flowWait, func() error {
		pages = pages[:0]
		var all []string
		for i, w := range want {
			p, journal, err := latestPage(w.sub)
			if err != nil {
				return fmt.Errorf("page %d: %w", i+1, err)
			}
			if len(p.Page) != w.len {
				return fmt.Errorf("page %d has %d messages, want %d", i+1, len(p.Page), w.len)
			}
			if p.ContinueCursor != w.end {
				return fmt.Errorf("page %d ends at %q, want %q", i+1, p.ContinueCursor, w.end)
			}
			if journal == nil || *journal != w.end {
				return fmt.Errorf("page %d journal %v, want its end %q", i+1, journal, w.end)
			}
			if w.same != nil && !slices.Equal(p.ids(), w.same) {
				return fmt.Errorf("page %d changed: %v, want %v", i+1, p.ids(), w.same)
			}
			pages = append(pages, p)
			all = append(all, p.ids()...)
		}
		db, err := conversationMessageIDs(ctx, s, conv)
		if err != nil {
			return err
		}
		if !slices.Equal(all, db) {
			return fmt.Errorf("pages hold %v, the conversation %v", all, db)
		}
		return nil
	})
	return pages
}

// TestPaginatedMessagesGapless drives getMessagesPaginated as
// usePaginatedQuery does: pages grow and shrink in place as messages come
// and go, never overlapping or leaving gaps; a grown page offers a split
// whose halves are exactly the page; the journal pins a page's end across
// a reconnect.
func TestPaginatedMessagesGapless(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	john := s.Dial(t, parleytest.John, syncclient.Options{})
	conv := openConversation(t, ctx, john, pizzaArgs())
	for i := range 25 {
		sqlInsertMessage(t, ctx, s, conv, fmt.Sprintf("seed %d", i))
	}
	const path = "shared/chat:getMessagesPaginated"

	// Load pages until done, each starting at the previous one's end.
	var subs []*syncclient.Subscription
	var ends []string
	var cursor *string
	for {
		sub := subscribeWait(t, ctx, john, path, flowPageArgs(conv, 10, cursor, nil))
		p, journal, err := latestPage(sub)
		require.NoError(t, err)
		require.NotNil(t, journal, "the journal travels with the page")
		require.Equal(t, p.ContinueCursor, *journal, "the journal pins the page's end")
		require.Nil(t, p.SplitCursor)
		subs = append(subs, sub)
		ends = append(ends, p.ContinueCursor)
		if p.IsDone {
			break
		}
		cursor = &p.ContinueCursor
	}
	require.Len(t, subs, 3)
	require.Equal(t, "_end", ends[2])
	pages := waitPages(t, ctx, s, conv,
		pageWant{sub: subs[0], len: 10, end: ends[0]},
		pageWant{sub: subs[1], len: 10, end: ends[1]},
		pageWant{sub: subs[2], len: 5, end: ends[2]})

	// New messages land in page 1, which grows; its end stays.
	for i := range 3 {
		_, _, err := sendText(ctx, john, conv, fmt.Sprintf("new %d", i))
		require.NoError(t, err)
	}
	for i := range 2 {
		sqlInsertMessage(t, ctx, s, conv, fmt.Sprintf("new sql %d", i))
	}
	pages = waitPages(t, ctx, s, conv,
		pageWant{sub: subs[0], len: 15, end: ends[0]},
		pageWant{sub: subs[1], len: 10, end: ends[1], same: pages[1].ids()},
		pageWant{sub: subs[2], len: 5, end: ends[2], same: pages[2].ids()})

	// A message removed from page 2 shrinks page 2 only.
	gone := pages[1].Page[4].ID
	_, err := s.DB.Exec(ctx, `DELETE FROM messages WHERE id = $1`, gone)
	require.NoError(t, err)
	page2 := slices.DeleteFunc(pages[1].ids(), func(id string) bool { return id == gone })
	pages = waitPages(t, ctx, s, conv,
		pageWant{sub: subs[0], len: 15, end: ends[0], same: pages[0].ids()},
		pageWant{sub: subs[1], len: 9, end: ends[1], same: page2},
		pageWant{sub: subs[2], len: 5, end: ends[2], same: pages[2].ids()})

	// Past twice numItems, page 1 recommends a split; its halves are
	// exactly the page.
	for i := range 6 {
		sqlInsertMessage(t, ctx, s, conv, fmt.Sprintf("more %d", i))
	}
	pages = waitPages(t, ctx, s, conv,
		pageWant{sub: subs[0], len: 21, end: ends[0]},
		pageWant{sub: subs[1], len: 9, end: ends[1], same: page2},
		pageWant{sub: subs[2], len: 5, end: ends[2], same: pages[2].ids()})
	p1 := pages[0]
	require.NotNil(t, p1.SplitCursor, "a page of 21 > 2×10 offers a split")
	require.NotNil(t, p1.PageStatus)
	require.Equal(t, "SplitRecommended", *p1.PageStatus)
	split := *p1.SplitCursor
	first := subscribeWait(t, ctx, john, path, flowPageArgs(conv, 10, nil, &split))
	second := subscribeWait(t, ctx, john, path, flowPageArgs(conv, 10, &split, &ends[0]))
	halves := waitPages(t, ctx, s, conv,
		pageWant{sub: first, len: 10, end: split},
		pageWant{sub: second, len: 11, end: ends[0]},
		pageWant{sub: subs[1], len: 9, end: ends[1], same: page2},
		pageWant{sub: subs[2], len: 5, end: ends[2], same: pages[2].ids()})
	require.Equal(t, p1.ids(), append(halves[0].ids(), halves[1].ids()...))
	require.Nil(t, halves[0].SplitCursor)
	require.Nil(t, halves[1].SplitCursor)

	// A new connection resubscribing page 1 with its journal, as the
	// official client does after a reconnect, gets the same range although
	// a first run would stop after 10 messages.
	_, journal, err := latestPage(subs[0])
	require.NoError(t, err)
	again := s.Dial(t, parleytest.John, syncclient.Options{})
	resub, err := again.SubscribeJournal(path, flowPageArgs(conv, 10, nil, nil), journal)
	require.NoError(t, err)
	_, err = resub.Wait(ctx)
	require.NoError(t, err)
	waitPages(t, ctx, s, conv,
		pageWant{sub: resub, len: 21, end: ends[0], same: p1.ids()},
		pageWant{sub: subs[1], len: 9, end: ends[1], same: page2},
		pageWant{sub: subs[2], len: 5, end: ends[2], same: pages[2].ids()})
	// It stays live: a new message grows it like the original.
	latest, _, err := sendText(ctx, john, conv, "after the reconnect")
	require.NoError(t, err)
	pages = waitPages(t, ctx, s, conv,
		pageWant{sub: resub, len: 22, end: ends[0]},
		pageWant{sub: subs[1], len: 9, end: ends[1], same: page2},
		pageWant{sub: subs[2], len: 5, end: ends[2]})
	require.Equal(t, latest, pages[0].Page[0].ID)

	for i, sub := range append(subs, first, second, resub) {
		require.Zero(t, sub.Stats().Unchanged, "subscription %d was sent an unchanged result", i)
	}
}

// TestPaginatedMessagesArguments checks how getMessagesPaginated treats
// its page options: bad cursors and journals make usePaginatedQuery start
// over, numItems is bounded, and the options the official client may add
// are accepted.
func TestPaginatedMessagesArguments(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	john := s.Dial(t, parleytest.John, syncclient.Options{})
	conv := openConversation(t, ctx, john, pizzaArgs())
	for i := range 3 {
		sqlInsertMessage(t, ctx, s, conv, fmt.Sprintf("m%d", i))
	}
	const path = "shared/chat:getMessagesPaginated"
	args := func(opts string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"conversationId":%q,"paginationOpts":%s}`, conv, opts))
	}
	bogus := "not a cursor!"

	invalidCursor := func(t *testing.T, u syncclient.Update) {
		require.True(t, u.Failed)
		require.Contains(t, u.ErrorMessage, "InvalidCursor")
		require.Equal(t, "InvalidCursor", u.ErrorData["paginationError"])
	}
	invalidNumItems := func(t *testing.T, u syncclient.Update) {
		require.True(t, u.Failed)
		require.Equal(t, functions.CodeInvalidArgument, u.ErrorData["code"])
		require.Contains(t, u.ErrorMessage, "paginationOpts.numItems")
	}
	accepted := func(n int) func(*testing.T, syncclient.Update) {
		return func(t *testing.T, u syncclient.Update) {
			var p flowPage
			require.NoError(t, flowDecode(u, &p))
			require.Len(t, p.Page, n)
			require.True(t, p.IsDone)
		}
	}
	tests := []struct {
		name    string
		opts    string
		journal *string
		check   func(*testing.T, syncclient.Update)
	}{
		{"invalid cursor", `{"numItems":10,"cursor":"not a cursor!","id":1}`, nil, invalidCursor},
		{"base64 that is no cursor", `{"numItems":10,"cursor":"aGVsbG8","id":1}`, nil, invalidCursor},
		{"invalid end cursor", `{"numItems":10,"cursor":null,"endCursor":"not a cursor!","id":1}`, nil, invalidCursor},
		{"invalid journal", `{"numItems":10,"cursor":null,"id":1}`, &bogus, invalidCursor},
		{"numItems 0", `{"numItems":0,"cursor":null,"id":1}`, nil, invalidNumItems},
		{"numItems 101", `{"numItems":101,"cursor":null,"id":1}`, nil, invalidNumItems},
		{"numItems 100", `{"numItems":100,"cursor":null}`, nil, accepted(3)},
		{"the client's optional fields", `{"numItems":10,"cursor":null,"endCursor":null,"id":7,` +
			`"maximumRowsRead":1000,"maximumBytesRead":100000}`, nil, accepted(3)},
		{"past the end", `{"numItems":10,"cursor":"_end","id":1}`, nil, accepted(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := john.SubscribeJournal(path, args(tt.opts), tt.journal)
			require.NoError(t, err)
			u, err := sub.Wait(ctx)
			require.NoError(t, err)
			tt.check(t, u)
		})
	}
}

// requireFlowError checks a failed mutation's status and message.
func requireFlowError(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var fe *syncclient.FunctionError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, msg, fe.Message)
	require.EqualValues(t, status, fe.Data["status"], "errorData %v", fe.Data)
}

func flowMutate(ctx context.Context, c *syncclient.Client, path string, args map[string]any) error {
	_, err := c.Mutation(ctx, path, args)
	return err
}

func flowSend(ctx context.Context, c *syncclient.Client, conv, messageType, content string) error {
	return flowMutate(ctx, c, "shared/chat:sendMessage",
		map[string]any{"conversationId": conv, "content": content, "messageType": messageType})
}

// flowConversationIn finds conv in a getConversations result.
func flowConversationIn(u syncclient.Update, conv string) (chat.ConversationDoc, error) {
	var docs []chat.ConversationDoc
	if err := flowDecode(u, &docs); err != nil {
		return chat.ConversationDoc{}, err
	}
	for _, d := range docs {
		if d.ID == conv {
			return d, nil
		}
	}
	return chat.ConversationDoc{}, fmt.Errorf("conversation %s not listed", conv)
}

// waitFlowConversation waits until the getConversations subscription lists
// conv and ok accepts it.
func waitFlowConversation(t *testing.T, sub *syncclient.Subscription, conv string, ok func(chat.ConversationDoc) error) {
	t.Helper()
	waitUpdate(t, sub, flowWait, func(u syncclient.Update) error {
		d, err := flowConversationIn(u, conv)
		if err != nil {
			return err
		}
		return ok(d)
	})
}

func flowAssignedTo(admin string) func(chat.ConversationDoc) error {
	return func(d chat.ConversationDoc) error {
		if d.AssignedAdminID == nil || *d.AssignedAdminID != admin {
			return fmt.Errorf("assigned to %v, want %s", d.AssignedAdminID, admin)
		}
		return nil
	}
}

// waitFlowMessage waits until the getMessages subscription holds a message
// that ok accepts, and returns it.
func waitFlowMessage(t *testing.T, sub *syncclient.Subscription, ok func(flowMessage) bool) flowMessage {
	t.Helper()
	var found flowMessage
	waitUpdate(t, sub, flowWait, func(u syncclient.Update) error {
		var p struct {
			Messages []flowMessage `json:"messages"`
		}
		if err := flowDecode(u, &p); err != nil {
			return err
		}
		for _, m := range p.Messages {
			if ok(m) {
				found = m
				return nil
			}
		}
		return fmt.Errorf("no such message among %d", len(p.Messages))
	})
	return found
}

// TestSupportFlows follows a support conversation: the admins see it live,
// the first to answer takes it, it is transferred and blocked; admins
// moderate store conversations with system notices only.
func TestSupportFlows(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	john := s.Dial(t, parleytest.John, syncclient.Options{})
	admin := s.Dial(t, parleytest.Admin, syncclient.Options{})
	staff := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	const transfer = "shared/chat:transferConversation"

	adminList := subscribeWait(t, ctx, admin, "shared/chat:getConversations", map[string]any{})
	conv := openConversation(t, ctx, john, map[string]any{})
	waitFlowConversation(t, adminList, conv, func(d chat.ConversationDoc) error {
		if d.ConversationType != chat.CustomerToAdmin || d.AssignedAdminID != nil {
			return fmt.Errorf("listed as %s assigned to %v", d.ConversationType, d.AssignedAdminID)
		}
		return nil
	})
	johnMsgs := subscribeWait(t, ctx, john, "shared/chat:getMessages", map[string]any{"conversationId": conv})
	require.NoError(t, flowSend(ctx, john, conv, "text", "Where is my refund?"))

	// The first admin to answer takes the conversation.
	require.NoError(t, flowSend(ctx, admin, conv, "text", "Let me check."))
	waitFlowConversation(t, adminList, conv, flowAssignedTo(schema.DemoAdminID))
	waitFlowMessage(t, johnMsgs, func(m flowMessage) bool {
		return m.SenderID == schema.DemoAdminID && m.SenderType == "admin" && m.Content == "Let me check."
	})

	// Transfer: a notice in the thread, live, and the new assignee.
	require.NoError(t, flowMutate(ctx, admin, transfer, map[string]any{"conversationId": conv, "toAdminId": schema.DemoAdmin2ID}))
	notice := waitFlowMessage(t, johnMsgs, func(m flowMessage) bool { return m.MessageType == "transfer" })
	require.Contains(t, notice.Content, "Alex Admin")
	waitFlowConversation(t, adminList, conv, flowAssignedTo(schema.DemoAdmin2ID))

	transferErrors := []struct {
		name   string
		c      *syncclient.Client
		conv   string
		to     string
		status int
		msg    string
	}{
		{"to the assignee again", admin, conv, schema.DemoAdmin2ID, 409, "Conversation is already assigned to that admin"},
		{"to store staff", admin, conv, schema.DemoStaffID, 404, "Admin not found"},
		{"to a customer", admin, conv, schema.DemoCustomerID, 404, "Admin not found"},
		{"to no one", admin, conv, "admin000000000", 404, "Admin not found"},
		{"a store conversation", admin, schema.DemoConversationID, schema.DemoAdmin2ID, 400, "Only support conversations can be transferred"},
		{"by the customer", john, conv, schema.DemoAdminID, 403, chat.ErrAdminOnly.Message},
		{"by store staff", staff, conv, schema.DemoAdminID, 404, "Conversation not found"},
	}
	for _, tt := range transferErrors {
		t.Run("transfer "+tt.name, func(t *testing.T) {
			err := flowMutate(ctx, tt.c, transfer, map[string]any{"conversationId": tt.conv, "toAdminId": tt.to})
			requireFlowError(t, err, tt.status, tt.msg)
		})
	}
	waitFlowConversation(t, adminList, conv, flowAssignedTo(schema.DemoAdmin2ID))

	// Blocking stops the customer, with a notice; unblocking lets him
	// write again.
	require.NoError(t, flowMutate(ctx, admin, "shared/chat:blockConversation", map[string]any{"conversationId": conv}))
	waitFlowMessage(t, johnMsgs, func(m flowMessage) bool {
		return m.MessageType == "system" && m.Content == "Support blocked this conversation"
	})
	waitFlowConversation(t, adminList, conv, func(d chat.ConversationDoc) error {
		if !d.IsBlocked {
			return errors.New("not blocked")
		}
		return nil
	})
	requireFlowError(t, flowSend(ctx, john, conv, "text", "Hello?"), 403, "Conversation is blocked")
	requireFlowError(t, flowMutate(ctx, john, "shared/chat:unblockConversation", map[string]any{"conversationId": conv}),
		403, chat.ErrAdminOnly.Message)
	require.NoError(t, flowMutate(ctx, admin, "shared/chat:unblockConversation", map[string]any{"conversationId": conv}))
	waitFlowMessage(t, johnMsgs, func(m flowMessage) bool {
		return m.MessageType == "system" && m.Content == "Support unblocked this conversation"
	})
	require.NoError(t, flowSend(ctx, john, conv, "text", "Thanks!"))
	waitFlowMessage(t, johnMsgs, func(m flowMessage) bool { return m.Content == "Thanks!" })

	// In a store conversation an admin posts notices, not text.
	storeConv := openConversation(t, ctx, john, pizzaArgs())
	storeMsgs := subscribeWait(t, ctx, john, "shared/chat:getMessages", map[string]any{"conversationId": storeConv})
	require.NoError(t, flowSend(ctx, admin, storeConv, "system", "Please keep it friendly."))
	waitFlowMessage(t, storeMsgs, func(m flowMessage) bool {
		return m.MessageType == "system" && m.SenderType == "admin" && m.Content == "Please keep it friendly."
	})
	requireFlowError(t, flowSend(ctx, admin, storeConv, "text", "Hi from support"), 403,
		"Unauthorized to send message to this conversation")
}

// TestDeleteMessageFlows: a deleted message is hidden live from everyone
// and from the conversation's preview; only its sender or an admin may
// delete it; deleting twice is harmless; outsiders learn nothing.
func TestDeleteMessageFlows(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	john := s.Dial(t, parleytest.John, syncclient.Options{})
	staff := s.Dial(t, parleytest.PizzaStaff, syncclient.Options{})
	admin := s.Dial(t, parleytest.Admin, syncclient.Options{})
	jane := s.Dial(t, parleytest.Jane, syncclient.Options{})
	const del = "shared/chat:deleteMessage"
	deleteAs := func(c *syncclient.Client, id string) error {
		return flowMutate(ctx, c, del, map[string]any{"messageId": id})
	}

	conv := openConversation(t, ctx, john, pizzaArgs())
	staffMsgs := subscribeWait(t, ctx, staff, "shared/chat:getMessages", map[string]any{"conversationId": conv})
	staffList := subscribeWait(t, ctx, staff, "shared/chat:getConversations", map[string]any{})
	first, _, err := sendText(ctx, john, conv, "my card number is 1234")
	require.NoError(t, err)
	second, _, err := sendText(ctx, john, conv, "and the code is 999")
	require.NoError(t, err)
	waitFlowMessage(t, staffMsgs, func(m flowMessage) bool { return m.ID == second })
	preview := func(want string) func(chat.ConversationDoc) error {
		return func(d chat.ConversationDoc) error {
			if d.LastMessagePreview == nil || *d.LastMessagePreview != want {
				return fmt.Errorf("preview %v, want %q", d.LastMessagePreview, want)
			}
			return nil
		}
	}
	waitFlowConversation(t, staffList, conv, preview("and the code is 999"))
	deleted := func(id string) func(flowMessage) bool {
		return func(m flowMessage) bool { return m.ID == id && m.IsDeleted && m.Content == "" }
	}

	// An older message: hidden, the preview (of the latest) stays.
	require.NoError(t, deleteAs(john, first))
	waitFlowMessage(t, staffMsgs, deleted(first))
	waitFlowConversation(t, staffList, conv, preview("and the code is 999"))
	// The latest: the preview no longer shows it.
	require.NoError(t, deleteAs(john, second))
	waitFlowMessage(t, staffMsgs, deleted(second))
	waitFlowConversation(t, staffList, conv, preview(chat.DeletedPreview))

	// Staff may not delete the customer's message; an admin may.
	third, _, err := sendText(ctx, john, conv, "third")
	require.NoError(t, err)
	requireFlowError(t, deleteAs(staff, third), 403, "Only the sender or an admin can delete this message")
	waitFlowMessage(t, staffMsgs, func(m flowMessage) bool { return m.ID == third && !m.IsDeleted && m.Content == "third" })
	require.NoError(t, deleteAs(admin, third))
	waitFlowMessage(t, staffMsgs, deleted(third))
	waitFlowConversation(t, staffList, conv, preview(chat.DeletedPreview))
	var deletedBy string
	require.NoError(t, s.DB.QueryRow(ctx, `SELECT deleted_by FROM messages WHERE id = $1`, third).Scan(&deletedBy))
	require.Equal(t, schema.DemoAdminID, deletedBy)

	// Deleting again is a no-op success.
	require.NoError(t, deleteAs(admin, third))
	require.NoError(t, deleteAs(john, second))

	// A message that does not exist and an outsider get the same answer.
	fourth, _, err := sendText(ctx, john, conv, "fourth")
	require.NoError(t, err)
	requireFlowError(t, deleteAs(john, "msgdoesnotexist"), 404, "Message not found")
	requireFlowError(t, deleteAs(jane, fourth), 404, "Message not found")
	requireFlowError(t, deleteAs(jane, third), 404, "Message not found")
	waitFlowMessage(t, staffMsgs, func(m flowMessage) bool { return m.ID == fourth && !m.IsDeleted && m.Content == "fourth" })
	waitFlowConversation(t, staffList, conv, preview("fourth"))
}

// TestPaginatedMessagesOversizedPage: a page resubscribed with its journal
// after a long disconnect can span more messages than one run reads. It
// must then either hold them all or ask the client to split it
// (SplitRequired), never silently drop the oldest and leave a gap before
// the next page.
func TestPaginatedMessagesOversizedPage(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	john := s.Dial(t, parleytest.John, syncclient.Options{})
	conv := openConversation(t, ctx, john, pizzaArgs())
	for i := range 15 {
		sqlInsertMessage(t, ctx, s, conv, fmt.Sprintf("seed %d", i))
	}
	const path = "shared/chat:getMessagesPaginated"
	page1 := subscribeWait(t, ctx, john, path, flowPageArgs(conv, 10, nil, nil))
	p1, journal, err := latestPage(page1)
	require.NoError(t, err)
	require.Len(t, p1.Page, 10)
	require.NotNil(t, journal)
	end := p1.ContinueCursor
	require.NoError(t, john.Close())

	// While the client is away, 1200 messages arrive.
	_, err = s.DB.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, created_at)
		SELECT 'msgbulk' || lpad(g::text, 5, '0'), $1, $2, 'store', 'text', 'bulk ' || g, clock_timestamp() + g * interval '1 ms'
		FROM generate_series(1, 1200) g`, conv, schema.DemoStaffID)
	require.NoError(t, err)
	all, err := conversationMessageIDs(ctx, s, conv)
	require.NoError(t, err)
	want := all[:1210] // everything down to page 1's pinned end

	again := s.Dial(t, parleytest.John, syncclient.Options{})
	resub, err := again.SubscribeJournal(path, flowPageArgs(conv, 10, nil, nil), journal)
	require.NoError(t, err)
	u, err := resub.Wait(ctx)
	require.NoError(t, err)
	var p flowPage
	require.NoError(t, flowDecode(u, &p))
	require.Equal(t, end, p.ContinueCursor, "page 1 keeps its pinned end")
	if slices.Equal(p.ids(), want) {
		return
	}
	require.NotNil(t, p.PageStatus, "page 1 holds %d of the %d messages up to its end: a gap before page 2", len(p.Page), len(want))
	require.Equal(t, "SplitRequired", *p.PageStatus,
		"page 1 holds %d of the %d messages up to its end: the client must not show it unsplit", len(p.Page), len(want))
	require.NotNil(t, p.SplitCursor)
}
