package support

import "github.com/parley-chat/parley/functions"

// The domain events the desk's mutations emit (functions.MutationCtx.Emit),
// written with their commits by the events domain's outbox, as chat's are;
// package events lists the same types (events.Types). Each names the
// conversation; data is an EventData.
const (
	EventQueued      = "support.queued"
	EventAssigned    = "support.assigned"
	EventTransferred = "support.transferred"
	EventClosed      = "support.closed"
)

// EventData is the data of the support.* events: the request, and what
// the action changed.
type EventData struct {
	RequestID  string   `json:"requestId"`
	CustomerID string   `json:"customerId"`
	Priority   string   `json:"priority"`
	Skills     []string `json:"skills"`
	Topic      *string  `json:"topic,omitempty"`
	OrderID    *string  `json:"orderId,omitempty"`
	// AgentID holds the chat after an assignment or transfer to an agent,
	// and held it at a close.
	AgentID *string `json:"agentId,omitempty"`
	// A transfer's: from whom, to whom or to which skill, and its note.
	FromAgentID *string `json:"fromAgentId,omitempty"`
	ToAgentID   *string `json:"toAgentId,omitempty"`
	ToSkill     *string `json:"toSkill,omitempty"`
	Note        *string `json:"note,omitempty"`
	// A close's reason, and the time from the first assignment to it.
	Reason            *string  `json:"reason,omitempty"`
	HandleTimeSeconds *float64 `json:"handleTimeSeconds,omitempty"`
}

func emit(c *functions.MutationCtx, typ string, r request, d EventData) {
	d.RequestID, d.CustomerID, d.Priority, d.Skills, d.Topic, d.OrderID = r.id, r.customerID, priorityName(r.priority), r.skills, r.topic, r.orderID
	c.Emit(functions.Event{Type: typ, ConversationID: r.conversationID, Data: d})
}
