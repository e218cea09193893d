package support

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// MaxHistoryListed bounds getCustomerHistory's lists (RequestCount counts
// every request).
const MaxHistoryListed = 20

// CustomerHistoryArgs are the arguments of getCustomerHistory.
type CustomerHistoryArgs struct {
	ConversationID string `json:"conversationId"`
}

// CustomerHistory is getCustomerHistory's answer: who a support
// conversation's customer is, and what they asked support before.
type CustomerHistory struct {
	ConversationID string `json:"conversationId"`
	CustomerID     string `json:"customerId"`
	// CustomerName is the customer's user name (their id when they have
	// no user row).
	CustomerName    string `json:"customerName"`
	CustomerIsGuest bool   `json:"customerIsGuest"`
	// Requests are the customer's support requests in the org but this
	// conversation's open one, newest first, at most MaxHistoryListed.
	Requests []PastRequest `json:"requests"`
	// RequestCount counts all of them.
	RequestCount int `json:"requestCount"`
	// Conversations are the customer's other conversations in the org
	// (with support, with stores), newest activity first, at most
	// MaxHistoryListed.
	Conversations []CustomerConversation `json:"conversations"`
}

// PastRequest is one of a customer's support requests in their history.
type PastRequest struct {
	RequestID      string   `json:"requestId"`
	ConversationID string   `json:"conversationId"`
	Topic          *string  `json:"topic"`
	Skills         []string `json:"skills"`
	Priority       string   `json:"priority" ts:"low|normal|high|urgent"`
	OrderID        *string  `json:"orderId"`
	// State is queued or assigned for an open request (of another of the
	// customer's conversations), else closed.
	State string `json:"state" ts:"queued|assigned|closed"`
	// AgentID and AgentName are the agent who holds it, or held it last
	// (null: none ever did).
	AgentID   *string `json:"agentId"`
	AgentName *string `json:"agentName"`
	// EnqueuedAt, AssignedAt (the first assignment) and ClosedAt are
	// milliseconds since the epoch.
	EnqueuedAt  int64   `json:"enqueuedAt"`
	AssignedAt  *int64  `json:"assignedAt"`
	ClosedAt    *int64  `json:"closedAt"`
	CloseReason *string `json:"closeReason"`
}

// CustomerConversation is one of a customer's other conversations in
// their history.
type CustomerConversation struct {
	ConversationID string  `json:"conversationId"`
	Type           string  `json:"type" ts:"customer_to_admin|customer_to_store"`
	Status         string  `json:"status"`
	OrderID        *string `json:"orderId"`
	StoreID        *string `json:"storeId"`
	StoreName      *string `json:"storeName"`
	// LastMessagePreview and LastMessageAt (milliseconds since the epoch)
	// are its latest message's; CreatedAt is when it began.
	LastMessagePreview *string `json:"lastMessagePreview"`
	LastMessageAt      *int64  `json:"lastMessageAt"`
	CreatedAt          int64   `json:"createdAt"`
}

// getCustomerHistory answers an agent of the conversation's org with its
// customer's previous support requests and other conversations, live:
// it depends on the customer's requests (support_requests by
// customer_id) and conversations, not on the conversation's messages.
func (s *Service) getCustomerHistory(c *functions.QueryCtx, a CustomerHistoryArgs) (CustomerHistory, error) {
	id, err := requireAgent(c.Identity())
	if err != nil {
		return CustomerHistory{}, err
	}
	conv, err := chat.DeskConversation(c, a.ConversationID)
	if err != nil {
		return CustomerHistory{}, err
	}
	out := CustomerHistory{ConversationID: conv.ID, CustomerID: conv.CustomerID, CustomerName: conv.CustomerID,
		Requests: []PastRequest{}, Conversations: []CustomerConversation{}}
	u, err := c.DB.User(c.Ctx, conv.CustomerID)
	switch {
	case err == nil:
		out.CustomerName, out.CustomerIsGuest = u.Name, u.Role == string(functions.RoleGuest)
	case !noRow(err):
		return CustomerHistory{}, err
	}
	reqs, total, err := requestTables{c.DB}.history(c.Ctx, id.Org, conv.CustomerID, conv.ID, MaxHistoryListed)
	if err != nil {
		return CustomerHistory{}, err
	}
	out.RequestCount = total
	for _, r := range reqs {
		out.Requests = append(out.Requests, PastRequest{RequestID: r.id, ConversationID: r.conversationID, Topic: r.topic,
			Skills: r.skills, Priority: priorityName(r.priority), OrderID: r.orderID, State: r.state, AgentID: r.agentID,
			AgentName: r.agentName, EnqueuedAt: r.enqueuedAt.UnixMilli(), AssignedAt: millis(r.assignedAt),
			ClosedAt: millis(r.closedAt), CloseReason: r.closeReason})
	}
	// One more than listed: this conversation is among them.
	convs, err := chat.CustomerConversations(c, id.Org, conv.CustomerID, MaxHistoryListed+1)
	if err != nil {
		return CustomerHistory{}, err
	}
	for _, x := range convs {
		if x.ID == conv.ID || len(out.Conversations) == MaxHistoryListed {
			continue
		}
		out.Conversations = append(out.Conversations, CustomerConversation{ConversationID: x.ID, Type: x.Type,
			Status: x.Status, OrderID: x.OrderID, StoreID: x.StoreID, StoreName: x.StoreName,
			LastMessagePreview: x.LastMessagePreview, LastMessageAt: millis(x.LastMessageAt), CreatedAt: x.CreatedAt.UnixMilli()})
	}
	return out, nil
}

// history reads a customer's requests in org, newest first, at most
// limit, but convID's open one, and how many there are in all. It
// depends on the customer's requests: one queued, taken or closed
// anywhere re-runs it.
func (t requestTables) history(ctx context.Context, org, customerID, convID string, limit int) ([]request, int, error) {
	t.Record(schema.Dep{Table: "support_requests", Column: "customer_id", Value: customerID})
	rows, err := t.Querier().Query(ctx, `SELECT `+requestCols+`, count(*) OVER () FROM support_requests
		WHERE org_id = $1 AND customer_id = $2 AND NOT (conversation_id = $3 AND state <> 'closed')
		ORDER BY enqueued_at DESC, id DESC LIMIT $4`, org, customerID, convID, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("read customer's requests: %w", err)
	}
	var out []request
	var total int
	var r request
	_, err = pgx.ForEachRow(rows, []any{&r.id, &r.org, &r.conversationID, &r.customerID, &r.customerName, &r.topic, &r.skills,
		&r.priority, &r.orderID, &r.state, &r.agentID, &r.agentName, &r.enqueuedAt, &r.assignedAt, &r.closedAt, &r.closeReason,
		&total}, func() error {
		out = append(out, r)
		r = request{} // the next row's pointers and slices are its own
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read customer's requests: %w", err)
	}
	return out, total, nil
}
