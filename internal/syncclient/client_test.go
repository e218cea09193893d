package syncclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

type messagePage struct {
	Messages []struct {
		ID      string `json:"_id"`
		Content string `json:"content"`
	} `json:"messages"`
	IsDone bool `json:"isDone"`
}

func decodePage(t *testing.T, v json.RawMessage) messagePage {
	t.Helper()
	var p messagePage
	require.NoError(t, json.Unmarshal(v, &p))
	return p
}

func adminConversation(t *testing.T, ctx context.Context, c *syncclient.Client) string {
	t.Helper()
	v, err := c.Mutation(ctx, "shared/chat:createOrGetConversation", map[string]any{})
	require.NoError(t, err)
	var ref struct {
		ConversationID string `json:"conversationId"`
	}
	require.NoError(t, json.Unmarshal(v, &ref))
	require.NotEmpty(t, ref.ConversationID)
	return ref.ConversationID
}

func TestSubscribeMutateUnsubscribe(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := s.Dial(t, parleytest.John, syncclient.Options{})
	conv := adminConversation(t, ctx, c)

	subscribed := time.Now()
	sub, err := c.Subscribe("shared/chat:getMessages", map[string]any{"conversationId": conv})
	require.NoError(t, err)
	u, err := sub.Wait(ctx)
	require.NoError(t, err)
	require.False(t, u.Failed, u.ErrorMessage)
	require.False(t, u.Received.Before(subscribed), "Received is when the reader read the result")
	require.False(t, u.Received.After(time.Now()))
	require.Empty(t, decodePage(t, u.Value).Messages)
	require.Equal(t, u, <-sub.Updates())

	unread, err := c.Subscribe("shared/chat:getUnreadCount", nil)
	require.NoError(t, err)
	_, err = unread.Wait(ctx)
	require.NoError(t, err)

	for i := range 3 {
		v, ts, err := c.MutationTS(ctx, "shared/chat:sendMessage",
			map[string]any{"conversationId": conv, "content": "hello", "messageType": "text"})
		require.NoError(t, err)
		var id string
		require.NoError(t, json.Unmarshal(v, &id))
		// Read-your-writes: resolved only once the subscription has it.
		require.GreaterOrEqual(t, c.TS(), ts)
		value, errData, ok := sub.Latest()
		require.True(t, ok)
		require.Nil(t, errData)
		page := decodePage(t, value)
		require.Len(t, page.Messages, i+1)
		require.Equal(t, id, page.Messages[0].ID)
		got := <-sub.Updates()
		require.Equal(t, value, got.Value, "Updates holds the newest result")
	}
	require.Equal(t, 4, sub.Stats().Updates)
	require.Zero(t, sub.Stats().Unchanged)
	require.Equal(t, 1, unread.Stats().Updates, "John's own messages are not unread for him")

	require.NoError(t, sub.Unsubscribe())
	require.NoError(t, sub.Unsubscribe(), "idempotent")
	select {
	case _, open := <-sub.Updates():
		require.False(t, open, "no result after Unsubscribe")
	case <-ctx.Done():
		t.Fatal("Updates not closed after QueryRemoved")
	}
	_, err = c.Mutation(ctx, "shared/chat:sendMessage",
		map[string]any{"conversationId": conv, "content": "after", "messageType": "text"})
	require.NoError(t, err)
	require.Equal(t, 4, sub.Stats().Updates)
	v := c.Version()
	require.Equal(t, uint32(3), v.QuerySet, "two Adds and one Remove")
	require.Equal(t, uint32(1), v.Identity)
}

func TestMutationError(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := s.Dial(t, parleytest.Jane, syncclient.Options{})
	_, err := c.Mutation(ctx, "shared/chat:sendMessage",
		map[string]any{"conversationId": "convnope", "content": "x", "messageType": "text"})
	var fe *syncclient.FunctionError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, functions.CodeNotFound, fe.Code())
	require.Equal(t, "Conversation not found", fe.Message)
	require.Equal(t, "shared/chat:sendMessage", fe.UDFPath)

	_, err = c.Mutation(ctx, "shared/chat:nope", nil)
	require.ErrorAs(t, err, &fe)
	require.Equal(t, functions.CodeFunctionNotFound, fe.Code())
}

func TestAnonymousAndAuthError(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	anon := s.Dial(t, parleytest.Anonymous, syncclient.Options{})
	sub, err := anon.Subscribe("shared/chat:getUnreadCount", nil)
	require.NoError(t, err)
	u, err := sub.Wait(ctx)
	require.NoError(t, err)
	require.True(t, u.Failed)
	require.Equal(t, functions.CodeUnauthenticated, u.ErrorData["code"])

	// Logging in on the same socket re-runs the query under the identity.
	require.NoError(t, anon.Authenticate(s.Token(t, parleytest.John)))
	require.NoError(t, anon.WaitAuth(ctx))
	require.Equal(t, uint32(1), anon.Version().Identity)
	pgtest.Eventually(t, 10*time.Second, func() error {
		if u, _ := sub.Current(); u.Failed {
			return errors.New("still failing")
		}
		return nil
	})

	bad, err := syncclient.Dial(ctx, s.URL, syncclient.Options{Token: "not-a-jwt"})
	require.NoError(t, err)
	defer bad.Close()
	var ae *syncclient.AuthError
	require.ErrorAs(t, bad.WaitAuth(ctx), &ae)
	require.True(t, ae.AuthUpdateAttempted)
	require.Zero(t, ae.BaseVersion)
	select {
	case <-bad.Done():
	case <-ctx.Done():
		t.Fatal("server did not close after AuthError")
	}
	var ce *websocket.CloseError
	require.ErrorAs(t, bad.Err(), &ce)
	require.Equal(t, websocket.CloseNormalClosure, ce.Code)
	require.ErrorIs(t, bad.Err(), syncclient.ErrClosed)
	require.Len(t, bad.AuthErrors(), 1)
	require.Empty(t, bad.ProtocolErrors())
}

func TestClose(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := syncclient.Dial(ctx, s.URL, syncclient.Options{Token: s.Token(t, parleytest.John)})
	require.NoError(t, err)
	require.NoError(t, c.WaitAuth(ctx))
	conv := adminConversation(t, ctx, c)
	sub, err := c.Subscribe("shared/chat:getMessages", map[string]any{"conversationId": conv})
	require.NoError(t, err)
	_, err = sub.Wait(ctx)
	require.NoError(t, err)

	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "idempotent")
	<-c.Done()
	require.ErrorIs(t, c.Err(), syncclient.ErrClosed)
	_, err = c.Subscribe("shared/chat:getUnreadCount", nil)
	require.ErrorIs(t, err, syncclient.ErrClosed)
	_, err = c.Mutation(ctx, "shared/chat:createOrGetConversation", nil)
	require.ErrorIs(t, err, syncclient.ErrClosed)
	<-sub.Updates() // the buffered result
	_, open := <-sub.Updates()
	require.False(t, open)
	require.Empty(t, c.ProtocolErrors())

	// The server forgets the session.
	pgtest.Eventually(t, 10*time.Second, func() error {
		h, err := s.Health()
		if err != nil {
			return err
		}
		if h.Sessions != 0 || h.Subscriptions != 0 {
			return fmt.Errorf("server still has %d sessions, %d subscriptions", h.Sessions, h.Subscriptions)
		}
		return nil
	})
}

func TestSessionIDIdempotency(t *testing.T) {
	s := parleytest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	a := s.Dial(t, parleytest.John, syncclient.Options{SessionID: "6c1f3a52-0b7e-4d1c-9a55-3f1e2d4c5b6a"})
	require.Equal(t, "6c1f3a52-0b7e-4d1c-9a55-3f1e2d4c5b6a", a.SessionID())
	first := adminConversation(t, ctx, a) // request 0
	// A second connection of the same session resends request 0: the stored
	// result comes back although the arguments now differ.
	b := s.Dial(t, parleytest.John, syncclient.Options{SessionID: a.SessionID()})
	v, err := b.Mutation(ctx, "shared/chat:createOrGetConversation",
		map[string]any{"orderId": schema.DemoOrderID, "storeId": schema.DemoStoreID})
	require.NoError(t, err)
	var ref struct {
		ConversationID string `json:"conversationId"`
	}
	require.NoError(t, json.Unmarshal(v, &ref))
	require.Equal(t, first, ref.ConversationID)

	other := s.Dial(t, parleytest.John, syncclient.Options{})
	require.NotEqual(t, a.SessionID(), other.SessionID())
}
