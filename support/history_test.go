package support_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/schema"
	"github.com/parley-chat/parley/support"
)

// TestCustomerHistory: beside a chat, the agent sees the customer's
// earlier requests (not the open one), live as one closes and the
// customer asks again, and their other conversations with their latest
// message; customers, unknown conversations and other kinds are refused.
func TestCustomerHistory(t *testing.T) {
	e := newEnv(t, 0)
	cust := customer("hist")
	first := e.request(cust, map[string]any{"topic": "Late parcel", "skills": []string{"shipping"}, "priority": "high"})
	e.profile(admin, map[string]any{"skills": []string{"shipping"}})
	require.Equal(t, first.ConversationID, *e.pick(admin).ConversationID)

	console := e.dial(admin, "")
	history := watch[support.CustomerHistory](t, console, "getCustomerHistory", map[string]any{"conversationId": first.ConversationID})
	h := history("nothing before this chat", func(h support.CustomerHistory) bool { return h.CustomerID == cust.Subject })
	require.Equal(t, support.CustomerHistory{ConversationID: first.ConversationID, CustomerID: cust.Subject, CustomerName: cust.Name,
		Requests: []support.PastRequest{}, Conversations: []support.CustomerConversation{}}, h, "the open request is the current one")

	// The agent closes the chat: it enters the history, pushed.
	_, err := e.mutate(admin, "closeChat", map[string]any{"conversationId": first.ConversationID, "reason": "Parcel found"})
	require.NoError(t, err)
	h = history("the closed chat", func(h support.CustomerHistory) bool { return h.RequestCount == 1 })
	require.Len(t, h.Requests, 1)
	past := h.Requests[0]
	require.Equal(t, first.RequestID, past.RequestID)
	require.Equal(t, first.ConversationID, past.ConversationID)
	require.Equal(t, support.StateClosed, past.State)
	require.Equal(t, "Late parcel", *past.Topic)
	require.Equal(t, []string{"shipping"}, past.Skills)
	require.Equal(t, "high", past.Priority)
	require.Nil(t, past.OrderID)
	require.Equal(t, admin.Subject, *past.AgentID)
	require.Equal(t, admin.Name, *past.AgentName)
	require.Equal(t, first.EnqueuedAt, past.EnqueuedAt)
	require.NotNil(t, past.AssignedAt)
	require.NotNil(t, past.ClosedAt)
	require.GreaterOrEqual(t, *past.ClosedAt, *past.AssignedAt)
	require.GreaterOrEqual(t, *past.AssignedAt, past.EnqueuedAt)
	require.Equal(t, "Parcel found", *past.CloseReason)

	// The customer asks again (the conversation reopens): the new, open
	// request is the current one, the earlier one stays listed.
	second := e.request(cust, map[string]any{"topic": "Refund"})
	require.Equal(t, first.ConversationID, second.ConversationID)
	require.True(t, second.Created)
	h = history("still the earlier one alone", func(h support.CustomerHistory) bool {
		return h.RequestCount == 1 && h.Requests[0].RequestID == first.RequestID
	})
	require.Equal(t, support.StateClosed, h.Requests[0].State)
	// Closed while still queued: both are history, newest first.
	_, err = e.mutate(admin, "closeChat", map[string]any{"conversationId": first.ConversationID})
	require.NoError(t, err)
	h = history("both closed", func(h support.CustomerHistory) bool { return h.RequestCount == 2 })
	require.Equal(t, []string{second.RequestID, first.RequestID}, []string{h.Requests[0].RequestID, h.Requests[1].RequestID})
	require.Nil(t, h.Requests[0].AgentID, "closed while queued: nobody held it")
	require.Nil(t, h.Requests[0].CloseReason)
	require.Equal(t, "Refund", *h.Requests[0].Topic)
	// A change of the customer's requests alone (no conversation's) is
	// pushed too: the query depends on them by customer.
	_, err = e.s.DB.Exec(context.Background(), `UPDATE support_requests SET close_reason = 'Asked twice' WHERE id = $1`, second.RequestID)
	require.NoError(t, err)
	history("the request's own change", func(h support.CustomerHistory) bool {
		return h.Requests[0].CloseReason != nil && *h.Requests[0].CloseReason == "Asked twice"
	})
	third := e.request(cust, map[string]any{})
	require.Equal(t, first.ConversationID, third.ConversationID)
	history("the third is current", func(h support.CustomerHistory) bool { return h.RequestCount == 2 })

	// The customer's other conversations: a store chat about an order of
	// theirs, with its latest message, live.
	const order = "order-hist"
	_, err = e.s.DB.Exec(context.Background(), `INSERT INTO orders (id, customer_id, store_id, total_amount, status, order_date)
		VALUES ($1, $2, $3, 12.5, 'delivered', now())`, order, cust.Subject, schema.DemoStoreID)
	require.NoError(t, err)
	ref := must[chat.ConversationRef](t)(e.chatMutate(cust, "createOrGetConversation", map[string]any{"orderId": order,
		"storeId": schema.DemoStoreID}))
	require.Equal(t, chat.CustomerToStore, ref.ConversationType)
	_, err = e.chatMutate(cust, "sendMessage", map[string]any{"conversationId": ref.ConversationID, "content": "Is the shop open?",
		"messageType": "text"})
	require.NoError(t, err)
	h = history("the store chat", func(h support.CustomerHistory) bool {
		return len(h.Conversations) == 1 && h.Conversations[0].LastMessagePreview != nil
	})
	other := h.Conversations[0]
	require.Equal(t, ref.ConversationID, other.ConversationID)
	require.Equal(t, chat.CustomerToStore, other.Type)
	require.Equal(t, "active", other.Status)
	require.Equal(t, schema.DemoStoreID, *other.StoreID)
	require.Equal(t, "Pizza Palace", *other.StoreName)
	require.Equal(t, "Is the shop open?", *other.LastMessagePreview)
	require.NotNil(t, other.LastMessageAt)
	require.Equal(t, order, *other.OrderID)
	require.NotZero(t, other.CreatedAt)

	// A request about that order is another support conversation's: both
	// are listed in the current chat's history, the open one too.
	about := e.request(cust, map[string]any{"orderId": order, "topic": "Cold pizza"})
	require.NotEqual(t, first.ConversationID, about.ConversationID)
	h = history("the order's request and conversation", func(h support.CustomerHistory) bool {
		return h.RequestCount == 3 && len(h.Conversations) == 2
	})
	require.Equal(t, about.RequestID, h.Requests[0].RequestID)
	require.Equal(t, support.StateQueued, h.Requests[0].State)
	require.Equal(t, order, *h.Requests[0].OrderID)
	require.Equal(t, about.ConversationID, h.Conversations[0].ConversationID, "newest activity first")
	require.Equal(t, chat.CustomerToAdmin, h.Conversations[0].Type)
	// From that conversation, the first chat's three requests are history.
	h = must[support.CustomerHistory](t)(e.query(admin, "getCustomerHistory", map[string]any{"conversationId": about.ConversationID}))
	require.Equal(t, 3, h.RequestCount)
	require.Equal(t, []string{third.RequestID, second.RequestID, first.RequestID},
		[]string{h.Requests[0].RequestID, h.Requests[1].RequestID, h.Requests[2].RequestID})

	// Another customer's history is theirs alone.
	elsewhere := e.request(customer("hist-other"), map[string]any{})
	h = must[support.CustomerHistory](t)(e.query(admin, "getCustomerHistory", map[string]any{"conversationId": elsewhere.ConversationID}))
	require.Equal(t, "cust-hist-other", h.CustomerID)
	require.Zero(t, h.RequestCount)
	require.Empty(t, h.Requests)
	require.Empty(t, h.Conversations)

	// Refused: the customer themself, an unknown conversation, another
	// kind of conversation.
	_, err = e.query(cust, "getCustomerHistory", map[string]any{"conversationId": first.ConversationID})
	require.ErrorIs(t, err, support.ErrAdminOnly)
	_, err = e.query(admin, "getCustomerHistory", map[string]any{"conversationId": "conv-nope"})
	require.ErrorIs(t, err, chat.ErrConversationNotFound)
	_, err = e.query(admin, "getCustomerHistory", map[string]any{"conversationId": ref.ConversationID})
	require.ErrorIs(t, err, chat.ErrNotCustomerSupport)
	_, err = e.query(acmeAdmin, "getCustomerHistory", map[string]any{"conversationId": first.ConversationID})
	require.Equal(t, http.StatusNotFound, status(t, err))
}
