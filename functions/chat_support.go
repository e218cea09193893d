package functions

import (
	"errors"
	"fmt"

	"github.com/parley-chat/parley/schema"
)

// TransferConversationArgs are the arguments of transferConversation.
type TransferConversationArgs struct {
	ConversationID string `json:"conversationId"`
	ToAdminID      string `json:"toAdminId"`
}

// transferConversation hands a support conversation to another admin and
// posts a transfer notice in the thread.
func transferConversation(c *MutationCtx, a TransferConversationArgs) (Null, error) {
	id, conv, err := callerConversation(c, a.ConversationID)
	if err != nil {
		return Null{}, err
	}
	if id.Role != RoleAdmin {
		return Null{}, ErrAdminOnly
	}
	if conv.Type != schema.CustomerToAdmin {
		return Null{}, Invalid("Only support conversations can be transferred")
	}
	to, err := c.DB.User(c.Ctx, a.ToAdminID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && to.Role != string(RoleAdmin)) {
		return Null{}, &Error{Status: 404, Code: CodeNotFound, Message: "Admin not found"}
	}
	if err != nil {
		return Null{}, err
	}
	if conv.AssignedAdminID != nil && *conv.AssignedAdminID == to.ID {
		return Null{}, &Error{Status: 409, Code: CodeConflict, Message: "Conversation is already assigned to that admin"}
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE conversations SET assigned_admin_id = $2 WHERE id = $1`, conv.ID, to.ID); err != nil {
		return Null{}, fmt.Errorf("transfer conversation: %w", err)
	}
	if _, err := c.Tx.Exec(c.Ctx, `INSERT INTO conversation_participants (conversation_id, user_id, role)
		VALUES ($1, $2, 'admin') ON CONFLICT DO NOTHING`, conv.ID, to.ID); err != nil {
		return Null{}, fmt.Errorf("add participant: %w", err)
	}
	if err := ensureUser(c, id); err != nil {
		return Null{}, err
	}
	from, err := displayName(c, id)
	if err != nil {
		return Null{}, err
	}
	_, err = postMessage(c, conv.ID, id, "admin", "transfer", fmt.Sprintf("%s transferred this conversation to %s", from, to.Name))
	return Null{}, err
}

// blockConversation stops new messages in a conversation (admins).
func blockConversation(c *MutationCtx, a ConversationIDArgs) (Null, error) {
	return setBlocked(c, a.ConversationID, true)
}

// unblockConversation lets messages flow again (admins).
func unblockConversation(c *MutationCtx, a ConversationIDArgs) (Null, error) {
	return setBlocked(c, a.ConversationID, false)
}

func setBlocked(c *MutationCtx, convID string, blocked bool) (Null, error) {
	id, conv, err := callerConversation(c, convID)
	if err != nil {
		return Null{}, err
	}
	if id.Role != RoleAdmin {
		return Null{}, ErrAdminOnly
	}
	if conv.IsBlocked == blocked {
		return Null{}, nil
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE conversations SET is_blocked = $2 WHERE id = $1`, conv.ID, blocked); err != nil {
		return Null{}, fmt.Errorf("block conversation: %w", err)
	}
	notice := "Support blocked this conversation"
	if !blocked {
		notice = "Support unblocked this conversation"
	}
	if err := ensureUser(c, id); err != nil {
		return Null{}, err
	}
	_, err = postMessage(c, conv.ID, id, "system", "system", notice)
	return Null{}, err
}
