package chat

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/schema"
)

// Receipt is how far one participant has received and read a
// conversation: the creation times of the newest message one of their
// clients acknowledged (DeliveredUpTo) and, in a group, of the newest they
// read (ReadUpTo; one-to-one conversations keep read state on the
// messages).
type Receipt struct {
	UserID, Role            string
	DeliveredUpTo, ReadUpTo *time.Time
}

// Receipts reads a conversation's type and its participants' positions.
// It depends on who takes part and on their positions, not on when they
// were last seen; in a one-to-one conversation, whose messages say
// themselves whether they were read, not on read positions either (a
// markMessagesAsRead that marks nothing re-runs no thread).
func (t tables) Receipts(ctx context.Context, convID string) (convType string, rs []Receipt, err error) {
	defer func() {
		watch := "user_id,role,delivered_up_to"
		if convType == "" || memberGated(convType) { // "": no participant yet, the type unread
			watch += ",last_read_at"
		}
		t.Record(schema.Dep{Table: "conversation_participants", Column: "conversation_id", Value: convID, Watch: watch})
	}()
	rows, err := t.Querier().Query(ctx, `SELECT c.conversation_type, p.user_id, p.role, p.delivered_up_to, p.last_read_at
		FROM conversations c JOIN conversation_participants p ON p.conversation_id = c.id
		WHERE c.id = $1 ORDER BY p.joined_at, p.user_id`, convID)
	if err != nil {
		return "", nil, fmt.Errorf("read receipts: %w", err)
	}
	var r Receipt
	_, err = pgx.ForEachRow(rows, []any{&convType, &r.UserID, &r.Role, &r.DeliveredUpTo, &r.ReadUpTo}, func() error {
		rs = append(rs, r)
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("read receipts: %w", err)
	}
	return convType, rs, nil
}

// ParticipantRow is a participant as getParticipants shows them.
type ParticipantRow struct {
	UserID, Name, Role string
	JoinedAt           time.Time
	LastReadAt         *time.Time
	LastDeliveredAt    *time.Time
	LastSeenAt         *time.Time
	OnlineUntil        *time.Time
}

// ParticipantsOf lists a conversation's participants in the order they
// joined, with their names, read and delivery times and activity. It
// depends on the participants' rows but for last_seen_at (a conversation
// opened), their names and their user_activity rows.
func (t tables) ParticipantsOf(ctx context.Context, convID string) ([]ParticipantRow, error) {
	t.Record(schema.Dep{Table: "conversation_participants", Column: "conversation_id", Value: convID,
		Watch: "user_id,role,joined_at,last_read_at,delivered_at"})
	rows, err := t.Querier().Query(ctx, `SELECT p.user_id, coalesce(u.name, p.user_id), p.role, p.joined_at,
			p.last_read_at, p.delivered_at, a.last_seen_at, a.online_until
		FROM conversation_participants p
		LEFT JOIN users u ON u.id = p.user_id
		LEFT JOIN user_activity a ON a.user_id = p.user_id
		WHERE p.conversation_id = $1 ORDER BY p.joined_at, p.user_id`, convID)
	if err != nil {
		return nil, fmt.Errorf("read participants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ParticipantRow, error) {
		var p ParticipantRow
		err := r.Scan(&p.UserID, &p.Name, &p.Role, &p.JoinedAt, &p.LastReadAt, &p.LastDeliveredAt, &p.LastSeenAt, &p.OnlineUntil)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read participants: %w", err)
	}
	for _, p := range out {
		t.Record(schema.Dep{Table: "users", Column: "id", Value: p.UserID, Watch: "name"})
		t.record("user_activity", "user_id", p.UserID)
	}
	return out, nil
}

// Mark is a receipt mark: a participant's position (UpTo) of a kind
// ("delivered" or "read") as it moved, at At.
type Mark struct {
	UpTo, At time.Time
}

// Marks are one participant's receipt marks, each kind in position order.
type Marks struct{ Delivered, Read []Mark }

// MarksSince reads a group's or direct channel's receipt marks that reach
// messages created at or after since, by user: whatever a page of
// messages from since on needs to say when each reached whom. It depends
// on the conversation's marks.
func (t tables) MarksSince(ctx context.Context, convID string, since time.Time) (map[string]*Marks, error) {
	t.record("receipt_marks", "conversation_id", convID)
	rows, err := t.Querier().Query(ctx, `SELECT user_id, kind, up_to, at FROM receipt_marks
		WHERE conversation_id = $1 AND up_to >= $2 ORDER BY up_to`, convID, since)
	if err != nil {
		return nil, fmt.Errorf("read receipt marks: %w", err)
	}
	out := map[string]*Marks{}
	var (
		user, kind string
		m          Mark
	)
	_, err = pgx.ForEachRow(rows, []any{&user, &kind, &m.UpTo, &m.At}, func() error {
		ms := out[user]
		if ms == nil {
			ms = &Marks{}
			out[user] = ms
		}
		if kind == "read" {
			ms.Read = append(ms.Read, m)
		} else {
			ms.Delivered = append(ms.Delivered, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read receipt marks: %w", err)
	}
	return out, nil
}

// firstReaching is the time of the first of marks (in position order)
// that reaches a message created at created, or nil.
func firstReaching(marks []Mark, created time.Time) *time.Time {
	i := sort.Search(len(marks), func(i int) bool { return !marks[i].UpTo.Before(created) })
	if i == len(marks) {
		return nil
	}
	return &marks[i].At
}
