package chat

import (
	"github.com/parley-chat/parley/functions"
)

// UpdateTypingStatusArgs are the arguments of updateTypingStatus.
type UpdateTypingStatusArgs struct {
	ConversationID string `json:"conversationId"`
	IsTyping       bool   `json:"isTyping"`
}

// updateTypingStatus records that the caller is (not) typing. A repeated
// isTyping=true within the quiet window writes nothing; an indicator
// expires by itself after TypingTTL.
func (ch *api) updateTypingStatus(c *functions.MutationCtx, a UpdateTypingStatusArgs) (functions.Null, error) {
	id, conv, err := callerConversation(c, a.ConversationID)
	if err != nil {
		return functions.Null{}, err
	}
	if !isParticipant(id, conv) {
		return functions.Null{}, ErrUnauthorizedSend
	}
	t, now := tables{c.DB}, c.Now()
	typing, last, err := t.typingOf(c.Ctx, conv.ID, id.Subject)
	if err != nil {
		return functions.Null{}, err
	}
	switch {
	case a.IsTyping && typing && now.Sub(last) < ch.quiet:
		return functions.Null{}, nil // still fresh: nothing to write
	case !a.IsTyping && !typing:
		return functions.Null{}, nil
	case !a.IsTyping:
		return functions.Null{}, t.stopTyping(c.Ctx, conv.ID, id.Subject)
	}
	name, err := displayName(c, id)
	if err != nil {
		return functions.Null{}, err
	}
	return functions.Null{}, t.startTyping(c.Ctx, conv.ID, id, name, now)
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
func (ch *api) getTypingIndicators(c *functions.QueryCtx, a ConversationIDArgs) ([]TypingIndicator, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return nil, err
	}
	if err := conversationAccess(c, a.ConversationID); err != nil {
		return nil, err
	}
	rows, err := tables{c.DB}.TypingIn(c.Ctx, a.ConversationID)
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
