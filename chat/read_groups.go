package chat

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/schema"
)

// The reads of groups (groups.go).

// GroupRow is a group as its participant's list shows it: with the
// caller's own unread count.
type GroupRow struct {
	Conversation
	Unread int
}

// Groups lists the groups (or, convType Direct, the direct channels)
// userID takes part in within org, newest activity first,
// each with how many messages userID has not read (others' undeleted
// messages after the participant's last_read_at). It depends on userID's
// participant rows (joining, leaving, reading), each listed group's row
// and messages, and every group's status (one of userID's groups of
// another status may come back to this one: archived, a new message
// reactivates it); when the page is full, a group off the page may move
// onto it, so it then depends on every group's latest activity too.
func (t tables) Groups(ctx context.Context, org, userID, convType, status string, limit int) ([]GroupRow, error) {
	t.record("conversation_participants", "user_id", userID)
	rows, err := t.Querier().Query(ctx, `SELECT c.id, c.org_id, c.assigned_admin_id, c.status, c.is_blocked, c.last_message_at,
			c.last_message_preview, c.created_at, c.title, c.created_by, c.subject,
			(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND NOT m.is_deleted
				AND m.sender_id <> $1 AND m.created_at > coalesce(p.last_read_at, '-infinity'))::int
		FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
		WHERE p.user_id = $1 AND c.conversation_type = $5 AND ($2 = '' OR c.status = $2) AND c.org_id = $4
		ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC LIMIT $3`, userID, status, limit, org, convType)
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (GroupRow, error) {
		x := GroupRow{Conversation: Conversation{Type: convType, Member: true}}
		c := &x.Conversation
		err := r.Scan(&c.ID, &c.OrgID, &c.AssignedAdminID, &c.Status, &c.IsBlocked, &c.LastMessageAt,
			&c.LastMessagePreview, &c.CreatedAt, &c.Title, &c.CreatedBy, &c.Subject, &x.Unread)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	for _, x := range out {
		t.record("conversations", "id", x.ID)
		t.Record(schema.Dep{Table: "messages", Column: "conversation_id", Value: x.ID, Watch: "is_deleted"})
	}
	watch := "status"
	if len(out) == limit {
		watch = "last_message_at,status"
	}
	t.Record(schema.Dep{Table: "conversations", Column: "conversation_type", Value: convType, Watch: watch})
	return out, nil
}

// Participant is a member of a conversation, with their stored name.
type Participant struct {
	UserID, Name, Role string
}

// Participants lists the members of each of convIDs, in the order they
// joined. It depends on who joins or leaves them and on the members'
// names.
func (t tables) Participants(ctx context.Context, convIDs []string) (map[string][]Participant, error) {
	for _, id := range convIDs {
		t.Record(schema.Dep{Table: "conversation_participants", Column: "conversation_id", Value: id, Watch: "user_id"})
	}
	rows, err := t.Querier().Query(ctx, `SELECT p.conversation_id, p.user_id, u.name, p.role
		FROM conversation_participants p JOIN users u ON u.id = p.user_id
		WHERE p.conversation_id = ANY($1) ORDER BY p.joined_at, p.user_id`, convIDs)
	if err != nil {
		return nil, fmt.Errorf("read participants: %w", err)
	}
	out := make(map[string][]Participant, len(convIDs))
	var conv string
	var p Participant
	_, err = pgx.ForEachRow(rows, []any{&conv, &p.UserID, &p.Name, &p.Role}, func() error {
		out[conv] = append(out[conv], p)
		t.record("users", "id", p.UserID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read participants: %w", err)
	}
	return out, nil
}

// DirectChannel finds the id of org's direct channel key (mutations).
func (t tables) DirectChannel(ctx context.Context, org, key string) (string, error) {
	var id string
	err := t.Querier().QueryRow(ctx, `SELECT id FROM conversations WHERE org_id = $1 AND direct_key = $2`, org, key).Scan(&id)
	return id, schema.OneRow(err)
}

// StaffStores lists the stores userID works for.
func (t tables) StaffStores(ctx context.Context, userID string) ([]string, error) {
	t.record("store_staff", "user_id", userID)
	rows, err := t.Querier().Query(ctx, `SELECT store_id FROM store_staff WHERE user_id = $1 ORDER BY store_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("read staff stores: %w", err)
	}
	stores, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read staff stores: %w", err)
	}
	return stores, nil
}
