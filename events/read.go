package events

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// GetConversationEventsArgs reads a conversation's event log.
type GetConversationEventsArgs struct {
	ConversationID string `json:"conversationId"`
	// After is an event id: only later events. Absent means the latest
	// Limit events.
	After *string `json:"after"`
	// Limit is at most 200. Absent means 50.
	Limit *int `json:"limit"`
}

// ConversationEvents is a slice of a conversation's log, oldest first.
type ConversationEvents struct {
	Events []Envelope `json:"events"`
	// HasMore says more events follow the last one (read again with it
	// as After).
	HasMore bool `json:"hasMore"`
}

// maxEvents bounds getConversationEvents' page.
const maxEvents = 200

// getConversationEvents is the body of a shared query: the access check
// (chat's) has admitted the caller.
func getConversationEvents(c *functions.QueryCtx, a GetConversationEventsArgs) (ConversationEvents, error) {
	limit := 50
	if a.Limit != nil {
		if *a.Limit < 1 || *a.Limit > maxEvents {
			return ConversationEvents{}, functions.Invalid("limit must be between 1 and %d", maxEvents)
		}
		limit = *a.Limit
	}
	c.DB.Record(schema.Dep{Table: "events", Column: "conversation_id", Value: a.ConversationID})
	var (
		rows pgx.Rows
		err  error
	)
	if a.After == nil {
		rows, err = c.DB.Querier().Query(c.Ctx, `SELECT * FROM (SELECT e.seq, `+envelopeCols+` FROM events e
			WHERE e.conversation_id = $1 ORDER BY e.seq DESC LIMIT $2) l ORDER BY seq`, a.ConversationID, limit+1)
	} else {
		rows, err = c.DB.Querier().Query(c.Ctx, `SELECT e.seq, `+envelopeCols+` FROM events e
			WHERE e.conversation_id = $1 AND e.seq > coalesce((SELECT seq FROM events WHERE id = $2 AND conversation_id = $1), 0)
			ORDER BY e.seq LIMIT $3`, a.ConversationID, *a.After, limit+1)
	}
	if err != nil {
		return ConversationEvents{}, fmt.Errorf("read events: %w", err)
	}
	out := ConversationEvents{Events: []Envelope{}}
	var seq int64
	var ev Envelope
	if _, err := pgx.ForEachRow(rows, append([]any{&seq}, ev.dest()...), func() error {
		ev.finish()
		out.Events = append(out.Events, ev)
		ev = Envelope{}
		return nil
	}); err != nil {
		return ConversationEvents{}, fmt.Errorf("read events: %w", err)
	}
	if len(out.Events) > limit {
		out.HasMore = true
		if a.After == nil {
			out.Events = out.Events[1:] // the oldest was the probe
		} else {
			out.Events = out.Events[:limit]
		}
	}
	return out, nil
}
