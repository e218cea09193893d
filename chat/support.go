package chat

import (
	"errors"
	"fmt"

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
	if conv.Type != CustomerToAdmin {
		return functions.Null{}, functions.Invalid("Only support conversations can be transferred")
	}
	to, err := c.DB.User(c.Ctx, a.ToAdminID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && to.Role != string(functions.RoleAdmin)) {
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
	_, err = t.postMessage(c.Ctx, conv.ID, id, "admin", "transfer", fmt.Sprintf("%s transferred this conversation to %s", from, to.Name), c.Now())
	return functions.Null{}, err
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
	_, err = t.postMessage(c.Ctx, conv.ID, id, "system", "system", notice, c.Now())
	return functions.Null{}, err
}
