package media_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/internal/testimages"
	"github.com/parley-chat/parley/media"
	"github.com/parley-chat/parley/schema"
)

// liveWait bounds the wait for a change to reach a subscriber.
const liveWait = 15 * time.Second

// waitImage waits until sub's latest page shows message msgID with an
// image attachment that ok accepts, and returns the attachment.
func waitImage(t *testing.T, sub *syncclient.Subscription, msgID string, ok func(chat.ImageDoc) error) chat.ImageDoc {
	t.Helper()
	var found chat.ImageDoc
	pgtest.Eventually(t, liveWait, func() error {
		u, has := sub.Current()
		if !has {
			return errors.New("no result yet")
		}
		if u.Failed {
			return fmt.Errorf("query failed: %s", u.ErrorMessage)
		}
		var page chat.MessagePage
		if err := json.Unmarshal(u.Value, &page); err != nil {
			return err
		}
		for _, m := range page.Messages {
			if m.ID != msgID {
				continue
			}
			if m.ImageAttachment == nil {
				return errors.New("the message has no image attachment")
			}
			if err := ok(*m.ImageAttachment); err != nil {
				return err
			}
			found = *m.ImageAttachment
			return nil
		}
		return fmt.Errorf("message %s not pushed yet", msgID)
	})
	return found
}

// An image message reaches a getMessages subscriber with working URLs,
// and the subscriber receives re-signed URLs before the old ones expire,
// without anything being written.
func TestImageMessageReachesSubscriber(t *testing.T) {
	// URLs that last 4s, re-signed every 2s.
	s := parleytest.StartWith(t, parleytest.NoLimits, media.Config{URLTTL: 4 * time.Second})
	staffClient := s.Dial(t, staff, syncclient.Options{})
	sub, err := staffClient.Subscribe("shared/chat:getMessages", map[string]any{"conversationId": schema.DemoConversationID, "limit": 10})
	require.NoError(t, err)
	ctx := t.Context()
	_, err = sub.Wait(ctx)
	require.NoError(t, err)

	sid := upload(t, s, john, testimages.JPEGWithEXIF(testimages.Photo(800, 600, 14), testimages.Upright, testimages.Berlin))
	msgID, errData := sendImage(t, s, john, schema.DemoConversationID, sid)
	require.Nil(t, errData)

	first := waitImage(t, sub, msgID, func(chat.ImageDoc) error { return nil })
	require.Equal(t, sid, first.FileID)
	require.Equal(t, [2]int{800, 600}, [2]int{first.Width, first.Height})
	for _, u := range []string{first.URL, first.ThumbnailURL} {
		a := get(t, u)
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		require.Equal(t, "image/webp", a.header.Get("Content-Type"))
		require.Equal(t, media.WebP, media.Sniff(a.body))
	}

	// Nothing changes in the database; the query re-runs on its own to
	// sign new URLs while the old ones still work.
	next := waitImage(t, sub, msgID, func(d chat.ImageDoc) error {
		if d.URL == first.URL {
			return errors.New("not re-signed yet")
		}
		return nil
	})
	require.Greater(t, next.ExpiresAt, first.ExpiresAt)
	require.Equal(t, http.StatusOK, get(t, next.URL).status)
	require.Equal(t, http.StatusOK, get(t, next.ThumbnailURL).status)
}
