package chat

import (
	"context"
	"errors"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Reasons canChatWithStore gives when a customer may not chat.
const (
	ReasonDirectMessagingDisabled = "Direct messaging is disabled"
	ReasonStoreMessagingDisabled  = "This store does not accept direct messages"
	ReasonNoEligibleOrders        = "You have no active orders with this store"
	ReasonChatDisabled            = "Chat is disabled" // the org's or the store's chat switch is off
)

// eligibility decides whether customer may message store directly: the
// org's switch, the store's switch, and at least one order with the store
// that is not cancelled. orderIDs lists those orders. A store of another
// org is not found.
func eligibility(ctx context.Context, db *schema.DB, customer *functions.Identity, storeID string) (ok bool, reason string, orderIDs []string, err error) {
	customerID := customer.Subject
	if _, err := storeIn(ctx, db, customer.Org, storeID); err != nil {
		return false, "", nil, err
	}
	store, err := db.Store(ctx, storeID)
	if err != nil {
		return false, "", nil, err
	}
	settings, err := db.Settings(ctx, customer.Org)
	if err != nil {
		return false, "", nil, err
	}
	orders, err := db.CustomerOrdersAtStore(ctx, customerID, storeID)
	if err != nil {
		return false, "", nil, err
	}
	orderIDs = []string{}
	for _, o := range orders {
		if o.Status != "cancelled" {
			orderIDs = append(orderIDs, o.ID)
		}
	}
	switch {
	case !settings.ChatEnabled || !store.ChatEnabled:
		return false, ReasonChatDisabled, orderIDs, nil
	case !settings.DirectMessagingEnabled:
		return false, ReasonDirectMessagingDisabled, orderIDs, nil
	case !store.DirectMessagingEnabled:
		return false, ReasonStoreMessagingDisabled, orderIDs, nil
	case len(orderIDs) == 0:
		return false, ReasonNoEligibleOrders, orderIDs, nil
	}
	return true, "", orderIDs, nil
}

// storeIn reads a store of org: ErrStoreNotFound when there is none, or it
// is another org's.
func storeIn(ctx context.Context, db *schema.DB, org, storeID string) (schema.Store, error) {
	s, err := db.Store(ctx, storeID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && s.OrgID != org) {
		return s, ErrStoreNotFound
	}
	return s, err
}

// requireCustomer is requireIdentity for functions only customers may
// call: a guest gets ErrGuest, anyone else notCustomer.
func requireCustomer(id *functions.Identity, notCustomer error) (*functions.Identity, error) {
	id, err := requireIdentity(id)
	switch {
	case err == nil && id.Role == functions.RoleGuest:
		return nil, ErrGuest
	case err == nil && id.Role != functions.RoleCustomer:
		return nil, notCustomer
	}
	return id, err
}

// CreateOrGetConversationArgs are the arguments of createOrGetConversation.
type CreateOrGetConversationArgs struct {
	OrderID *string `json:"orderId"`
	StoreID *string `json:"storeId"`
}

// ConversationRef is the result of createOrGetConversation.
type ConversationRef struct {
	ConversationID   string `json:"conversationId"`
	ConversationType string `json:"conversationType" ts:"customer_to_store|customer_to_admin|store_to_admin|group|direct"`
}

// createOrGetConversation opens (or finds) a customer's conversation: with
// the store when an order of theirs at that store is given and they may
// message it directly, else with support. A guest has no orders: it opens
// its support conversation, without orderId or storeId (403 ErrGuest).
func createOrGetConversation(c *functions.MutationCtx, a CreateOrGetConversationArgs) (ConversationRef, error) {
	id, err := requireIdentity(c.Identity())
	if err == nil && id.Role == functions.RoleGuest {
		if (a.OrderID != nil && *a.OrderID != "") || (a.StoreID != nil && *a.StoreID != "") {
			return ConversationRef{}, ErrGuest
		}
	} else if err == nil {
		id, err = requireCustomer(id, ErrCustomersStart)
	}
	if err != nil {
		return ConversationRef{}, err
	}
	storeID, orderID := "", ""
	var order schema.Order
	if a.OrderID != nil && *a.OrderID != "" {
		// The customer's own order, at a store of their org.
		order, err = c.DB.Order(c.Ctx, *a.OrderID)
		if err == nil && order.CustomerID == id.Subject {
			_, err = storeIn(c.Ctx, c.DB, id.Org, order.StoreID)
		} else if err == nil {
			err = ErrOrderNotFound
		}
		switch {
		case errors.Is(err, schema.ErrNoRow) || errors.Is(err, ErrStoreNotFound) || errors.Is(err, ErrOrderNotFound):
			return ConversationRef{}, ErrOrderNotFound
		case err != nil:
			return ConversationRef{}, err
		}
		orderID = order.ID
	}
	if a.StoreID != nil && *a.StoreID != "" {
		storeID = *a.StoreID
		store, err := storeIn(c.Ctx, c.DB, id.Org, storeID)
		if err != nil {
			return ConversationRef{}, err
		}
		if !store.ChatEnabled {
			return ConversationRef{}, ErrChatDisabled
		}
	}
	// After the order and store checks: an outsider learns of neither.
	if err := chatOn(c, id); err != nil {
		return ConversationRef{}, err
	}
	convType := CustomerToAdmin
	if storeID != "" && orderID != "" && order.StoreID == storeID {
		ok, _, _, err := eligibility(c.Ctx, c.DB, id, storeID)
		if err != nil {
			return ConversationRef{}, err
		}
		if ok {
			convType = CustomerToStore
		}
	}
	if convType == CustomerToAdmin {
		storeID = "" // support conversations are about an order, not with a store
		settings, err := c.DB.Settings(c.Ctx, id.Org)
		if err != nil {
			return ConversationRef{}, err
		}
		if !settings.AdminSupportEnabled {
			return ConversationRef{}, ErrSupportDisabled
		}
	}
	existing, err := tables{c.DB}.ConversationBySubject(c.Ctx, id.Org, id.Subject, convType, storeID, orderID)
	if err == nil {
		return ConversationRef{ConversationID: existing.ID, ConversationType: existing.Type}, nil
	}
	if !errors.Is(err, schema.ErrNoRow) {
		return ConversationRef{}, err
	}
	t := tables{c.DB}
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return ConversationRef{}, err
	}
	convID := schema.NewID("conv")
	// A concurrent twin makes this insert fail with a unique violation; the
	// mutation is then retried and finds the twin's conversation above.
	if err := t.insertConversation(c.Ctx, convID, id.Org, convType, id.Subject, storeID, orderID); err != nil {
		return ConversationRef{}, err
	}
	if err := t.join(c.Ctx, convID, id); err != nil {
		return ConversationRef{}, err
	}
	emitConversation(c, eventConversationCreated, convID, ConversationEvent{ConversationType: convType,
		CustomerID: &id.Subject, StoreID: optional(storeID), OrderID: optional(orderID)})
	return ConversationRef{ConversationID: convID, ConversationType: convType}, nil
}

// ConversationIDArgs name one conversation.
type ConversationIDArgs struct {
	ConversationID string `json:"conversationId"`
}

// archiveConversation moves a conversation out of the active list. A new
// message brings it back.
func archiveConversation(c *functions.MutationCtx, a ConversationIDArgs) (functions.Null, error) {
	_, conv, err := callerConversation(c, a.ConversationID)
	if err != nil {
		return functions.Null{}, err
	}
	if conv.Status == "active" {
		emitConversation(c, eventConversationArchived, conv.ID, ConversationEvent{ConversationType: conv.Type,
			CustomerID: optional(conv.CustomerID), StoreID: conv.StoreID, OrderID: conv.OrderID})
		return functions.Null{}, tables{c.DB}.archive(c.Ctx, conv.ID)
	}
	return functions.Null{}, nil
}

// ConversationDoc is a conversation as queries return it.
type ConversationDoc struct {
	ID               string  `json:"_id"`
	CreationTime     float64 `json:"_creationTime"`
	ConversationType string  `json:"conversationType" ts:"customer_to_store|customer_to_admin|store_to_admin|group|direct"`
	// CustomerID and CustomerName are empty for a group, which lists its
	// people in participants instead.
	CustomerID   string `json:"customerId"`
	CustomerName string `json:"customerName"`
	// CustomerIsGuest says the customer is a guest: a visitor without an
	// account (see claimGuestThreads).
	CustomerIsGuest      bool          `json:"customerIsGuest,omitempty"`
	StoreID              *string       `json:"storeId,omitempty"`
	StoreName            *string       `json:"storeName,omitempty"`
	OrderID              *string       `json:"orderId,omitempty"`
	OrderSummary         *OrderSummary `json:"orderSummary,omitempty"`
	AssignedAdminID      *string       `json:"assignedAdminId,omitempty"`
	Status               string        `json:"status" ts:"active|archived|closed"`
	IsBlocked            bool          `json:"isBlocked"`
	LastMessageAt        *float64      `json:"lastMessageAt,omitempty"`
	LastMessagePreview   *string       `json:"lastMessagePreview,omitempty"`
	UnreadCountCustomer  int           `json:"unreadCountCustomer"`
	UnreadCountRecipient int           `json:"unreadCountRecipient"`
	// Subject is the conversation's subject, when one was set.
	Subject *string `json:"subject,omitempty"`
	// A group's title, creator and participants (groups only), and, in
	// getGroupConversations, the caller's own unread count.
	Title        *string          `json:"title,omitempty"`
	CreatedBy    *string          `json:"createdBy,omitempty"`
	Participants []ParticipantDoc `json:"participants,omitempty"`
	UnreadCount  *int             `json:"unreadCount,omitempty"`
	// ChannelKey is a direct channel's key, direct:<idA>:<idB>.
	ChannelKey *string `json:"channelKey,omitempty"`
}

// OrderSummary is the order a conversation is about.
type OrderSummary struct {
	ID          string  `json:"_id"`
	TotalAmount float64 `json:"totalAmount"`
	Status      string  `json:"status" ts:"pending|paid|shipped|delivered|cancelled|refunded"`
	OrderDate   float64 `json:"orderDate"`
}

// conversationDoc builds a conversation's document from its inbox row.
func conversationDoc(x InboxRow) ConversationDoc {
	cv := x.Conversation
	d := ConversationDoc{
		ID: cv.ID, CreationTime: schema.Millis(cv.CreatedAt), ConversationType: cv.Type,
		CustomerID: cv.CustomerID, CustomerName: x.CustomerName, CustomerIsGuest: x.CustomerIsGuest, StoreID: cv.StoreID, StoreName: x.StoreName,
		OrderID: cv.OrderID, AssignedAdminID: cv.AssignedAdminID, Status: cv.Status, IsBlocked: cv.IsBlocked,
		LastMessageAt: millisPtr(cv.LastMessageAt), LastMessagePreview: cv.LastMessagePreview,
		UnreadCountCustomer: x.Unread.Customer, UnreadCountRecipient: x.Unread.Recipient,
		Title: cv.Title, CreatedBy: cv.CreatedBy, Subject: cv.Subject,
	}
	if memberGated(cv.Type) {
		// One-to-one counters mean nothing in a group, whose read state
		// is per member: getGroupConversations' unreadCount.
		d.UnreadCountCustomer, d.UnreadCountRecipient = 0, 0
	}
	return d
}

// getConversation returns one conversation with its people and order. It
// is the body of a shared query: conversationAccess has admitted the caller.
func getConversation(c *functions.QueryCtx, a ConversationIDArgs) (ConversationDoc, error) {
	rows, err := tables{c.DB}.Inbox(c.Ctx, ConversationFilter{ID: a.ConversationID})
	if err != nil {
		return ConversationDoc{}, err
	}
	if len(rows) == 0 {
		return ConversationDoc{}, ErrConversationNotFound
	}
	conv, d := rows[0].Conversation, conversationDoc(rows[0])
	if memberGated(conv.Type) {
		members, err := tables{c.DB}.Participants(c.Ctx, []string{conv.ID})
		if err != nil {
			return ConversationDoc{}, err
		}
		d.Participants = participantDocs(members[conv.ID])
		d.ChannelKey = channelKeyOf(conv.Type, members[conv.ID])
	}
	if conv.OrderID != nil {
		o, err := c.DB.Order(c.Ctx, *conv.OrderID)
		if err != nil && !errors.Is(err, schema.ErrNoRow) {
			return ConversationDoc{}, err
		}
		if err == nil {
			d.OrderSummary = &OrderSummary{ID: o.ID, TotalAmount: o.TotalAmount, Status: o.Status, OrderDate: schema.Millis(o.OrderDate)}
		}
	}
	return d, nil
}

// CanChatWithStoreArgs are the arguments of canChatWithStore.
type CanChatWithStoreArgs struct {
	StoreID string `json:"storeId"`
}

// CanChat is the result of canChatWithStore.
type CanChat struct {
	CanChat  bool     `json:"canChat"`
	Reason   *string  `json:"reason,omitempty"`
	OrderIDs []string `json:"orderIds"`
}

func canChatWithStore(c *functions.QueryCtx, a CanChatWithStoreArgs) (CanChat, error) {
	id, err := requireCustomer(c.Identity(), ErrNotCustomer)
	if err != nil {
		return CanChat{}, err
	}
	ok, reason, orderIDs, err := eligibility(c.Ctx, c.DB, id, a.StoreID)
	if err != nil {
		return CanChat{}, err
	}
	out := CanChat{CanChat: ok, OrderIDs: orderIDs}
	if !ok {
		out.Reason = &reason
	}
	return out, nil
}

// ChatSettings is the result of getChatSettings.
type ChatSettings struct {
	DirectMessagingEnabled bool     `json:"directMessagingEnabled"`
	MaxImageSizeMB         int      `json:"maxImageSizeMB"`
	AllowedImageTypes      []string `json:"allowedImageTypes"`
	AdminSupportEnabled    bool     `json:"adminSupportEnabled"`
}

// ChatStatusArgs are the arguments of isChatEnabled.
type ChatStatusArgs struct {
	StoreID *string `json:"storeId"`
}

// ChatStatus is the result of isChatEnabled.
type ChatStatus struct {
	Enabled bool `json:"enabled"`
}

// isChatEnabled reports whether chat takes messages: the caller's org's
// switch and, with storeId, that store's. While it is off, chat's
// mutations answer 403 "Chat is disabled" (but to admins) and its queries
// keep working, read-only.
func isChatEnabled(c *functions.QueryCtx, a ChatStatusArgs) (ChatStatus, error) {
	org := ""
	if id := c.Identity(); id != nil {
		org = id.Org
	}
	s, err := c.DB.Settings(c.Ctx, org)
	if err != nil {
		return ChatStatus{}, err
	}
	on := s.ChatEnabled
	if a.StoreID != nil {
		store, err := storeIn(c.Ctx, c.DB, org, *a.StoreID)
		if err != nil {
			return ChatStatus{}, err
		}
		on = on && store.ChatEnabled
	}
	return ChatStatus{Enabled: on}, nil
}

// getChatSettings returns the caller's org's settings (the default org's
// without an identity).
func getChatSettings(c *functions.QueryCtx, _ functions.EmptyArgs) (ChatSettings, error) {
	org := ""
	if id := c.Identity(); id != nil {
		org = id.Org
	}
	s, err := c.DB.Settings(c.Ctx, org)
	if err != nil {
		return ChatSettings{}, err
	}
	return ChatSettings{DirectMessagingEnabled: s.DirectMessagingEnabled, MaxImageSizeMB: s.MaxImageSizeMB,
		AllowedImageTypes: s.AllowedImageTypes, AdminSupportEnabled: s.AdminSupportEnabled}, nil
}
