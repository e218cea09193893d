package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/parley-chat/parley/schema"
)

// tables is the chat domain's access to its tables (conversations,
// messages, typing_state, and the files attached to messages) for one
// function execution, over the execution's schema.DB. Every read records
// the finest key it used (schema.DB.Record) before it reads, as package
// schema's helpers do, so the engine knows which committed changes can
// alter a query's result; the shared tables (users, stores, orders,
// chat_settings) are read through schema.DB's own helpers. Writes
// (write.go) go through the mutation's transaction. Not safe for
// concurrent use.
type tables struct{ *schema.DB }

// record notes a read of table's rows whose column equals value.
func (t tables) record(table, column, value string) {
	t.Record(schema.Dep{Table: table, Column: column, Value: value})
}

const convCols = `id, conversation_type, org_id, coalesce(customer_id, ''), store_id, order_id, assigned_admin_id, status,
	is_blocked, last_message_at, last_message_preview, created_at, title, created_by, subject`

func scanConversation(row pgx.Row) (Conversation, error) {
	var c Conversation
	err := row.Scan(&c.ID, &c.Type, &c.OrgID, &c.CustomerID, &c.StoreID, &c.OrderID, &c.AssignedAdminID, &c.Status,
		&c.IsBlocked, &c.LastMessageAt, &c.LastMessagePreview, &c.CreatedAt, &c.Title, &c.CreatedBy, &c.Subject)
	return c, err
}

// Conversation reads one conversation.
func (t tables) Conversation(ctx context.Context, id string) (Conversation, error) {
	t.record("conversations", "id", id)
	c, err := scanConversation(t.Querier().QueryRow(ctx, `SELECT `+convCols+` FROM conversations WHERE id = $1`, id))
	return c, schema.OneRow(err)
}

// ConversationMembership reads who belongs to a conversation: only its id,
// type, org, customer and store are set. It depends on those columns alone, so
// an access check built on it is not re-run for every new message (which
// updates the conversation's last-message fields).
func (t tables) ConversationMembership(ctx context.Context, id string) (Conversation, error) {
	t.Record(schema.Dep{Table: "conversations", Column: "id", Value: id, Watch: "conversation_type,org_id,customer_id,store_id"})
	var c Conversation
	err := t.Querier().QueryRow(ctx, `SELECT id, conversation_type, org_id, coalesce(customer_id, ''), store_id FROM conversations WHERE id = $1`, id).
		Scan(&c.ID, &c.Type, &c.OrgID, &c.CustomerID, &c.StoreID)
	return c, schema.OneRow(err)
}

// IsMember reports whether userID is a participant of a conversation. It
// depends on who joins or leaves, not on their read state.
func (t tables) IsMember(ctx context.Context, convID, userID string) (bool, error) {
	t.Record(schema.Dep{Table: "conversation_participants", Column: "conversation_id", Value: convID, Watch: "user_id"})
	var member bool
	err := t.Querier().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM conversation_participants
		WHERE conversation_id = $1 AND user_id = $2)`, convID, userID).Scan(&member)
	if err != nil {
		return false, fmt.Errorf("read membership: %w", err)
	}
	return member, nil
}

// ConversationForUpdate reads one conversation and locks it (mutations),
// with whether the chat switch of its org or store is off (ChatOff), in
// the same round trip.
func (t tables) ConversationForUpdate(ctx context.Context, id string) (Conversation, error) {
	var c Conversation
	var on bool
	err := t.Querier().QueryRow(ctx, `SELECT c.id, c.conversation_type, c.org_id, coalesce(c.customer_id, ''), c.store_id,
			c.order_id, c.assigned_admin_id, c.status, c.is_blocked, c.last_message_at, c.last_message_preview, c.created_at,
			c.title, c.created_by, c.subject,
			coalesce(s.chat_enabled, true) AND coalesce((SELECT cs.chat_enabled FROM chat_settings cs
				WHERE cs.org_id IN (c.org_id, '') ORDER BY cs.org_id = c.org_id DESC LIMIT 1), true)
		FROM conversations c LEFT JOIN stores s ON s.id = c.store_id AND c.conversation_type = 'customer_to_store'
		WHERE c.id = $1 FOR UPDATE OF c`, id).
		Scan(&c.ID, &c.Type, &c.OrgID, &c.CustomerID, &c.StoreID, &c.OrderID, &c.AssignedAdminID, &c.Status,
			&c.IsBlocked, &c.LastMessageAt, &c.LastMessagePreview, &c.CreatedAt, &c.Title, &c.CreatedBy, &c.Subject, &on)
	c.ChatOff = !on
	return c, schema.OneRow(err)
}

// ConversationBySubject finds the conversation of a customer of org about
// a store and order (either may be empty), if it exists.
func (t tables) ConversationBySubject(ctx context.Context, org, customerID, convType, storeID, orderID string) (Conversation, error) {
	t.record("conversations", "customer_id", customerID)
	c, err := scanConversation(t.Querier().QueryRow(ctx, `SELECT `+convCols+` FROM conversations
		WHERE customer_id = $1 AND conversation_type = $2 AND coalesce(store_id, '') = $3 AND coalesce(order_id, '') = $4
		AND org_id = $5`, customerID, convType, storeID, orderID, org))
	return c, schema.OneRow(err)
}

// ConversationBySubjectForUpdate is ConversationBySubject for a mutation:
// the conversation is locked, and no dependency recorded.
func (t tables) ConversationBySubjectForUpdate(ctx context.Context, org, customerID, convType, storeID, orderID string) (Conversation, error) {
	c, err := scanConversation(t.Querier().QueryRow(ctx, `SELECT `+convCols+` FROM conversations
		WHERE customer_id = $1 AND conversation_type = $2 AND coalesce(store_id, '') = $3 AND coalesce(order_id, '') = $4
		AND org_id = $5 FOR UPDATE`, customerID, convType, storeID, orderID, org))
	return c, schema.OneRow(err)
}

// CustomerConversationsForUpdate reads a customer's (a guest's)
// conversations of org, oldest first, and locks them (mutations).
func (t tables) CustomerConversationsForUpdate(ctx context.Context, org, customerID string) ([]Conversation, error) {
	rows, err := t.Querier().Query(ctx, `SELECT `+convCols+` FROM conversations
		WHERE customer_id = $1 AND org_id = $2 ORDER BY created_at, id FOR UPDATE`, customerID, org)
	if err != nil {
		return nil, fmt.Errorf("read conversations: %w", err)
	}
	convs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Conversation, error) { return scanConversation(r) })
	if err != nil {
		return nil, fmt.Errorf("read conversations: %w", err)
	}
	return convs, nil
}

// ConversationFilter selects conversations for a list. Exactly one of
// CustomerID, StoreID or Type is the key the list is read by; a list
// covers one org's conversations. The fields after Status narrow the
// key's conversations; their zero values narrow nothing.
type ConversationFilter struct {
	Org        string // the org listed ("" is the default one)
	ID         string // one conversation
	CustomerID string // a customer's conversations
	StoreID    string // a store's conversations: with customers, and with support
	Support    bool   // every support conversation, customers' and stores' (support console)
	Status     string // empty = any
	Kind       string // only conversations of this type
	OrderID    string // only those about this order
	WithStore  string // only those with this store
	UnreadBy   Side   // only those with messages this side has not read
	// After and Until bound a range of the newest-activity-first list
	// (the keyset coalesce(last_message_at, created_at), id).
	After *InboxCursor // strictly older than this; nil: from the newest
	Until *InboxCursor // at least as new as this; nil: to the oldest
	Limit int          // zero = no limit
}

// Side is an end of a one-to-one conversation as its unread counters
// count it: the customer's (unread_customer), or the recipient's
// (unread_recipient: a store's staff, in each of its conversations, or
// support in a customer's). SideSupport is support's in each of its
// conversations: the recipient's in a customer's, unread_customer in a
// store's (0017_store_support.sql).
type Side uint8

// Sides of ConversationFilter.UnreadBy; the zero Side is neither.
const (
	SideCustomer Side = iota + 1
	SideRecipient
	SideSupport
)

// counter is the SQL of side's unread count on conversations c, and the
// column it reads in conversations of type t.
func (s Side) counter() (sql string, column func(t string) string) {
	switch s {
	case SideCustomer:
		return "c.unread_customer", func(string) string { return "unread_customer" }
	case SideSupport:
		return "CASE WHEN c.conversation_type = 'store_to_admin' THEN c.unread_customer ELSE c.unread_recipient END",
			func(t string) string {
				if t == StoreToAdmin {
					return "unread_customer"
				}
				return "unread_recipient"
			}
	}
	return "c.unread_recipient", func(string) string { return "unread_recipient" }
}

// InboxCursor is a position in a newest-activity-first conversation list:
// a conversation's latest activity (its last message's time, else its
// creation) and, among equal times, its id.
type InboxCursor struct {
	At time.Time
	ID string
}

// activitySQL is a conversation's place in a list, newest first. No
// index keeps it (0020_inbox_hot.sql): a message moves it, and an index on
// it would make every message's update of its conversation non-HOT.
const activitySQL = `(coalesce(c.last_message_at, c.created_at), c.id)`

// filterBy records f's dependency, narrowed to watch (a comma-separated
// column list per conversation type of the dependency, the support
// inbox's having one per type; nil watches every change), and returns its WHERE clause over
// conversations c with its arguments: the key as $1, f.Org as $2, and the
// filters' values after them. Every value is a parameter.
//
// The dependency is on the key's conversations, or, with OrderID, on the
// order's (an order has a conversation or two, a store thousands): either
// covers every row the list can hold before or after a change, since the
// engine matches a changed row's old and new values, so a conversation
// entering or leaving a filter (a message arrives, one is read, a status
// changes) re-runs the list.
func (t tables) filterBy(f ConversationFilter, watchFor func(convType string) string) (where string, args []any, err error) {
	watch := ""
	if watchFor != nil {
		watch = watchFor("")
	}
	keys := [...]struct{ column, value, where string }{
		// One conversation, which its reader's access check has admitted
		// (its org included): $2 is only typed, never compared.
		{"id", f.ID, "c.id = $1 AND $2::text IS NOT NULL"},
		{"customer_id", f.CustomerID, "c.customer_id = $1 AND c.org_id = $2"},
		{"store_id", f.StoreID, "c.store_id = $1 AND c.conversation_type IN ('customer_to_store', 'store_to_admin') AND c.org_id = $2"},
	}
	var deps []schema.Dep
	for _, k := range keys {
		if k.value != "" {
			where, args = k.where, []any{k.value, f.Org}
			deps = []schema.Dep{{Table: "conversations", Column: k.column, Value: k.value, Watch: watch}}
			break
		}
	}
	if where == "" && f.Support {
		// Both support types: a dependency on each.
		where, args = "c.conversation_type = ANY($1) AND c.org_id = $2", []any{[]string{CustomerToAdmin, StoreToAdmin}, f.Org}
		for _, typ := range []string{CustomerToAdmin, StoreToAdmin} {
			w := ""
			if watchFor != nil {
				w = watchFor(typ)
			}
			deps = append(deps, schema.Dep{Table: "conversations", Column: "conversation_type", Value: typ, Watch: w})
		}
	}
	if where == "" {
		return "", nil, errors.New("no key")
	}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Status != "" {
		where += " AND c.status = " + arg(f.Status)
	}
	if f.Kind != "" {
		where += " AND c.conversation_type = " + arg(f.Kind)
	}
	if f.OrderID != "" {
		where += " AND c.order_id = " + arg(f.OrderID)
		if f.ID == "" {
			deps = []schema.Dep{{Table: "conversations", Column: "order_id", Value: f.OrderID, Watch: watch}}
		}
	}
	if f.WithStore != "" {
		where += " AND c.store_id = " + arg(f.WithStore)
	}
	if f.UnreadBy != 0 {
		counter, _ := f.UnreadBy.counter()
		where += " AND " + counter + " > 0"
	}
	if f.After != nil {
		where += " AND " + activitySQL + " < (" + arg(f.After.At) + ", " + arg(f.After.ID) + ")"
	}
	if f.Until != nil {
		where += " AND " + activitySQL + " >= (" + arg(f.Until.At) + ", " + arg(f.Until.ID) + ")"
	}
	for _, d := range deps {
		t.Record(d)
	}
	return where, args, nil
}

// UnreadTotal sums one side's unread counters over the conversations f
// selects (see Side). The
// counters live on the conversation rows (kept by triggers on messages),
// so it depends on those rows only through who they belong to, their
// status and that side's counter: a message of the side itself, or a new
// last message, does not re-run it.
func (t tables) UnreadTotal(ctx context.Context, f ConversationFilter, side Side) (int, error) {
	counter, column := side.counter()
	where, args, err := t.filterBy(f, func(t string) string { return "status,customer_id,store_id,conversation_type," + column(t) })
	if err != nil {
		return 0, fmt.Errorf("read unread total: %w", err)
	}
	var total int
	err = t.Querier().QueryRow(ctx, `SELECT coalesce(sum(`+counter+`), 0)::int FROM conversations c WHERE `+where, args...).Scan(&total)
	if err != nil {
		return 0, fmt.Errorf("read unread total: %w", err)
	}
	return total, nil
}

// InboxRow is a conversation as a list shows it: with its store's and
// customer's names and its unread counts.
type InboxRow struct {
	Conversation
	StoreName    *string
	CustomerName string
	// CustomerIsGuest says the customer is a guest (users.role).
	CustomerIsGuest bool
	Unread          Unread
}

// Position is the row's place in its list (see InboxCursor).
func (x InboxRow) Position() InboxCursor {
	if x.LastMessageAt != nil {
		return InboxCursor{At: *x.LastMessageAt, ID: x.ID}
	}
	return InboxCursor{At: x.CreatedAt, ID: x.ID}
}

// Inbox lists conversations with their names and unread counts in one
// statement, newest activity first. It records the list's key (see
// filterBy) and, per row, the store and the customer; the unread counts
// are counters on the conversation rows (kept by triggers on messages),
// so a new message reaches the list through its conversation's row.
func (t tables) Inbox(ctx context.Context, f ConversationFilter) ([]InboxRow, error) {
	where, args, err := t.filterBy(f, nil)
	if err != nil {
		return nil, fmt.Errorf("read inbox: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1 << 30
	}
	args = append(args, limit)
	rows, err := t.Querier().Query(ctx, `SELECT c.id, c.conversation_type, c.org_id, coalesce(c.customer_id, ''), c.store_id, c.order_id,
			c.assigned_admin_id, c.status, c.is_blocked, c.last_message_at, c.last_message_preview, c.created_at,
			s.name, coalesce(u.name, ''), coalesce(u.role = 'guest', false), c.unread_customer, c.unread_recipient,
			c.title, c.created_by, c.subject
		FROM conversations c
		LEFT JOIN stores s ON s.id = c.store_id
		LEFT JOIN users u ON u.id = c.customer_id
		WHERE `+where+`
		ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC LIMIT `+fmt.Sprintf("$%d", len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("read inbox: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InboxRow, error) {
		var x InboxRow
		c := &x.Conversation
		err := r.Scan(&c.ID, &c.Type, &c.OrgID, &c.CustomerID, &c.StoreID, &c.OrderID, &c.AssignedAdminID, &c.Status,
			&c.IsBlocked, &c.LastMessageAt, &c.LastMessagePreview, &c.CreatedAt,
			&x.StoreName, &x.CustomerName, &x.CustomerIsGuest, &x.Unread.Customer, &x.Unread.Recipient, &c.Title, &c.CreatedBy, &c.Subject)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("read inbox: %w", err)
	}
	for _, x := range out {
		// Neither for a group or direct channel; a store ↔ support
		// thread has no customer.
		if x.CustomerID != "" {
			t.record("users", "id", x.CustomerID)
		}
		if x.StoreID != nil {
			t.record("stores", "id", *x.StoreID)
		}
	}
	return out, nil
}

// MessageCursor is a position in a conversation's newest-first message list.
type MessageCursor struct {
	CreatedAt time.Time
	ID        string
}

// MessageRange selects part of a conversation's newest-first message list.
type MessageRange struct {
	Before *MessageCursor // only messages strictly older than this; nil: from the newest
	Until  *MessageCursor // only messages at least as new as this; nil: to the oldest
	Limit  int            // at most this many
	Offset int            // after skipping this many (offset paging)
}

// CountMessages counts a conversation's messages, deleted ones included
// (getMessages lists them, emptied).
func (t tables) CountMessages(ctx context.Context, conversationID string) (int, error) {
	t.record("messages", "conversation_id", conversationID)
	var n int
	if err := t.Querier().QueryRow(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1`, conversationID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count messages: %w", err)
	}
	return n, nil
}

// Messages reads a range of a conversation's messages, newest first, with
// their senders' names.
func (t tables) Messages(ctx context.Context, conversationID string, r MessageRange) ([]Message, error) {
	return t.AppendMessages(ctx, nil, conversationID, r)
}

// AppendMessages is Messages appending to page, whose room it reuses: a
// query that re-runs for every new message can keep one page for all its
// runs instead of allocating one per run.
func (t tables) AppendMessages(ctx context.Context, page []Message, conversationID string, r MessageRange) ([]Message, error) {
	t.record("messages", "conversation_id", conversationID)
	sql := `SELECT m.id, m.sender_id, m.sender_type, coalesce(u.name, ''), m.message_type,
		m.content, m.image_file_id, m.is_read, m.read_at, m.is_deleted, m.created_at,
		m.location_lat, m.location_lng, m.location_label, m.edited_at, m.meeting, m.assistant
		FROM messages m LEFT JOIN users u ON u.id = m.sender_id
		WHERE m.conversation_id = $1`
	args := []any{conversationID}
	if r.Before != nil {
		args = append(args, r.Before.CreatedAt, r.Before.ID)
		sql += fmt.Sprintf(` AND (m.created_at, m.id) < ($%d, $%d)`, len(args)-1, len(args))
	}
	if r.Until != nil {
		args = append(args, r.Until.CreatedAt, r.Until.ID)
		sql += fmt.Sprintf(` AND (m.created_at, m.id) >= ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, r.Limit)
	sql += fmt.Sprintf(` ORDER BY m.created_at DESC, m.id DESC LIMIT $%d`, len(args))
	if r.Offset > 0 {
		args = append(args, r.Offset)
		sql += fmt.Sprintf(` OFFSET $%d`, len(args))
	}
	rows, err := t.Querier().Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	// A page repeats its conversation, a few senders and types: those
	// columns are read as bytes and share one string per distinct value
	// (see interner), and the page grows at most once.
	in := interner{}
	var senderID, senderType, senderName, messageType pgtype.DriverBytes
	// Reused for every row: a location costs an allocation only on a
	// location message.
	var lat, lng pgtype.Float8
	var label pgtype.Text
	var edited pgtype.Timestamptz
	var meeting, assistant []byte
	msgs, err := pgx.AppendRows(slices.Grow(page, min(max(r.Limit, 0), MaxPagePrealloc)), rows, func(r pgx.CollectableRow) (Message, error) {
		m := Message{ConversationID: conversationID}
		err := r.Scan(&m.ID, &senderID, &senderType, &senderName, &messageType,
			&m.Content, &m.ImageFileID, &m.IsRead, &m.ReadAt, &m.IsDeleted, &m.CreatedAt, &lat, &lng, &label, &edited, &meeting, &assistant)
		if err != nil {
			return m, err
		}
		if assistant != nil {
			if m.Assistant, err = decodeAssistant(m.ID, assistant); err != nil {
				return m, err
			}
		}
		if edited.Valid {
			at := edited.Time
			m.EditedAt = &at
		}
		if meeting != nil {
			m.Meeting = new(Meeting)
			if err := json.Unmarshal(meeting, m.Meeting); err != nil {
				return m, fmt.Errorf("message %s: meeting: %w", m.ID, err)
			}
		}
		if lat.Valid && lng.Valid {
			m.Location = &Location{Lat: lat.Float64, Lng: lng.Float64}
			if label.Valid {
				l := label.String // label is the next row's too
				m.Location.Label = &l
			}
		}
		m.SenderID, m.SenderType, m.SenderName, m.MessageType = in.get(senderID), in.get(senderType), in.get(senderName), in.get(messageType)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	for i := len(page); i < len(msgs); i++ {
		t.record("users", "id", msgs[i].SenderID)
	}
	return msgs, nil
}

// MaxPagePrealloc bounds the rows Messages makes room for before reading
// them: the largest page getMessages asks for (100 messages and one more,
// to know whether there are older ones), not a pinned page's 1,001. At 100
// a full page outgrew it by one row and was copied.
const MaxPagePrealloc = 128

// interner hands out one string per distinct value read within one
// result. Re-runs of a conversation's page are the engine's most frequent
// work, and a string per row and column was most of what they allocated.
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// Message reads one message (mutations).
func (t tables) Message(ctx context.Context, id string) (Message, error) {
	var m Message
	var lat, lng *float64
	var lbl *string
	var meeting, assistant []byte
	err := t.Querier().QueryRow(ctx, `SELECT id, conversation_id, sender_id, sender_type, message_type, content,
		is_read, is_deleted, created_at, edited_at, image_file_id, location_lat, location_lng, location_label, meeting, assistant
		FROM messages WHERE id = $1 FOR UPDATE`, id).
		Scan(&m.ID, &m.ConversationID, &m.SenderID, &m.SenderType, &m.MessageType, &m.Content, &m.IsRead, &m.IsDeleted,
			&m.CreatedAt, &m.EditedAt, &m.ImageFileID, &lat, &lng, &lbl, &meeting, &assistant)
	if err != nil {
		return m, schema.OneRow(err)
	}
	if assistant != nil {
		if m.Assistant, err = decodeAssistant(m.ID, assistant); err != nil {
			return m, err
		}
	}
	if lat != nil && lng != nil {
		m.Location = &Location{Lat: *lat, Lng: *lng, Label: lbl}
	}
	if meeting != nil {
		m.Meeting = new(Meeting)
		if err := json.Unmarshal(meeting, m.Meeting); err != nil {
			return m, fmt.Errorf("message %s: meeting: %w", m.ID, err)
		}
	}
	return m, nil
}

const fileCols = `id, owner_id, content_type, size_bytes, width, height, coalesce(thumb_width, 0), coalesce(thumb_height, 0),
	frames, file_name, message_id, created_at`

func scanFile(row pgx.Row) (File, error) {
	var f File
	err := row.Scan(&f.ID, &f.OwnerID, &f.ContentType, &f.SizeBytes, &f.Width, &f.Height, &f.ThumbWidth, &f.ThumbHeight,
		&f.Frames, &f.FileName, &f.MessageID, &f.CreatedAt)
	return f, err
}

// Files reads the given files (the images of a page of messages), by id.
func (t tables) Files(ctx context.Context, ids []string) (map[string]File, error) {
	for _, id := range ids {
		t.record("files", "id", id)
	}
	out := make(map[string]File, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := t.Querier().Query(ctx, `SELECT `+fileCols+` FROM files WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read files: %w", err)
	}
	files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (File, error) { return scanFile(r) })
	if err != nil {
		return nil, fmt.Errorf("read files: %w", err)
	}
	for _, f := range files {
		out[f.ID] = f
	}
	return out, nil
}

// FileForUpdate reads one file and locks it (mutations).
func (t tables) FileForUpdate(ctx context.Context, id string) (File, error) {
	f, err := scanFile(t.Querier().QueryRow(ctx, `SELECT `+fileCols+` FROM files WHERE id = $1 FOR UPDATE`, id))
	return f, schema.OneRow(err)
}

// Typing is a row of typing_state.
type Typing struct {
	UserID       string
	UserType     string
	UserName     string
	IsTyping     bool
	LastTypingAt time.Time
}

// TypingIn reads the typing state of a conversation's users.
func (t tables) TypingIn(ctx context.Context, conversationID string) ([]Typing, error) {
	t.record("typing_state", "conversation_id", conversationID)
	rows, err := t.Querier().Query(ctx, `SELECT user_id, user_type, user_name, is_typing, last_typing_at
		FROM typing_state WHERE conversation_id = $1 ORDER BY last_typing_at, user_id`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("read typing state: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Typing, error) {
		var t Typing
		err := r.Scan(&t.UserID, &t.UserType, &t.UserName, &t.IsTyping, &t.LastTypingAt)
		return t, err
	})
}

// Unread counts unread, undeleted messages in a conversation: those the
// customer has not read (sent by the other side) and those the recipient
// has not read (sent by the customer).
type Unread struct{ Customer, Recipient int }

// MessageSeen reads one message for a query, depending on its row.
func (t tables) MessageSeen(ctx context.Context, id string) (Message, error) {
	t.record("messages", "id", id)
	var m Message
	err := t.Querier().QueryRow(ctx, `SELECT id, conversation_id, sender_id, sender_type, message_type, content,
		is_deleted, created_at, edited_at FROM messages WHERE id = $1`, id).
		Scan(&m.ID, &m.ConversationID, &m.SenderID, &m.SenderType, &m.MessageType, &m.Content, &m.IsDeleted,
			&m.CreatedAt, &m.EditedAt)
	return m, schema.OneRow(err)
}

// Version is a past version of an edited message.
type Version struct {
	Version    int
	Content    string
	WrittenAt  time.Time
	ReplacedAt time.Time
}

// Versions lists a message's past versions, oldest first. It depends on
// the message's rows of message_edits.
func (t tables) Versions(ctx context.Context, msgID string) ([]Version, error) {
	t.record("message_edits", "message_id", msgID)
	rows, err := t.Querier().Query(ctx, `SELECT version, content, written_at, replaced_at
		FROM message_edits WHERE message_id = $1 ORDER BY version`, msgID)
	if err != nil {
		return nil, fmt.Errorf("read message versions: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) {
		var v Version
		err := r.Scan(&v.Version, &v.Content, &v.WrittenAt, &v.ReplacedAt)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("read message versions: %w", err)
	}
	return vs, nil
}
