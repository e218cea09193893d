package chat

import (
	"errors"
	"strings"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// ClaimGuestThreadsArgs are the arguments of claimGuestThreads.
type ClaimGuestThreadsArgs struct {
	// GuestToken is the token the caller had as a guest (POST
	// /api/guest): the proof that its conversations are the caller's.
	GuestToken string `json:"guestToken"`
}

// ClaimedThread is one guest conversation claimGuestThreads handed over.
type ClaimedThread struct {
	// GuestConversationID is the guest's conversation.
	GuestConversationID string `json:"guestConversationId"`
	// ConversationID is where its messages are now: the same conversation,
	// now the customer's, or the customer's own about the same subject,
	// which they were merged into (Merged; the guest's is then gone).
	ConversationID string `json:"conversationId"`
	Merged         bool   `json:"merged"`
	// Messages counts the messages it brought, everyone's.
	Messages int `json:"messages"`
}

// ClaimResult is the result of claimGuestThreads.
type ClaimResult struct {
	// ClaimedConversationIDs are the caller's conversations that now hold
	// the guest's threads, in the order of the guest's conversations.
	ClaimedConversationIDs []string `json:"claimedConversationIds"`
	// MovedMessages counts the messages of the guest's threads now in
	// them: the guest's, now the caller's, and support's.
	MovedMessages int             `json:"movedMessages"`
	Threads       []ClaimedThread `json:"threads"`
}

// claimGuestThreads hands a guest's conversations to the signed-in
// customer who proves, with the guest's token, that they were that guest.
// Everything happens in the mutation's one transaction: each guest
// conversation is locked; one the customer has no twin of (the same type,
// store and order: the conversations_subject index) becomes theirs —
// its customer, the guest's participant row and the guest's messages
// (sender, deleter, editor) — and one they have a twin of is merged into
// the twin: its messages move there with their times (so the thread
// interleaves in time order), its participants join it with the later
// read state, the twin keeps the later last message, and the empty guest
// conversation is deleted. The unread counters follow the messages (the
// triggers on messages count a moved row out of one conversation and into
// the other). The guest's typing state goes. Claiming again finds nothing
// of the guest's left: it changes nothing and returns no conversations.
//
// The chat switch does not stop it: it keeps what was said, and sends
// nothing.
func (ch *api) claimGuestThreads(c *functions.MutationCtx, a ClaimGuestThreadsArgs) (ClaimResult, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return ClaimResult{}, err
	}
	if id.Role != functions.RoleCustomer {
		return ClaimResult{}, ErrNotClaimant
	}
	if ch.cfg.Guests == nil {
		return ClaimResult{}, ErrGuestsOff
	}
	token := strings.TrimSpace(a.GuestToken)
	if token == "" {
		return ClaimResult{}, functions.Invalid("guestToken must not be empty")
	}
	guest, err := ch.cfg.Guests.VerifyGuest(c.Ctx, token)
	if err != nil {
		return ClaimResult{}, functions.Invalid("guestToken: %s", err)
	}
	if guest.Org != id.Org {
		return ClaimResult{}, functions.Invalid("guestToken is a guest's of another organization")
	}
	t := tables{c.DB}
	convs, err := t.CustomerConversationsForUpdate(c.Ctx, guest.Org, guest.Subject)
	if err != nil {
		return ClaimResult{}, err
	}
	out := ClaimResult{ClaimedConversationIDs: []string{}, Threads: []ClaimedThread{}}
	if len(convs) == 0 {
		return out, nil
	}
	if err := t.ensureUser(c.Ctx, id); err != nil {
		return ClaimResult{}, err
	}
	for _, g := range convs {
		twin, err := t.ConversationBySubjectForUpdate(c.Ctx, id.Org, id.Subject, g.Type, deref(g.StoreID), deref(g.OrderID))
		th := ClaimedThread{GuestConversationID: g.ID, ConversationID: g.ID}
		switch {
		case errors.Is(err, schema.ErrNoRow):
			th.Messages, err = t.handOver(c.Ctx, g.ID, guest.Subject, id.Subject)
		case err == nil:
			th.ConversationID, th.Merged = twin.ID, true
			th.Messages, err = t.mergeInto(c.Ctx, g.ID, twin.ID, guest.Subject, id.Subject)
		}
		if err != nil {
			return ClaimResult{}, err
		}
		out.Threads = append(out.Threads, th)
		out.ClaimedConversationIDs = append(out.ClaimedConversationIDs, th.ConversationID)
		out.MovedMessages += th.Messages
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
