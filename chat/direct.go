package chat

import (
	"errors"
	"strings"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// GetOrCreateDirectChannelArgs are the arguments of getOrCreateDirectChannel.
type GetOrCreateDirectChannelArgs struct {
	UserID string `json:"userId"`
}

// directKey is the key of the direct channel between two users:
// direct:<idA>:<idB>, the ids in byte order, so either of them finds it.
func directKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "direct:" + a + ":" + b
}

// channelKeyOf is a direct channel's key from its participants (nil for
// any other conversation).
func channelKeyOf(convType string, ps []Participant) *string {
	if convType != Direct || len(ps) != 2 {
		return nil
	}
	k := directKey(ps[0].UserID, ps[1].UserID)
	return &k
}

// directable checks that id may open a direct channel with userID and
// returns userID's role: anyone may write to an admin of their org
// (support), and admins to anyone in it; otherwise the rules of adding
// someone to a group apply (a customer, staff of a store they may message;
// staff, their colleagues). Anyone else is not found. A guest has none:
// an admin naming one is refused (ErrGuestDirect), anyone else does not
// find it.
func directable(c *functions.MutationCtx, id *functions.Identity, userID string) (functions.Role, error) {
	u, err := c.DB.User(c.Ctx, userID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && u.OrgID != id.Org) {
		return "", participantNotFound(userID)
	}
	if err != nil {
		return "", err
	}
	switch functions.Role(u.Role) {
	case functions.RoleAdmin:
		return functions.RoleAdmin, nil
	case functions.RoleGuest:
		if id.Role == functions.RoleAdmin {
			return "", ErrGuestDirect // only admins could name one: they see guests' support conversations
		}
		return "", participantNotFound(userID)
	}
	return addable(c, id, userID)
}

// getOrCreateDirectChannel returns the direct channel between the caller
// and userId, creating it the first time: one per pair, whichever of the
// two asks. Guests have no direct channels (ErrGuest).
func getOrCreateDirectChannel(c *functions.MutationCtx, a GetOrCreateDirectChannelArgs) (ConversationRef, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return ConversationRef{}, err
	}
	if id.Role == functions.RoleGuest {
		return ConversationRef{}, ErrGuest
	}
	other := strings.TrimSpace(a.UserID)
	switch {
	case other == "":
		return ConversationRef{}, functions.Invalid("userId is required")
	case other == id.Subject:
		return ConversationRef{}, functions.Invalid("userId must be another user than you")
	}
	if err := chatOn(c, id); err != nil {
		return ConversationRef{}, err
	}
	role, err := directable(c, id, other)
	if err != nil {
		return ConversationRef{}, err
	}
	t := tables{c.DB}
	key := directKey(id.Subject, other)
	existing, err := t.DirectChannel(c.Ctx, id.Org, key)
	if err == nil {
		return ConversationRef{ConversationID: existing, ConversationType: Direct}, nil
	}
	if !errors.Is(err, schema.ErrNoRow) {
		return ConversationRef{}, err
	}
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return ConversationRef{}, err
	}
	convID := schema.NewID("conv")
	// A concurrent twin (either of the two) makes this insert fail with a
	// unique violation; the mutation is then retried and finds it above.
	if err := t.insertDirect(c.Ctx, convID, id.Org, id.Subject, key); err != nil {
		return ConversationRef{}, err
	}
	if err := t.addParticipant(c.Ctx, convID, id.Subject, id.Role); err != nil {
		return ConversationRef{}, err
	}
	if err := t.addParticipant(c.Ctx, convID, other, role); err != nil {
		return ConversationRef{}, err
	}
	emitConversation(c, eventConversationCreated, convID, ConversationEvent{ConversationType: Direct})
	return ConversationRef{ConversationID: convID, ConversationType: Direct}, nil
}

// GetDirectChannelsArgs are the arguments of getDirectChannels.
type GetDirectChannelsArgs struct {
	Status *string `json:"status" ts:"active|archived|closed"`
	Limit  *int    `json:"limit"`
}

// getDirectChannels lists the caller's direct channels, newest activity
// first, each with its two participants, its key and the caller's own
// unreadCount.
func getDirectChannels(c *functions.QueryCtx, a GetDirectChannelsArgs) ([]ConversationDoc, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return nil, err
	}
	status, limit, err := listArgs(a.Status, a.Limit)
	if err != nil {
		return nil, err
	}
	return memberLists(c, id, Direct, status, limit)
}
