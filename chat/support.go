package chat

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// TransferConversationArgs are the arguments of transferConversation.
type TransferConversationArgs struct {
	ConversationID string `json:"conversationId"`
	ToAdminID      string `json:"toAdminId"`
}

// transferConversation hands a support conversation to another admin and
// posts a transfer notice in the thread.
func transferConversation(c *functions.MutationCtx, a TransferConversationArgs) (functions.Null, error) {
	id, conv, err := callerConversation(c, a.ConversationID)
	if err != nil {
		return functions.Null{}, err
	}
	if id.Role != functions.RoleAdmin {
		return functions.Null{}, ErrAdminOnly
	}
	if !supportType(conv.Type) {
		return functions.Null{}, functions.Invalid("Only support conversations can be transferred")
	}
	to, err := c.DB.User(c.Ctx, a.ToAdminID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && (to.Role != string(functions.RoleAdmin) || to.OrgID != id.Org)) {
		return functions.Null{}, ErrAdminNotFound
	}
	if err != nil {
		return functions.Null{}, err
	}
	if conv.AssignedAdminID != nil && *conv.AssignedAdminID == to.ID {
		return functions.Null{}, ErrAlreadyAssigned
	}
	t := tables{c.DB}
	if err := t.assign(c.Ctx, conv.ID, to.ID); err != nil {
		return functions.Null{}, err
	}
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return functions.Null{}, err
	}
	from, err := displayName(c, id)
	if err != nil {
		return functions.Null{}, err
	}
	_, err = postNotice(c, t, conv.ID, id, "admin", "transfer", fmt.Sprintf("%s transferred this conversation to %s", from, to.Name), messageTime(conv, c.Now()))
	emitConversation(c, eventConversationTransferred, conv.ID, ConversationEvent{ConversationType: conv.Type,
		CustomerID: optional(conv.CustomerID), StoreID: conv.StoreID, FromAdminID: conv.AssignedAdminID, ToAdminID: &to.ID})
	return functions.Null{}, err
}

// transferConversation is the registered transferConversation: it also
// tells the support desk (Config.SupportAssigned) of a customer's support
// conversation it handed over.
func (ch *api) transferConversation(c *functions.MutationCtx, a TransferConversationArgs) (functions.Null, error) {
	res, err := transferConversation(c, a)
	if err != nil || ch.cfg.SupportAssigned == nil {
		return res, err
	}
	conv, err := tables{c.DB}.Conversation(c.Ctx, a.ConversationID)
	if err != nil || conv.Type != CustomerToAdmin {
		return res, err
	}
	to, err := c.DB.User(c.Ctx, a.ToAdminID)
	if err != nil {
		return res, err
	}
	return res, ch.cfg.SupportAssigned(c, conv.ID, to.ID, to.Name)
}

// blockConversation stops new messages in a conversation (admins).
func blockConversation(c *functions.MutationCtx, a ConversationIDArgs) (functions.Null, error) {
	return setBlocked(c, a.ConversationID, true)
}

// unblockConversation lets messages flow again (admins).
func unblockConversation(c *functions.MutationCtx, a ConversationIDArgs) (functions.Null, error) {
	return setBlocked(c, a.ConversationID, false)
}

func setBlocked(c *functions.MutationCtx, convID string, blocked bool) (functions.Null, error) {
	id, conv, err := callerConversation(c, convID)
	if err != nil {
		return functions.Null{}, err
	}
	if id.Role != functions.RoleAdmin {
		return functions.Null{}, ErrAdminOnly
	}
	if conv.IsBlocked == blocked {
		return functions.Null{}, nil
	}
	t := tables{c.DB}
	if err := t.setBlocked(c.Ctx, conv.ID, blocked); err != nil {
		return functions.Null{}, err
	}
	notice := "Support blocked this conversation"
	if !blocked {
		notice = "Support unblocked this conversation"
	}
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return functions.Null{}, err
	}
	_, err = postNotice(c, t, conv.ID, id, "system", "system", notice, messageTime(conv, c.Now()))
	typ := eventConversationBlocked
	if !blocked {
		typ = eventConversationUnblocked
	}
	emitConversation(c, typ, conv.ID, ConversationEvent{ConversationType: conv.Type, CustomerID: optional(conv.CustomerID), StoreID: conv.StoreID})
	return functions.Null{}, err
}

// CloseConversationArgs are the arguments of closeConversation.
type CloseConversationArgs struct {
	ConversationID string  `json:"conversationId"`
	Reason         *string `json:"reason"`
}

// maxCloseReason bounds closeConversation's reason, in characters.
const maxCloseReason = 500

// closeConversation closes a conversation (admins; the store's staff in a
// store conversation): nobody may send to it but admins' system notices,
// until reopenConversation. It posts a system message naming who closed
// it, and why when a reason is given. Closing a closed one changes nothing.
func closeConversation(c *functions.MutationCtx, a CloseConversationArgs) (functions.Null, error) {
	var reason string
	if a.Reason != nil {
		reason = strings.TrimSpace(*a.Reason)
		if n := utf8.RuneCountInString(reason); n > maxCloseReason {
			return functions.Null{}, functions.Invalid("reason must be at most %d characters, got %d", maxCloseReason, n)
		}
	}
	return setClosed(c, a.ConversationID, true, reason)
}

// closeConversation is the registered closeConversation: it also tells
// the support desk (Config.SupportClosed) of a conversation it closed.
func (ch *api) closeConversation(c *functions.MutationCtx, a CloseConversationArgs) (functions.Null, error) {
	res, err := closeConversation(c, a)
	if err != nil || ch.cfg.SupportClosed == nil {
		return res, err
	}
	return res, ch.cfg.SupportClosed(c, a.ConversationID, a.Reason)
}

// reopenConversation undoes closeConversation (the same callers).
func reopenConversation(c *functions.MutationCtx, a ConversationIDArgs) (functions.Null, error) {
	return setClosed(c, a.ConversationID, false, "")
}

func setClosed(c *functions.MutationCtx, convID string, closed bool, reason string) (functions.Null, error) {
	id, conv, err := callerConversation(c, convID)
	if err != nil {
		return functions.Null{}, err
	}
	storeSide := id.Role == functions.RoleStore && withStore(conv.Type)
	creator := conv.Type == Group && conv.CreatedBy != nil && *conv.CreatedBy == id.Subject
	// Either person of a direct channel (canSee admitted only them).
	direct := conv.Type == Direct
	if id.Role != functions.RoleAdmin && !storeSide && !creator && !direct {
		if conv.Type == Group {
			return functions.Null{}, ErrNotGroupCloser
		}
		return functions.Null{}, ErrNotCloser
	}
	if (conv.Status == "closed") == closed {
		return functions.Null{}, nil
	}
	t := tables{c.DB}
	status, verb := "active", "reopened"
	if closed {
		status, verb = "closed", "closed"
	}
	if err := t.setStatus(c.Ctx, conv.ID, status); err != nil {
		return functions.Null{}, err
	}
	name, err := displayName(c, id)
	if err != nil {
		return functions.Null{}, err
	}
	notice := fmt.Sprintf("%s %s this conversation", name, verb)
	if reason != "" {
		notice += ": " + reason
	}
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return functions.Null{}, err
	}
	_, err = postNotice(c, t, conv.ID, id, "system", "system", notice, messageTime(conv, c.Now()))
	typ := eventConversationClosed
	if !closed {
		typ = eventConversationReopened
	}
	emitConversation(c, typ, conv.ID, ConversationEvent{ConversationType: conv.Type, CustomerID: optional(conv.CustomerID),
		StoreID: conv.StoreID, Reason: optional(reason)})
	return functions.Null{}, err
}

// SetConversationSubjectArgs are the arguments of setConversationSubject.
type SetConversationSubjectArgs struct {
	ConversationID string `json:"conversationId"`
	// Subject is the new subject; empty or absent clears it.
	Subject *string `json:"subject"`
}

// maxSubject bounds a conversation's subject, in characters.
const maxSubject = 200

// setConversationSubject sets or clears a conversation's subject: those
// who speak in it, and admins. It posts a notice of the change; setting
// the subject it has changes nothing.
func setConversationSubject(c *functions.MutationCtx, a SetConversationSubjectArgs) (functions.Null, error) {
	var subject *string
	if a.Subject != nil {
		s := strings.TrimSpace(*a.Subject)
		if n := utf8.RuneCountInString(s); n > maxSubject {
			return functions.Null{}, functions.Invalid("subject must be at most %d characters, got %d", maxSubject, n)
		}
		if s != "" {
			subject = &s
		}
	}
	id, conv, err := callerConversation(c, a.ConversationID)
	if err != nil {
		return functions.Null{}, err
	}
	if id.Role != functions.RoleAdmin && !isParticipant(id, conv) {
		return functions.Null{}, ErrUnauthorizedSend
	}
	if conv.IsBlocked && id.Role != functions.RoleAdmin {
		return functions.Null{}, ErrConversationBlocked
	}
	if (conv.Subject == nil && subject == nil) || (conv.Subject != nil && subject != nil && *conv.Subject == *subject) {
		return functions.Null{}, nil
	}
	t := tables{c.DB}
	if err := t.setSubject(c.Ctx, conv.ID, subject); err != nil {
		return functions.Null{}, err
	}
	name, err := displayName(c, id)
	if err != nil {
		return functions.Null{}, err
	}
	notice := name + " cleared the subject"
	if subject != nil {
		notice = fmt.Sprintf("%s changed the subject to “%s”", name, *subject)
	}
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return functions.Null{}, err
	}
	_, err = postNotice(c, t, conv.ID, id, "system", "system", notice, messageTime(conv, c.Now()))
	return functions.Null{}, err
}
