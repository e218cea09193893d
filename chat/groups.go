package chat

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Group limits.
const (
	DefaultMaxGroupSize = 20  // participants of a group, its creator included
	maxGroupTitle       = 100 // characters
)

// CreateGroupConversationArgs are the arguments of createGroupConversation.
type CreateGroupConversationArgs struct {
	// ParticipantIDs are the users to add besides the caller.
	ParticipantIDs []string `json:"participantIds"`
	Title          *string  `json:"title"`
}

// ParticipantDoc is a member of a group as queries list it.
type ParticipantDoc struct {
	UserID string `json:"userId"`
	Name   string `json:"name"`
	Role   string `json:"role" ts:"customer|store|admin"`
}

// createGroupConversation starts a group with the caller and the users it
// names, each of whom the caller must be allowed to add: a customer only
// the staff of a store they may message directly (an active order there,
// messaging on), store staff only their colleagues, admins anyone. A user
// the caller may not add is reported as not found, as one that does not
// exist: a caller learns nothing about users outside its reach.
func (ch *api) createGroupConversation(c *functions.MutationCtx, a CreateGroupConversationArgs) (ConversationRef, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return ConversationRef{}, err
	}
	if id.Role == functions.RoleGuest {
		return ConversationRef{}, ErrGuest
	}
	if err := chatOn(c, id); err != nil {
		return ConversationRef{}, err
	}
	var title *string
	if a.Title != nil {
		s := strings.TrimSpace(*a.Title)
		if n := utf8.RuneCountInString(s); n > maxGroupTitle {
			return ConversationRef{}, functions.Invalid("title must be at most %d characters, got %d", maxGroupTitle, n)
		}
		if s != "" {
			title = &s
		}
	}
	others := make([]string, 0, len(a.ParticipantIDs))
	for _, p := range a.ParticipantIDs {
		if p == "" {
			return ConversationRef{}, functions.Invalid("participantIds must not contain an empty id")
		}
		if p != id.Subject && !slices.Contains(others, p) {
			others = append(others, p)
		}
	}
	if len(others) == 0 {
		return ConversationRef{}, functions.Invalid("participantIds must name at least one user besides you")
	}
	if n := len(others) + 1; n > ch.cfg.MaxGroupSize {
		return ConversationRef{}, functions.Invalid("A group may have at most %d participants (you included), got %d", ch.cfg.MaxGroupSize, n)
	}
	roles := make([]functions.Role, len(others))
	for i, p := range others {
		if roles[i], err = addable(c, id, p); err != nil {
			return ConversationRef{}, err
		}
	}
	t := tables{c.DB}
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return ConversationRef{}, err
	}
	convID := schema.NewID("conv")
	if err := t.insertGroup(c.Ctx, convID, id.Org, id.Subject, title); err != nil {
		return ConversationRef{}, err
	}
	if err := t.addParticipant(c.Ctx, convID, id.Subject, id.Role); err != nil {
		return ConversationRef{}, err
	}
	for i, p := range others {
		if err := t.addParticipant(c.Ctx, convID, p, roles[i]); err != nil {
			return ConversationRef{}, err
		}
	}
	name, err := displayName(c, id)
	if err != nil {
		return ConversationRef{}, err
	}
	emitConversation(c, eventConversationCreated, convID, ConversationEvent{ConversationType: Group})
	if _, err := postNotice(c, t, convID, id, "system", "system", name+" created this group", c.Now()); err != nil {
		return ConversationRef{}, err
	}
	return ConversationRef{ConversationID: convID, ConversationType: Group}, nil
}

// participantNotFound is the error for a user that does not exist or that
// the caller may not add.
func participantNotFound(userID string) error {
	return functions.NotFound("User not found: " + userID)
}

// addable checks that id may add userID to a group and returns userID's
// role.
func addable(c *functions.MutationCtx, id *functions.Identity, userID string) (functions.Role, error) {
	u, err := c.DB.User(c.Ctx, userID)
	if errors.Is(err, schema.ErrNoRow) || (err == nil && u.OrgID != id.Org) {
		return "", participantNotFound(userID)
	}
	if err != nil {
		return "", err
	}
	role := functions.Role(u.Role)
	if role == functions.RoleGuest && id.Role == functions.RoleAdmin {
		return "", ErrGuestInGroup // only admins could name one: they see guests' support conversations
	}
	if id.Role == functions.RoleAdmin {
		return role, nil
	}
	if role != functions.RoleStore {
		return "", participantNotFound(userID)
	}
	stores, err := tables{c.DB}.StaffStores(c.Ctx, userID)
	if err != nil {
		return "", err
	}
	switch id.Role {
	case functions.RoleStore:
		if slices.Contains(stores, id.StoreID) {
			st, err := c.DB.Store(c.Ctx, id.StoreID)
			if err != nil {
				return "", err
			}
			if !st.ChatEnabled {
				return "", ErrChatDisabled // the store's switch covers its staff's groups
			}
			return role, nil
		}
	case functions.RoleCustomer:
		var refusal string
		for _, s := range stores {
			ok, reason, orderIDs, err := eligibility(c.Ctx, c.DB, id, s)
			if err != nil && !errors.Is(err, ErrStoreNotFound) {
				return "", err
			}
			if ok {
				return role, nil
			}
			if len(orderIDs) > 0 && reason != "" {
				refusal = reason // the store is theirs to know, but closed to messages
			}
		}
		if refusal != "" {
			return "", functions.Forbidden(refusal)
		}
	}
	return "", participantNotFound(userID)
}

// GetGroupConversationsArgs are the arguments of getGroupConversations.
type GetGroupConversationsArgs struct {
	Status *string `json:"status" ts:"active|archived|closed"`
	Limit  *int    `json:"limit"`
}

// getGroupConversations lists the groups the caller takes part in, newest
// activity first, each with its participants and the caller's own
// unreadCount. (getConversations lists one-to-one conversations: each of
// its lists is shared by a whole store or support team, which a group's
// per-member unread count cannot be.)
func getGroupConversations(c *functions.QueryCtx, a GetGroupConversationsArgs) ([]ConversationDoc, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return nil, err
	}
	status, limit, err := listArgs(a.Status, a.Limit)
	if err != nil {
		return nil, err
	}
	return memberLists(c, id, Group, status, limit)
}

// memberLists lists the groups or direct channels (convType) id takes part
// in, each with its participants and id's own unread count.
func memberLists(c *functions.QueryCtx, id *functions.Identity, convType, status string, limit int) ([]ConversationDoc, error) {
	t := tables{c.DB}
	rows, err := t.Groups(c.Ctx, id.Org, id.Subject, convType, status, limit)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, x := range rows {
		ids[i] = x.ID
	}
	members, err := t.Participants(c.Ctx, ids)
	if err != nil {
		return nil, err
	}
	docs := make([]ConversationDoc, len(rows))
	for i, x := range rows {
		docs[i] = conversationDoc(InboxRow{Conversation: x.Conversation})
		docs[i].Participants = participantDocs(members[x.ID])
		docs[i].UnreadCount = &rows[i].Unread
		docs[i].ChannelKey = channelKeyOf(convType, members[x.ID])
	}
	return docs, nil
}

func participantDocs(ps []Participant) []ParticipantDoc {
	out := make([]ParticipantDoc, len(ps))
	for i, p := range ps {
		out[i] = ParticipantDoc{UserID: p.UserID, Name: p.Name, Role: p.Role}
	}
	return out
}

// subjectOnly scopes a query to the caller's subject, role and org: its
// answer is the same for every session of one user.
func subjectOnly(id *functions.Identity) *functions.Identity {
	return &functions.Identity{Role: id.Role, Subject: id.Subject, Org: id.Org}
}

// orgOnly scopes a query to the caller's org: everyone in it, whatever
// their role, shares one instance (as a public query's callers do).
func orgOnly(id *functions.Identity) *functions.Identity {
	return &functions.Identity{Org: id.Org}
}
