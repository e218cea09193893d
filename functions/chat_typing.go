package functions

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// UpdateTypingStatusArgs are the arguments of updateTypingStatus.
type UpdateTypingStatusArgs struct {
	ConversationID string `json:"conversationId"`
	IsTyping       bool   `json:"isTyping"`
}

// updateTypingStatus records that the caller is (not) typing. A repeated
// isTyping=true within the quiet window writes nothing; an indicator
// expires by itself after TypingTTL.
func (ch *chat) updateTypingStatus(c *MutationCtx, a UpdateTypingStatusArgs) (Null, error) {
	id, conv, err := callerConversation(c, a.ConversationID)
	if err != nil {
		return Null{}, err
	}
	if !isParticipant(id, conv) {
		return Null{}, ErrUnauthorizedSend
	}
	now := c.Now()
	var typing bool
	var last = now
	err = c.Tx.QueryRow(c.Ctx, `SELECT is_typing, last_typing_at FROM typing_state
		WHERE conversation_id = $1 AND user_id = $2`, conv.ID, id.Subject).Scan(&typing, &last)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Null{}, fmt.Errorf("read typing state: %w", err)
	}
	exists := err == nil
	switch {
	case a.IsTyping && typing && now.Sub(last) < ch.quiet:
		return Null{}, nil // still fresh: nothing to write
	case !a.IsTyping && (!exists || !typing):
		return Null{}, nil
	case !a.IsTyping:
		_, err = c.Tx.Exec(c.Ctx, `UPDATE typing_state SET is_typing = false WHERE conversation_id = $1 AND user_id = $2`,
			conv.ID, id.Subject)
		if err != nil {
			return Null{}, fmt.Errorf("stop typing: %w", err)
		}
		return Null{}, nil
	}
	name, err := displayName(c, id)
	if err != nil {
		return Null{}, err
	}
	_, err = c.Tx.Exec(c.Ctx, `INSERT INTO typing_state (conversation_id, user_id, user_type, user_name, is_typing, last_typing_at)
		VALUES ($1, $2, $3, $4, true, $5)
		ON CONFLICT (conversation_id, user_id) DO UPDATE SET is_typing = true, last_typing_at = $5, user_name = $4`,
		conv.ID, id.Subject, string(id.Role), name, now)
	if err != nil {
		return Null{}, fmt.Errorf("start typing: %w", err)
	}
	return Null{}, nil
}

// TypingIndicator is one user typing in a conversation.
type TypingIndicator struct {
	UserID       string  `json:"userId"`
	UserType     string  `json:"userType" ts:"customer|store|admin"`
	UserName     string  `json:"userName"`
	LastTypingAt float64 `json:"lastTypingAt"`
}

// getTypingIndicators lists who else is typing in a conversation. The
// engine re-runs it when the earliest indicator expires, so indicators go
// away even if their client vanished without saying so.
func (ch *chat) getTypingIndicators(c *QueryCtx, a ConversationIDArgs) ([]TypingIndicator, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return nil, err
	}
	if err := conversationAccess(c, a.ConversationID); err != nil {
		return nil, err
	}
	rows, err := c.DB.TypingIn(c.Ctx, a.ConversationID)
	if err != nil {
		return nil, err
	}
	out := []TypingIndicator{}
	for _, r := range rows {
		expires := r.LastTypingAt.Add(ch.cfg.TypingTTL)
		if !r.IsTyping || r.UserID == id.Subject || !expires.After(c.Now()) {
			continue
		}
		c.RefreshAt(expires)
		out = append(out, TypingIndicator{UserID: r.UserID, UserType: r.UserType, UserName: r.UserName,
			LastTypingAt: float64(r.LastTypingAt.UnixMicro()) / 1000})
	}
	return out, nil
}
