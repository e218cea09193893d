package chat

import (
	"errors"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// The support desk's hooks (package support, issue 19): its queue and its
// agents' actions run on chat's support conversations, and through these
// functions, in the caller's mutation, so that a conversation is opened,
// assigned, noticed and closed as chat itself does it (the same rows, the
// same notices, the same events). The desk decides who may; these only
// do what it decided, but for the checks named.

// OpenSupportConversation opens (or finds) the calling customer's (or
// guest's) support conversation about orderID (nil: about no order): what
// createOrGetConversation({orderId}) answers, with its checks (401, 403
// for any other role, 404 for another's order, the chat and support
// switches).
func OpenSupportConversation(c *functions.MutationCtx, orderID *string) (ConversationRef, error) {
	return createOrGetConversation(c, CreateOrGetConversationArgs{OrderID: orderID})
}

// ErrNotCustomerSupport refuses a desk action on a conversation that is
// not a customer's support conversation.
var ErrNotCustomerSupport = functions.Invalid("Only a customer's support conversation (customer_to_admin) can be queued, assigned or transferred")

// LockDeskConversation reads a customer's support conversation for a desk
// action of the caller, locked for the transaction: 404 when the caller
// may not see it (another org's, or none), 400 ErrNotCustomerSupport for
// any other kind of conversation, and for all but admins 403 when it is
// blocked or chat is off.
func LockDeskConversation(c *functions.MutationCtx, convID string) (Conversation, error) {
	_, conv, err := callerConversation(c, convID)
	if err != nil {
		return conv, err
	}
	if conv.Type != CustomerToAdmin {
		return conv, ErrNotCustomerSupport
	}
	if conv.IsBlocked && c.Identity().Role != functions.RoleAdmin {
		return conv, ErrConversationBlocked
	}
	return conv, nil
}

// DeskConversation reads a customer's support conversation for a desk
// query of the caller: 404 ErrConversationNotFound when the caller may
// not see it (another org's, or none), 400 ErrNotCustomerSupport for any
// other kind of conversation. Only who belongs to it is read and depended
// on (its id, type, org, customer and store: ConversationMembership), so
// a new message in it does not re-run the query.
func DeskConversation(c *functions.QueryCtx, convID string) (Conversation, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return Conversation{}, err
	}
	t := tables{c.DB}
	conv, err := t.ConversationMembership(c.Ctx, convID)
	conv, err = withMember(c.Ctx, t, id, conv, err)
	switch {
	case errors.Is(err, schema.ErrNoRow) || (err == nil && !canSee(id, conv)):
		return Conversation{}, ErrConversationNotFound
	case err != nil:
		return Conversation{}, err
	case conv.Type != CustomerToAdmin:
		return Conversation{}, ErrNotCustomerSupport
	}
	return conv, nil
}

// CustomerConversations lists customerID's conversations of org (with
// support, with stores), newest activity first, at most limit, as the
// inbox lists them (InboxRow: their stores' names, unread counts). It is
// for a desk query that has admitted the caller (an admin of org): it
// checks nothing itself. It depends on the customer's conversations (any
// change of one, a new message included) and their stores.
func CustomerConversations(c *functions.QueryCtx, org, customerID string, limit int) ([]InboxRow, error) {
	if customerID == "" {
		return nil, nil
	}
	return tables{c.DB}.Inbox(c.Ctx, ConversationFilter{Org: org, CustomerID: customerID, Limit: limit})
}

// DeskAssign hands conv to agent (an admin of its org, recorded as a user
// and made a participant), or takes it from whoever holds it (agent nil):
// the assignedAdminId chat's inbox shows. It posts nothing.
func DeskAssign(c *functions.MutationCtx, conv *Conversation, agent *functions.Identity) error {
	t := tables{c.DB}
	if agent == nil {
		if err := t.unassign(c.Ctx, conv.ID); err != nil {
			return err
		}
		conv.AssignedAdminID = nil
		return nil
	}
	if err := t.ensureUser(c.Ctx, agent); err != nil {
		return err
	}
	if err := t.assign(c.Ctx, conv.ID, agent.Subject); err != nil {
		return err
	}
	conv.AssignedAdminID = &agent.Subject
	return nil
}

// DeskJoin posts "<name> joined the conversation" for agent in conv, read
// (as chat's own join notice: it asks nothing of anyone).
func DeskJoin(c *functions.MutationCtx, conv *Conversation, agent *functions.Identity) error {
	at := deskTime(conv, c.Now())
	if err := joinNotice(c, agent, conv.ID, at); err != nil {
		return err
	}
	return deskLatest(c, conv, at)
}

// DeskStatus posts a system notice of actor's in conv, read, that leaves
// the conversation's preview as it is (a customer's "Waiting for an
// agent": it asks nothing of anyone, and the desk's queue shows what the
// customer wrote).
func DeskStatus(c *functions.MutationCtx, conv *Conversation, actor *functions.Identity, content string) error {
	t := tables{c.DB}
	if err := t.ensureUser(c.Ctx, actor); err != nil {
		return err
	}
	at := deskTime(conv, c.Now())
	if err := readNotice(c, t, actor, conv.ID, content, at); err != nil {
		return err
	}
	return deskLatest(c, conv, at)
}

// DeskNotice posts a system notice in conv on behalf of actor (the
// caller), as chat's transfer and block notices are posted.
func DeskNotice(c *functions.MutationCtx, conv *Conversation, actor *functions.Identity, content string) error {
	t := tables{c.DB}
	if err := t.ensureUser(c.Ctx, actor); err != nil {
		return err
	}
	at := deskTime(conv, c.Now())
	if _, err := postNotice(c, t, conv.ID, actor, "system", "system", content, at); err != nil {
		return err
	}
	conv.LastMessageAt = &at
	return nil
}

// DeskReopen makes a closed (or archived) conv active again, for a
// customer who asks for support anew; an active one is left as it is.
func DeskReopen(c *functions.MutationCtx, conv *Conversation) error {
	if conv.Status == "active" {
		return nil
	}
	if err := (tables{c.DB}).setStatus(c.Ctx, conv.ID, "active"); err != nil {
		return err
	}
	emitConversation(c, eventConversationReopened, conv.ID, ConversationEvent{ConversationType: conv.Type,
		CustomerID: optional(conv.CustomerID), OrderID: conv.OrderID})
	conv.Status = "active"
	return nil
}

// CloseSupportConversation closes a conversation as closeConversation
// does (the caller must be one who may: admins in a support
// conversation), posting its notice with the reason (at most 500
// characters, else 400) and emitting conversation.closed. Closing a
// closed one changes nothing.
func CloseSupportConversation(c *functions.MutationCtx, convID string, reason *string) error {
	_, err := closeConversation(c, CloseConversationArgs{ConversationID: convID, Reason: reason})
	return err
}

// deskTime is the time of a new desk notice in conv: after its latest
// message (messageTime).
func deskTime(conv *Conversation, now time.Time) time.Time { return messageTime(*conv, now) }

// deskLatest makes a notice at at conv's latest message, its preview
// unchanged.
func deskLatest(c *functions.MutationCtx, conv *Conversation, at time.Time) error {
	if err := (tables{c.DB}).touch(c.Ctx, conv.ID, at); err != nil {
		return err
	}
	conv.LastMessageAt = &at
	return nil
}
