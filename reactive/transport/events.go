package transport

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// Event mode of the single-subscription stream (GET /api/sse?events=1):
// for a query whose result is a list of domain events, such as
// shared/events:getConversationEvents({conversationId, after?}) returning
// {events: [{id, type, ts, conversationId, messageId?, actor, data}]},
// each new item goes out as an event of its own,
//
//	event: <type>
//	id: <event id>
//	data: <the item, verbatim>
//
// instead of the whole result per change. The last id (Last-Event-ID, or
// ?lastEventId=) is passed to the query as its after argument, so a
// resumed stream starts after it; within a stream, an item is new when it
// follows the last one sent in the result's order (the query lists events
// oldest first). A failed query is an error event, as without events=1.

// eventsQuery is the query parameter that turns event mode on.
const eventsQuery = "events"

// eventItem is one item of an events result.
type eventItem struct {
	id, typ string
	raw     json.RawMessage
}

// eventType is what an event's type may be to become an SSE event name:
// no line breaks or colons to break the framing.
var eventType = regexp.MustCompile(`^[A-Za-z0-9_.\-/]{1,100}$`)

// withAfter returns args (a JSON object) with after set to last.
func withAfter(args json.RawMessage, last string) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(args, &obj); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(last)
	obj["after"] = b
	return json.Marshal(obj)
}

// newEvents returns the items of value, an events result, that follow the
// item last (all of them when last is not among them), and the id of the
// newest item (last when there are none).
func newEvents(value json.RawMessage, last string) ([]eventItem, string, error) {
	var res struct {
		Events *[]json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(value, &res); err != nil {
		return nil, last, fmt.Errorf("events result: %w", err)
	}
	if res.Events == nil {
		return nil, last, fmt.Errorf("events result: no events list")
	}
	items := make([]eventItem, 0, len(*res.Events))
	from := 0
	for i, raw := range *res.Events {
		var head struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" {
			return nil, last, fmt.Errorf("events result: item %d has no id", i)
		}
		if !eventType.MatchString(head.Type) {
			head.Type = "event"
		}
		if head.ID == last {
			from = i + 1
		}
		items = append(items, eventItem{id: head.ID, typ: head.Type, raw: raw})
	}
	items = items[from:]
	if len(items) > 0 {
		last = items[len(items)-1].id
	}
	return items, last, nil
}
