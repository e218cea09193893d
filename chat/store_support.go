package chat

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Store ↔ support threads (seed 000's vendor ↔ admin): a store's staff ask
// the marketplace's support, about the store or one of its orders. In them
// the store is the asking side, as a customer is in a customer's support
// thread (askingSide): its staff mark support's messages read and support
// the staff's; they are in the store's inbox and in support's. The store's
// unread count is unreadCountRecipient there too, support's
// unreadCountCustomer (0017_store_support.sql).

// ErrStaffOrAdmins refuses customers (and guests) a store ↔ support thread.
var ErrStaffOrAdmins = functions.Forbidden("Only a store's staff or support can open a store support conversation")

// CreateOrGetStoreSupportConversationArgs are the arguments of
// createOrGetStoreSupportConversation: the store (its staff's own by
// default; admins must name it) and, optionally, an order of that store.
type CreateOrGetStoreSupportConversationArgs struct {
	StoreID *string `json:"storeId"`
	OrderID *string `json:"orderId"`
}

// createOrGetStoreSupportConversation opens (or finds) the thread between
// a store and support, one per store and order (or none). Staff open their
// own store's (another store is not found); admins open any store's of
// their org.
func createOrGetStoreSupportConversation(c *functions.MutationCtx, a CreateOrGetStoreSupportConversationArgs) (ConversationRef, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return ConversationRef{}, err
	}
	var storeID string
	switch {
	case id.Role != functions.RoleStore && id.Role != functions.RoleAdmin:
		return ConversationRef{}, ErrStaffOrAdmins
	case a.StoreID != nil && *a.StoreID == "":
		return ConversationRef{}, functions.Invalid("storeId must not be empty")
	case a.StoreID != nil:
		storeID = *a.StoreID
	case id.Role == functions.RoleAdmin:
		return ConversationRef{}, functions.Invalid("storeId is required: support opens a conversation with a store it names")
	default:
		storeID = id.StoreID
	}
	if id.Role == functions.RoleStore && storeID != id.StoreID {
		return ConversationRef{}, ErrStoreNotFound // staff speak for their own store only
	}
	if _, err := storeIn(c.Ctx, c.DB, id.Org, storeID); err != nil {
		return ConversationRef{}, err
	}
	orderID := ""
	if a.OrderID != nil {
		if *a.OrderID == "" {
			return ConversationRef{}, functions.Invalid("orderId must not be empty")
		}
		order, err := c.DB.Order(c.Ctx, *a.OrderID)
		switch {
		case errors.Is(err, schema.ErrNoRow) || (err == nil && order.StoreID != storeID):
			return ConversationRef{}, ErrOrderNotFound
		case err != nil:
			return ConversationRef{}, err
		}
		orderID = order.ID
	}
	if err := chatOn(c, id); err != nil {
		return ConversationRef{}, err
	}
	t := tables{c.DB}
	existing, err := t.StoreSupportConversation(c.Ctx, id.Org, storeID, orderID)
	if err == nil {
		return ConversationRef{ConversationID: existing, ConversationType: StoreToAdmin}, nil
	}
	if !errors.Is(err, schema.ErrNoRow) {
		return ConversationRef{}, err
	}
	convID := schema.NewID("conv")
	// A concurrent twin fails this insert (conversations_store_support);
	// the retried mutation finds it above.
	if err := t.insertConversation(c.Ctx, convID, id.Org, StoreToAdmin, "", storeID, orderID); err != nil {
		return ConversationRef{}, err
	}
	if err := t.join(c.Ctx, convID, id); err != nil {
		return ConversationRef{}, err
	}
	emitConversation(c, eventConversationCreated, convID, ConversationEvent{ConversationType: StoreToAdmin,
		StoreID: &storeID, OrderID: optional(orderID)})
	return ConversationRef{ConversationID: convID, ConversationType: StoreToAdmin}, nil
}

// StoreSupportConversation finds the id of a store's thread with support
// about an order ("" for none), if there is one.
func (t tables) StoreSupportConversation(ctx context.Context, org, storeID, orderID string) (string, error) {
	var id string
	err := t.Querier().QueryRow(ctx, `SELECT id FROM conversations
		WHERE org_id = $1 AND store_id = $2 AND coalesce(order_id, '') = $3 AND conversation_type = 'store_to_admin'`,
		org, storeID, orderID).Scan(&id)
	if err = schema.OneRow(err); err != nil && !errors.Is(err, schema.ErrNoRow) {
		return "", fmt.Errorf("read store support conversation: %w", err)
	}
	return id, err
}
