package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/schema"
)

// The reads of searchMessages (search.go).

// SearchScope is the conversations a search covers: one (ConversationID,
// admitted by its access check), or, in Org, a customer's (CustomerID),
// a store's (StoreID), or every one (admins); and, with MemberID, the
// groups and direct channels MemberID is in.
type SearchScope struct {
	Org, ConversationID, CustomerID, StoreID, MemberID string
}

// SearchHit is a message a search found, with its rank.
type SearchHit struct {
	Message
	Rank float32
}

// SearchMessages finds up to limit undeleted messages in scope whose
// words match query (websearch_to_tsquery, 'simple'), best first: rank,
// then newest; after a cursor, those that come after it. It depends on
// the scope's conversations and their messages' content and deletion.
func (t tables) SearchMessages(ctx context.Context, s SearchScope, query string, after *searchCursor, limit int) ([]SearchHit, error) {
	watch := "content,is_deleted,is_read,read_at,edited_at"
	args := []any{query, limit}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var where string
	if s.ConversationID != "" {
		t.Record(schema.Dep{Table: "messages", Column: "conversation_id", Value: s.ConversationID, Watch: watch})
		where = "m.conversation_id = " + arg(s.ConversationID)
	} else {
		// Any conversation's new or changed message may match.
		t.Record(schema.Dep{Table: "messages", Column: schema.WholeTable, Watch: watch})
		where = "c.org_id = " + arg(s.Org)
		var ors []string // the caller's conversations, by kind; none: the whole org (admins)
		if s.CustomerID != "" {
			t.record("conversations", "customer_id", s.CustomerID)
			ors = append(ors, "c.customer_id = "+arg(s.CustomerID))
		}
		if s.StoreID != "" {
			t.record("conversations", "store_id", s.StoreID)
			ors = append(ors, "(c.store_id = "+arg(s.StoreID)+" AND c.conversation_type IN ('customer_to_store', 'store_to_admin'))")
		}
		if s.MemberID != "" {
			t.record("conversation_participants", "user_id", s.MemberID)
			ors = append(ors, "(c.conversation_type IN ('group', 'direct') AND EXISTS (SELECT 1 FROM conversation_participants p"+
				" WHERE p.conversation_id = c.id AND p.user_id = "+arg(s.MemberID)+"))")
		}
		if len(ors) > 0 {
			where += " AND (" + strings.Join(ors, " OR ") + ")"
		}
	}
	if after != nil {
		where += fmt.Sprintf(" AND (rank, m.created_at, m.id) < (%s::real, %s::timestamptz, %s::text)", arg(after.Rank), arg(after.At), arg(after.ID))
	}
	rows, err := t.Querier().Query(ctx, `SELECT m.id, m.conversation_id, m.sender_id, m.sender_type, coalesce(u.name, ''),
			m.message_type, m.content, m.image_file_id, m.is_read, m.read_at, m.created_at, m.edited_at,
			m.location_lat, m.location_lng, m.location_label, m.meeting, rank
		FROM messages m
		JOIN conversations c ON c.id = m.conversation_id
		LEFT JOIN users u ON u.id = m.sender_id,
		LATERAL (SELECT ts_rank(to_tsvector('simple', m.content), websearch_to_tsquery('simple', $1))::real AS rank) r
		WHERE to_tsvector('simple', m.content) @@ websearch_to_tsquery('simple', $1) AND NOT m.is_deleted
			AND `+where+`
		ORDER BY rank DESC, m.created_at DESC, m.id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("search messages: %w", err)
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SearchHit, error) {
		var h SearchHit
		var lat, lng *float64
		var lbl *string
		var meeting []byte
		m := &h.Message
		err := r.Scan(&m.ID, &m.ConversationID, &m.SenderID, &m.SenderType, &m.SenderName, &m.MessageType, &m.Content,
			&m.ImageFileID, &m.IsRead, &m.ReadAt, &m.CreatedAt, &m.EditedAt, &lat, &lng, &lbl, &meeting, &h.Rank)
		if err != nil {
			return h, err
		}
		if lat != nil && lng != nil {
			m.Location = &Location{Lat: *lat, Lng: *lng, Label: lbl}
		}
		if meeting != nil {
			m.Meeting = new(Meeting)
			err = json.Unmarshal(meeting, m.Meeting)
		}
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("search messages: %w", err)
	}
	for _, h := range hits {
		t.record("users", "id", h.SenderID)
	}
	return hits, nil
}
