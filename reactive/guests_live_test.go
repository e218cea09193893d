package reactive_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/syncclient"
)

// livePage is the part of a getMessages page these tests look at.
type livePage struct {
	Messages []struct {
		ID         string `json:"_id"`
		SenderID   string `json:"senderId"`
		SenderType string `json:"senderType"`
		Content    string `json:"content"`
	} `json:"messages"`
}

func (p livePage) has(content string) bool { return p.senderOf(content) != "" }

// senderOf is the sender of the message with content ("" if none).
func (p livePage) senderOf(content string) string {
	for _, m := range p.Messages {
		if m.Content == content {
			return m.SenderID
		}
	}
	return ""
}

// unique checks that no message is on the page twice.
func (p livePage) unique() error {
	seen := map[string]bool{}
	for _, m := range p.Messages {
		if seen[m.ID] {
			return fmt.Errorf("message %s (%q) is on the page twice", m.ID, m.Content)
		}
		seen[m.ID] = true
	}
	return nil
}

// waitFailed waits until the subscription fails with message.
func waitFailed(t testing.TB, sub *syncclient.Subscription, message string) {
	t.Helper()
	waitUpdate(t, sub, liveWait, func(u syncclient.Update) error {
		if !u.Failed {
			return errors.New("the query still answers")
		}
		if u.ErrorMessage != message {
			return fmt.Errorf("failed with %q", u.ErrorMessage)
		}
		return nil
	})
}

// A widget visitor gets a guest token from POST /api/guest, opens its
// support conversation and chats with a support admin, live both ways; a
// second guest cannot reach the first's conversation. When the visitor
// signs in as John and claims, John's list and thread show the messages
// at once, the guest's subscriptions fail (the conversation is no longer
// theirs), and John's unread total counts support's reply.
func TestGuestChatsLiveAndIsClaimed(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	visitor := s.NewGuest(t, "Widget visitor")
	gc := s.DialToken(t, syncclient.Options{Token: visitor.Token})
	ac := s.Dial(t, parleytest.Admin, syncclient.Options{})

	conv := openConversation(t, ctx, gc, map[string]any{})
	guestThread := subscribeWait(t, ctx, gc, "shared/chat:getMessages", map[string]any{"conversationId": conv})
	guestList := subscribeWait(t, ctx, gc, "shared/chat:getConversations", map[string]any{})
	console := subscribeWait(t, ctx, ac, "shared/chat:getConversations", map[string]any{})
	adminThread := subscribeWait(t, ctx, ac, "shared/chat:getMessages", map[string]any{"conversationId": conv})

	_, _, err := sendText(ctx, gc, conv, "Do you ship to Norway?")
	require.NoError(t, err)
	waitValue(t, adminThread, func(p livePage) error {
		if !p.has("Do you ship to Norway?") {
			return errors.New("the guest's message has not reached support")
		}
		if m := p.Messages[0]; m.SenderType != "customer" {
			return fmt.Errorf("a guest speaks for the customer side, got %s", m.SenderType)
		}
		return nil
	})
	waitValue(t, console, func(list []struct {
		ID              string `json:"_id"`
		CustomerName    string `json:"customerName"`
		CustomerIsGuest bool   `json:"customerIsGuest"`
	}) error {
		for _, c := range list {
			if c.ID == conv && c.CustomerIsGuest && c.CustomerName == "Widget visitor" {
				return nil
			}
		}
		return errors.New("the console does not list the guest's conversation")
	})
	_, _, err = sendText(ctx, ac, conv, "Yes, in 3 days.")
	require.NoError(t, err)
	waitValue(t, guestThread, func(p livePage) error {
		if !p.has("Yes, in 3 days.") {
			return errors.New("support's answer has not reached the guest")
		}
		return nil
	})

	// Another guest learns nothing of it.
	other := s.NewGuest(t, "")
	oc := s.DialToken(t, syncclient.Options{Token: other.Token})
	peek, err := oc.Subscribe("shared/chat:getMessages", map[string]any{"conversationId": conv})
	require.NoError(t, err)
	waitFailed(t, peek, "Conversation not found")
	_, _, err = sendText(ctx, oc, conv, "let me in")
	var fe *syncclient.FunctionError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "Conversation not found", fe.Message)

	// The visitor signs in as John and claims its thread.
	jc := s.Dial(t, parleytest.John, syncclient.Options{})
	johnList := subscribeWait(t, ctx, jc, "shared/chat:getConversations", map[string]any{})
	johnUnread := subscribeWait(t, ctx, jc, "shared/chat:getUnreadCount", map[string]any{})
	raw, err := jc.Mutation(ctx, "shared/chat:claimGuestThreads", map[string]any{"guestToken": visitor.Token})
	require.NoError(t, err)
	var claimed struct {
		ClaimedConversationIDs []string `json:"claimedConversationIds"`
		MovedMessages          int      `json:"movedMessages"`
	}
	require.NoError(t, json.Unmarshal(raw, &claimed))
	require.Equal(t, []string{conv}, claimed.ClaimedConversationIDs)
	require.Equal(t, 3, claimed.MovedMessages, "the guest's message, support's join notice, its answer")

	// Read your writes: John's subscriptions already show the claim.
	list := currentValue[[]liveConv](t, johnList)
	require.True(t, func() bool {
		for _, c := range list {
			if c.ID == conv {
				return true
			}
		}
		return false
	}(), "John lists the claimed conversation")
	require.Equal(t, 1, currentValue[int](t, johnUnread), "support's reply is unread")
	johnThread := subscribeWait(t, ctx, jc, "shared/chat:getMessages", map[string]any{"conversationId": conv})
	page := currentValue[livePage](t, johnThread)
	require.Len(t, page.Messages, 3)
	require.NoError(t, page.unique())
	require.Equal(t, parleytest.John.Subject, page.senderOf("Do you ship to Norway?"), "the guest's message is John's")
	require.Equal(t, parleytest.Admin.Subject, page.senderOf("Yes, in 3 days."))

	waitFailed(t, guestThread, "Conversation not found")
	waitValue(t, guestList, func(l []liveConv) error {
		if len(l) != 0 {
			return fmt.Errorf("the guest still lists %d conversations", len(l))
		}
		return nil
	})
	// Support keeps following the same conversation, now John's.
	waitValue(t, adminThread, func(p livePage) error {
		if p.senderOf("Do you ship to Norway?") != parleytest.John.Subject {
			return errors.New("support still sees the guest as the sender")
		}
		if len(p.Messages) != 3 {
			return fmt.Errorf("support sees %d messages, want 3", len(p.Messages))
		}
		return p.unique()
	})
	_, _, err = sendText(ctx, jc, conv, "Signed in now")
	require.NoError(t, err)
	waitValue(t, adminThread, func(p livePage) error {
		if !p.has("Signed in now") {
			return errors.New("John's message has not reached support")
		}
		return nil
	})
}
