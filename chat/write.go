package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// The chat domain's writes. Every statement with which chat changes a
// table is here, run through the mutation's transaction (tables' Querier;
// the files rows and upload URLs are package media's, behind Media); the
// handlers decide what to write and check who may, these helpers only
// write it. A write that fails is wrapped with what it was doing, and the
// mutation's transaction rolls back.

// ensureUser records the verified caller in users, so rows can refer to it.
func (t tables) ensureUser(ctx context.Context, id *functions.Identity) error {
	_, err := t.Querier().Exec(ctx, `INSERT INTO users (id, name, role, org_id) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
		id.Subject, storedName(id), string(id.Role), id.Org)
	if err != nil {
		return fmt.Errorf("ensure user: %w", err)
	}
	return nil
}

// addParticipant makes userID a participant of a conversation, if it is
// not one yet.
func (t tables) addParticipant(ctx context.Context, convID, userID string, role functions.Role) error {
	_, err := t.Querier().Exec(ctx, `INSERT INTO conversation_participants (conversation_id, user_id, role)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, convID, userID, string(role))
	if err != nil {
		return fmt.Errorf("add participant: %w", err)
	}
	return nil
}

// join records the caller as a user and as a participant of a conversation.
func (t tables) join(ctx context.Context, convID string, id *functions.Identity) error {
	if err := t.ensureUser(ctx, id); err != nil {
		return err
	}
	return t.addParticipant(ctx, convID, id.Subject, id.Role)
}

// insertConversation creates a conversation of org; storeID and orderID
// may be empty. A concurrent twin makes it fail with a unique violation
// (the mutation is then retried and finds the twin).
func (t tables) insertConversation(ctx context.Context, convID, org, convType, customerID, storeID, orderID string) error {
	_, err := t.Querier().Exec(ctx, `INSERT INTO conversations (id, org_id, conversation_type, customer_id, store_id, order_id)
		VALUES ($1, $2, $3, nullif($4, ''), nullif($5, ''), nullif($6, ''))`, convID, org, convType, customerID, storeID, orderID)
	if err != nil {
		return fmt.Errorf("insert conversation: %w", err)
	}
	return nil
}

// archive moves a conversation out of the active list.
func (t tables) archive(ctx context.Context, convID string) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET status = 'archived' WHERE id = $1`, convID); err != nil {
		return fmt.Errorf("archive conversation: %w", err)
	}
	return nil
}

// setSubject sets (or, nil, clears) a conversation's subject.
func (t tables) setSubject(ctx context.Context, convID string, subject *string) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET subject = $2 WHERE id = $1`, convID, subject); err != nil {
		return fmt.Errorf("set subject: %w", err)
	}
	return nil
}

// setStatus sets a conversation's status (active, archived, closed).
func (t tables) setStatus(ctx context.Context, convID, status string) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET status = $2 WHERE id = $1`, convID, status); err != nil {
		return fmt.Errorf("set conversation status: %w", err)
	}
	return nil
}

// assign hands a conversation to an admin, who becomes a participant.
func (t tables) assign(ctx context.Context, convID, adminID string) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET assigned_admin_id = $2 WHERE id = $1`, convID, adminID); err != nil {
		return fmt.Errorf("transfer conversation: %w", err)
	}
	return t.addParticipant(ctx, convID, adminID, functions.RoleAdmin)
}

// unassign takes a conversation from the admin it is assigned to (the
// support desk's transfer to a skill).
func (t tables) unassign(ctx context.Context, convID string) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET assigned_admin_id = NULL WHERE id = $1`, convID); err != nil {
		return fmt.Errorf("unassign conversation: %w", err)
	}
	return nil
}

// touch makes at a conversation's latest message time, its preview
// unchanged (a notice posted read: the desk's join).
func (t tables) touch(ctx context.Context, convID string, at time.Time) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET last_message_at = $2 WHERE id = $1`, convID, at); err != nil {
		return fmt.Errorf("update conversation: %w", err)
	}
	return nil
}

// setBlocked blocks or unblocks a conversation.
func (t tables) setBlocked(ctx context.Context, convID string, blocked bool) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET is_blocked = $2 WHERE id = $1`, convID, blocked); err != nil {
		return fmt.Errorf("block conversation: %w", err)
	}
	return nil
}

// postMessage inserts a message and makes it the conversation's latest
// (which reopens an archived one). (sendMessage, the busy path, does the
// same and more in one statement.)
func (t tables) postMessage(ctx context.Context, convID string, id *functions.Identity, senderType, messageType, content string, now time.Time) (string, error) {
	msgID := schema.NewID("msg")
	if _, err := t.Querier().Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, msgID, convID, id.Subject, senderType, messageType, content, now); err != nil {
		return "", fmt.Errorf("insert message: %w", err)
	}
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET last_message_at = $2, last_message_preview = $3,
		status = CASE WHEN status = 'archived' THEN 'active' ELSE status END WHERE id = $1`,
		convID, now, preview(content)); err != nil {
		return "", fmt.Errorf("update conversation: %w", err)
	}
	return msgID, nil
}

// postReadNotice inserts a system notice posted read (a join: it asks
// nothing of anyone, so no unread count shows it).
func (t tables) postReadNotice(ctx context.Context, msgID, convID, senderID, content string, at time.Time) error {
	if _, err := t.Querier().Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content,
			created_at, is_read, read_at) VALUES ($1, $2, $3, 'system', 'system', $4, $5, true, $5)`,
		msgID, convID, senderID, content, at); err != nil {
		return fmt.Errorf("post notice: %w", err)
	}
	return nil
}

// sentMessage is a message sendMessage posts.
type sentMessage struct {
	ID, ConversationID string
	Sender             *functions.Identity
	MessageType        string
	Content            string
	FileID             *string   // an image message's attached file
	Location           *Location // a location message's point
	Meeting            *Meeting  // a meeting message's call
	At                 time.Time
	// TakeConversation assigns the conversation to the sender (an admin
	// answering an unassigned support conversation).
	TakeConversation bool
	// InGroup says the conversation is a group, whose members are only
	// those added: sending never makes the sender one (an admin's system
	// notice is moderation).
	InGroup bool
}

// sendMessage writes a sent message with everything it implies, in one
// statement (sendMessageSQL).
func (t tables) sendMessage(ctx context.Context, m sentMessage) error {
	id := m.Sender
	var lat, lng *float64
	var label *string
	if m.Location != nil {
		lat, lng, label = &m.Location.Lat, &m.Location.Lng, m.Location.Label
	}
	var meeting []byte
	if m.Meeting != nil {
		var err error
		if meeting, err = json.Marshal(m.Meeting); err != nil {
			return fmt.Errorf("send message: %w", err)
		}
	}
	if _, err := t.Querier().Exec(ctx, sendMessageSQL, m.ID, m.ConversationID, id.Subject, string(id.Role), m.MessageType,
		m.Content, m.FileID, m.At, storedName(id), messagePreview(m.Content, m.FileID, m.Location, m.Meeting), m.TakeConversation,
		lat, lng, label, !m.InGroup, id.Org, meeting, side(id)); err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	return nil
}

// sendMessageSQL is sendMessage's writes as one statement of
// data-modifying CTEs: the sender is recorded (in users, and, outside
// groups ($15), as a participant, with its role $4), the message inserted
// (from side $18, at $8, a messageTime)
// and made the conversation's latest
// (which reopens an archived one and, when $11 says so, assigns the
// answering admin), and the sender's typing ended. The sub-statements share
// one snapshot and none reads another's rows; the foreign keys that name
// the caller's new user row (the participant's, the assignment's) are
// checked after the whole statement, as is the unread counters' trigger,
// which then sees the conversation as latest left it. One statement costs
// Postgres markedly less than five (pgbench: internal/bench/pgbench).
const sendMessageSQL = `WITH
	caller AS (INSERT INTO users (id, name, role, org_id) VALUES ($3, $9, $4, $16) ON CONFLICT (id) DO NOTHING),
	joined AS (INSERT INTO conversation_participants (conversation_id, user_id, role)
		SELECT $2, $3, $4 WHERE $15 ON CONFLICT DO NOTHING),
	posted AS (INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content,
			image_file_id, created_at, location_lat, location_lng, location_label, meeting)
		VALUES ($1, $2, $3, $18, $5, $6, $7, $8, $12, $13, $14, $17)),
	latest AS (UPDATE conversations SET last_message_at = $8, last_message_preview = $10,
		status = CASE WHEN status = 'archived' THEN 'active' ELSE status END,
		assigned_admin_id = CASE WHEN $11 THEN coalesce(assigned_admin_id, $3) ELSE assigned_admin_id END
		WHERE id = $2),
	typed AS (UPDATE typing_state SET is_typing = false
		WHERE conversation_id = $2 AND user_id = $3 AND is_typing)
SELECT`

// attachFile links an uploaded file to the message it was sent with: it
// stops expiring and keeps name for display.
func (t tables) attachFile(ctx context.Context, fileID, msgID, name string, now time.Time) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE files SET message_id = $2, attached_at = $3, expires_at = NULL, file_name = $4
		WHERE id = $1`, fileID, msgID, now, name); err != nil {
		return fmt.Errorf("attach file: %w", err)
	}
	return nil
}

// markRead marks what the other side sent in a conversation as read —
// every unread message, or those of ids — and returns the ids it marked.
// The asking side (customerSide; a conversation of type convType, see
// askingSide) reads everything not from itself; the recipient side reads
// the asking side's messages.
func (t tables) markRead(ctx context.Context, convID, convType string, customerSide bool, ids *[]string, now time.Time) ([]string, error) {
	asker := "customer"
	if convType == StoreToAdmin {
		asker = "store"
	}
	const q = `UPDATE messages SET is_read = true, read_at = $2
		WHERE conversation_id = $1 AND NOT is_read AND NOT is_deleted
		AND (sender_type = $4) <> $3`
	var (
		rows pgx.Rows
		err  error
	)
	if ids == nil {
		rows, err = t.Querier().Query(ctx, q+` RETURNING id`, convID, now, customerSide, asker)
	} else {
		rows, err = t.Querier().Query(ctx, q+` AND id = ANY($5) RETURNING id`, convID, now, customerSide, asker, *ids)
	}
	if err != nil {
		return nil, fmt.Errorf("mark read: %w", err)
	}
	marked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("mark read: %w", err)
	}
	return marked, nil
}

// setReadState records when a participant last read and saw a
// conversation.
func (t tables) setReadState(ctx context.Context, convID, userID string, now time.Time) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE conversation_participants SET last_read_at = $3, last_seen_at = $3
		WHERE conversation_id = $1 AND user_id = $2`, convID, userID, now); err != nil {
		return fmt.Errorf("update read state: %w", err)
	}
	return nil
}

// deleteMessage soft-deletes message m (by userID) and, when m was its
// conversation's latest, replaces the preview that showed its content.
func (t tables) deleteMessage(ctx context.Context, m Message, by string, now time.Time) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE messages SET is_deleted = true, deleted_at = $2, deleted_by = $3 WHERE id = $1`,
		m.ID, now, by); err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET last_message_preview = $2 WHERE id = $1
		AND NOT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND (created_at, id) > ($3, $4))`,
		m.ConversationID, DeletedPreview, m.CreatedAt, m.ID); err != nil {
		return fmt.Errorf("update preview: %w", err)
	}
	return nil
}

// typingOf reads a user's typing state in a conversation (mutations): not
// typing when the user never typed there.
func (t tables) typingOf(ctx context.Context, convID, userID string) (typing bool, last time.Time, err error) {
	err = t.Querier().QueryRow(ctx, `SELECT is_typing, last_typing_at FROM typing_state
		WHERE conversation_id = $1 AND user_id = $2`, convID, userID).Scan(&typing, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("read typing state: %w", err)
	}
	return typing, last, nil
}

// stopTyping ends a user's typing indicator.
func (t tables) stopTyping(ctx context.Context, convID, userID string) error {
	if _, err := t.Querier().Exec(ctx, `UPDATE typing_state SET is_typing = false WHERE conversation_id = $1 AND user_id = $2`,
		convID, userID); err != nil {
		return fmt.Errorf("stop typing: %w", err)
	}
	return nil
}

// startTyping shows a user as typing since now, under name.
func (t tables) startTyping(ctx context.Context, convID string, id *functions.Identity, name string, now time.Time) error {
	if _, err := t.Querier().Exec(ctx, `INSERT INTO typing_state (conversation_id, user_id, user_type, user_name, is_typing, last_typing_at)
		VALUES ($1, $2, $3, $4, true, $5)
		ON CONFLICT (conversation_id, user_id) DO UPDATE SET is_typing = true, last_typing_at = $5, user_name = $4`,
		convID, id.Subject, side(id), name, now); err != nil {
		return fmt.Errorf("start typing: %w", err)
	}
	return nil
}

// insertGroup creates a group conversation of org made by createdBy.
func (t tables) insertGroup(ctx context.Context, convID, org, createdBy string, title *string) error {
	_, err := t.Querier().Exec(ctx, `INSERT INTO conversations (id, org_id, conversation_type, created_by, title)
		VALUES ($1, $2, 'group', $3, $4)`, convID, org, createdBy, title)
	if err != nil {
		return fmt.Errorf("insert group: %w", err)
	}
	return nil
}

// insertDirect creates the direct channel key of org, opened by createdBy.
// A twin makes it fail with a unique violation (conversations_direct).
func (t tables) insertDirect(ctx context.Context, convID, org, createdBy, key string) error {
	_, err := t.Querier().Exec(ctx, `INSERT INTO conversations (id, org_id, conversation_type, created_by, direct_key)
		VALUES ($1, $2, 'direct', $3, $4)`, convID, org, createdBy, key)
	if err != nil {
		return fmt.Errorf("insert direct channel: %w", err)
	}
	return nil
}

// readGroup moves userID's read position in a group up to upTo (never
// back) and returns the ids of the others' undeleted messages it newly
// covers. A group's read state is this position, one per participant: a
// message's own is_read belongs to one-to-one conversations.
func (t tables) readGroup(ctx context.Context, convID, userID string, upTo, now time.Time) ([]string, error) {
	rows, err := t.Querier().Query(ctx, `WITH old AS (
			SELECT coalesce(last_read_at, '-infinity') AS since FROM conversation_participants
			WHERE conversation_id = $1 AND user_id = $2 FOR UPDATE),
		moved AS (UPDATE conversation_participants
			SET last_read_at = greatest(coalesce(last_read_at, '-infinity'), $3), last_seen_at = $4
			WHERE conversation_id = $1 AND user_id = $2),
		mark AS (INSERT INTO receipt_marks (conversation_id, up_to, user_id, kind, at)
			SELECT $1, $3, $2, 'read', $4 FROM old WHERE old.since < $3
			ON CONFLICT DO NOTHING)
		SELECT m.id FROM messages m, old
		WHERE m.conversation_id = $1 AND m.created_at > old.since AND m.created_at <= $3
			AND m.sender_id <> $2 AND NOT m.is_deleted
		ORDER BY m.created_at, m.id`, convID, userID, upTo, now)
	if err != nil {
		return nil, fmt.Errorf("read group: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read group: %w", err)
	}
	return ids, nil
}

// newestOf returns the creation time of the newest of ids in a
// conversation, and false when none of them is there.
func (t tables) newestOf(ctx context.Context, convID string, ids []string) (time.Time, bool, error) {
	var at *time.Time
	err := t.Querier().QueryRow(ctx, `SELECT max(created_at) FROM messages WHERE conversation_id = $1 AND id = ANY($2)`,
		convID, ids).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read messages: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}

// editMessage replaces message m's content with content (by userID, at
// now), keeping the replaced version in message_edits, and, when m is its
// conversation's latest message, its preview.
func (t tables) editMessage(ctx context.Context, m Message, content, preview, by string, now time.Time) error {
	written := m.CreatedAt
	if m.EditedAt != nil {
		written = *m.EditedAt
	}
	if _, err := t.Querier().Exec(ctx, `INSERT INTO message_edits (message_id, version, content, written_at, replaced_at, replaced_by)
		SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5 FROM message_edits WHERE message_id = $1`,
		m.ID, m.Content, written, now, by); err != nil {
		return fmt.Errorf("keep message version: %w", err)
	}
	if _, err := t.Querier().Exec(ctx, `UPDATE messages SET content = $2, edited_at = $3 WHERE id = $1`, m.ID, content, now); err != nil {
		return fmt.Errorf("edit message: %w", err)
	}
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET last_message_preview = $2 WHERE id = $1
		AND NOT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND (created_at, id) > ($3, $4))`,
		m.ConversationID, preview, m.CreatedAt, m.ID); err != nil {
		return fmt.Errorf("update preview: %w", err)
	}
	return nil
}

// handOver makes a guest's conversation the customer's (claimGuestThreads,
// when the customer has no twin of it): its customer, the guest's
// participant row (role customer now) and the guest's messages become the
// customer's, and the guest's typing state goes. It returns the
// conversation's message count.
func (t tables) handOver(ctx context.Context, convID, guestID, customerID string) (int, error) {
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations SET customer_id = $2 WHERE id = $1`, convID, customerID); err != nil {
		return 0, fmt.Errorf("hand over conversation: %w", err)
	}
	if err := t.moveParticipants(ctx, convID, convID, guestID, customerID); err != nil {
		return 0, err
	}
	if _, err := t.moveMessages(ctx, convID, convID, guestID, customerID); err != nil {
		return 0, err
	}
	if _, err := t.Querier().Exec(ctx, `DELETE FROM typing_state WHERE conversation_id = $1 AND user_id = $2`, convID, guestID); err != nil {
		return 0, fmt.Errorf("hand over typing state: %w", err)
	}
	var n int
	if err := t.Querier().QueryRow(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1`, convID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count messages: %w", err)
	}
	return n, nil
}

// mergeInto merges a guest's conversation into the customer's twin of it
// (claimGuestThreads): every message moves to the twin with its time (the
// guest's becoming the customer's), the participants join it with the
// later read state of each, the twin takes the later last message, the
// stricter of the two blocks and the first assignment and subject it
// lacks, and stays active if either was; the emptied guest conversation
// and its typing state are deleted. A join notice ("<admin> joined the
// conversation") the twin already has from the same admin is not moved
// but dropped: it would say the same twice. It returns how many messages
// moved.
func (t tables) mergeInto(ctx context.Context, guestConv, twin, guestID, customerID string) (int, error) {
	if _, err := t.Querier().Exec(ctx, `DELETE FROM messages g WHERE g.conversation_id = $1
			AND g.message_type = 'system' AND g.sender_type = 'system' AND g.content LIKE '% joined the conversation'
			AND EXISTS (SELECT 1 FROM messages x WHERE x.conversation_id = $2 AND x.message_type = 'system'
				AND x.sender_type = 'system' AND x.sender_id = g.sender_id AND x.content = g.content)`, guestConv, twin); err != nil {
		return 0, fmt.Errorf("merge join notices: %w", err)
	}
	n, err := t.moveMessages(ctx, guestConv, twin, guestID, customerID)
	if err != nil {
		return 0, err
	}
	if err := t.moveParticipants(ctx, guestConv, twin, guestID, customerID); err != nil {
		return 0, err
	}
	if _, err := t.Querier().Exec(ctx, `UPDATE conversations x SET
			last_message_at = CASE WHEN g.last_message_at > coalesce(x.last_message_at, '-infinity') THEN g.last_message_at ELSE x.last_message_at END,
			last_message_preview = CASE WHEN g.last_message_at > coalesce(x.last_message_at, '-infinity')
				THEN g.last_message_preview ELSE x.last_message_preview END,
			status = CASE WHEN 'active' IN (x.status, g.status) THEN 'active' WHEN 'closed' IN (x.status, g.status) THEN 'closed'
				ELSE x.status END,
			is_blocked = x.is_blocked OR g.is_blocked,
			assigned_admin_id = coalesce(x.assigned_admin_id, g.assigned_admin_id),
			subject = coalesce(x.subject, g.subject)
		FROM conversations g WHERE x.id = $1 AND g.id = $2`, twin, guestConv); err != nil {
		return 0, fmt.Errorf("merge conversation: %w", err)
	}
	if _, err := t.Querier().Exec(ctx, `DELETE FROM typing_state WHERE conversation_id = $1`, guestConv); err != nil {
		return 0, fmt.Errorf("merge typing state: %w", err)
	}
	if _, err := t.Querier().Exec(ctx, `DELETE FROM conversations WHERE id = $1`, guestConv); err != nil {
		return 0, fmt.Errorf("delete merged conversation: %w", err)
	}
	return n, nil
}

// moveMessages moves conversation from's messages to conversation to
// (from = to: they stay), the guest's becoming the customer's: their
// sender, and who deleted or edited them. It returns how many rows it
// changed.
func (t tables) moveMessages(ctx context.Context, from, to, guestID, customerID string) (int, error) {
	tag, err := t.Querier().Exec(ctx, `UPDATE messages SET conversation_id = $2,
			sender_id = CASE WHEN sender_id = $3 THEN $4 ELSE sender_id END,
			deleted_by = CASE WHEN deleted_by = $3 THEN $4 ELSE deleted_by END
		WHERE conversation_id = $1 AND ($1 <> $2 OR sender_id = $3 OR deleted_by = $3)`, from, to, guestID, customerID)
	if err != nil {
		return 0, fmt.Errorf("move messages: %w", err)
	}
	if _, err := t.Querier().Exec(ctx, `UPDATE message_edits SET replaced_by = $3
		WHERE replaced_by = $2 AND message_id IN (SELECT id FROM messages WHERE conversation_id = $1)`, to, guestID, customerID); err != nil {
		return 0, fmt.Errorf("move message versions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// moveParticipants moves conversation from's participants to conversation
// to (from = to: only the guest's row moves), the guest's row becoming the
// customer's (role customer). A participant already in to keeps the
// earlier join and the later read and delivery state of its two rows.
func (t tables) moveParticipants(ctx context.Context, from, to, guestID, customerID string) error {
	_, err := t.Querier().Exec(ctx, `WITH gone AS (
			DELETE FROM conversation_participants WHERE conversation_id = $1 AND ($1 <> $2 OR user_id = $3)
			RETURNING user_id, role, joined_at, last_read_at, last_seen_at, delivered_up_to, delivered_at)
		INSERT INTO conversation_participants AS p (conversation_id, user_id, role, joined_at, last_read_at, last_seen_at,
			delivered_up_to, delivered_at)
		SELECT $2, CASE WHEN user_id = $3 THEN $4 ELSE user_id END, CASE WHEN user_id = $3 THEN 'customer' ELSE role END,
			joined_at, last_read_at, last_seen_at, delivered_up_to, delivered_at FROM gone
		ON CONFLICT (conversation_id, user_id) DO UPDATE SET joined_at = least(p.joined_at, excluded.joined_at),
			last_read_at = greatest(p.last_read_at, excluded.last_read_at), last_seen_at = greatest(p.last_seen_at, excluded.last_seen_at),
			delivered_up_to = greatest(p.delivered_up_to, excluded.delivered_up_to),
			delivered_at = CASE WHEN excluded.delivered_up_to > coalesce(p.delivered_up_to, '-infinity') THEN excluded.delivered_at
				ELSE p.delivered_at END`,
		from, to, guestID, customerID)
	if err != nil {
		return fmt.Errorf("move participants: %w", err)
	}
	return nil
}

// deliver moves the caller's delivered position in a conversation up to
// message msgID's creation time, making the caller (a user, and a
// participant) known if it is not yet, in one statement. It writes
// nothing when the position is already there (moved false), and finds no
// row (schema.ErrNoRow) when the message is not the conversation's. In a
// group or direct channel (marked) a move is also a delivery mark.
func (t tables) deliver(ctx context.Context, convID, msgID string, id *functions.Identity, marked bool, now time.Time) (at time.Time, moved bool, err error) {
	err = t.Querier().QueryRow(ctx, `WITH
		caller AS (INSERT INTO users (id, name, role, org_id) VALUES ($3, $5, $4, $6) ON CONFLICT (id) DO NOTHING),
		m AS (SELECT created_at FROM messages WHERE id = $2 AND conversation_id = $1),
		moved AS (INSERT INTO conversation_participants (conversation_id, user_id, role, delivered_up_to, delivered_at)
			SELECT $1, $3, $4, m.created_at, $7 FROM m
			ON CONFLICT (conversation_id, user_id) DO UPDATE
				SET delivered_up_to = excluded.delivered_up_to, delivered_at = excluded.delivered_at
				WHERE conversation_participants.delivered_up_to IS NULL
					OR conversation_participants.delivered_up_to < excluded.delivered_up_to
			RETURNING 1),
		mark AS (INSERT INTO receipt_marks (conversation_id, up_to, user_id, kind, at)
			SELECT $1, m.created_at, $3, 'delivered', $7 FROM m WHERE $8 AND EXISTS (SELECT 1 FROM moved)
			ON CONFLICT DO NOTHING)
		SELECT m.created_at, EXISTS (SELECT 1 FROM moved) FROM m`,
		convID, msgID, id.Subject, string(id.Role), storedName(id), id.Org, now, marked).Scan(&at, &moved)
	if err != nil {
		return at, false, fmt.Errorf("mark delivered: %w", schema.OneRow(err))
	}
	return at, moved, nil
}
