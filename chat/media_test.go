package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// fakeMedia stands in for package media's URLs (its own tests cover
// them): upload URLs name their owner, signed URLs their conversation,
// file and a one-minute bucket.
type fakeMedia struct{}

func (fakeMedia) NewUploadURL(ctx context.Context, q schema.Querier, owner string, now time.Time) (string, error) {
	return "https://media.test/upload?owner=" + url.QueryEscape(owner), nil
}

func (fakeMedia) SignImage(conv, file string, now time.Time) chat.SignedImage {
	start := now.Truncate(time.Minute)
	u := fmt.Sprintf("https://media.test/%s/%s?until=%d", conv, file, start.Add(2*time.Minute).Unix())
	return chat.SignedImage{URL: u + "&v=image", ThumbnailURL: u + "&v=thumb",
		ExpiresAt: start.Add(2 * time.Minute), RefreshAt: start.Add(time.Minute)}
}

// upload inserts a file as package media would after processing an
// upload of owner's: 1600×900 WebP of 123456 bytes.
func (e *env) upload(owner string) string {
	e.t.Helper()
	id := schema.NewID("file")
	e.exec(`INSERT INTO files (id, owner_id, content_type, size_bytes, width, height, storage_key, thumb_key,
		thumb_width, thumb_height, expires_at) VALUES ($1, $2, 'image/webp', 123456, 1600, 900, $3, $4, 320, 180, now() + interval '1 hour')`,
		id, owner, id+".webp", id+".thumb.webp")
	return id
}

func imageArgs(conv, fileID string, extra map[string]any) map[string]any {
	att := map[string]any{"fileId": fileID}
	for k, v := range extra {
		att[k] = v
	}
	return map[string]any{"conversationId": conv, "content": "Here's a photo of the issue", "messageType": "image", "imageAttachment": att}
}

func TestGenerateUploadURL(t *testing.T) {
	e := newEnv(t)
	u := must[string](t)(e.mutate(john, "generateUploadUrl", map[string]any{}))
	require.Equal(t, "https://media.test/upload?owner="+schema.DemoCustomerID, u)
	_, err := e.mutate(nobody, "generateUploadUrl", map[string]any{})
	requireCode(t, err, 401, "Not authenticated")

	// Without a media service, uploads are off.
	r := functions.NewRegistry()
	chat.Register(r, chat.Config{})
	f, err := r.Lookup("shared/chat:generateUploadUrl")
	require.NoError(t, err)
	v, err := f.DecodeArgs(json.RawMessage(`{}`))
	require.NoError(t, err)
	_, err = f.RunMutation(context.Background(), e.pool, john, v, functions.RequestKey{})
	requireCode(t, err, 503, "Image uploads are not enabled on this server")
}

func TestSendImageMessage(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	mine := e.upload(schema.DemoCustomerID)
	janes := e.upload(schema.DemoOtherCustomerID)
	staffs := e.upload(schema.DemoStaffID)
	admins := e.upload(schema.DemoAdminID)

	tests := []struct {
		name    string
		id      *functions.Identity
		args    map[string]any
		status  int
		message string
	}{
		{"someone else's upload", john, imageArgs(conv, janes, nil), 404, "File not found"},
		{"no such file", john, imageArgs(conv, "file-nope", nil), 404, "File not found"},
		{"declared too large", john, imageArgs(conv, mine, map[string]any{"fileSize": 6 * 1024 * 1024}), 400, "Image size exceeds 5MB limit"},
		{"attachment on text", john, map[string]any{"conversationId": conv, "content": "x", "messageType": "text",
			"imageAttachment": map[string]any{"fileId": mine}}, 400, `imageAttachment is only allowed when messageType is "image"`},
		{"outsider", jane, imageArgs(conv, janes, nil), 404, "Conversation not found"},
		{"admin in a store conversation", admin, imageArgs(conv, admins, nil), 403, "Unauthorized to send message to this conversation"},
		{"no identity", nobody, imageArgs(conv, mine, nil), 401, "Not authenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.mutate(tt.id, "sendMessage", tt.args)
			requireCode(t, err, tt.status, tt.message)
		})
	}

	// Refused sends attached nothing.
	var attached int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM files WHERE message_id IS NOT NULL`).Scan(&attached))
	require.Zero(t, attached)

	// The document's declared values are not what is stored: the server's are.
	declared := map[string]any{"fileName": "../../etc/issue\x07.jpg", "fileType": "image/jpeg", "fileSize": 1024000, "width": 1920, "height": 1080}
	msgID := must[string](t)(e.mutate(john, "sendMessage", imageArgs(conv, mine, declared)))
	page := must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv}))
	require.Equal(t, msgID, page.Messages[0].ID)
	got := page.Messages[0]
	require.Equal(t, "image", got.MessageType)
	require.Equal(t, "Here's a photo of the issue", got.Content)
	require.NotNil(t, got.ImageAttachment)
	require.Equal(t, chat.ImageDoc{FileID: mine, FileName: "issue.jpg", FileType: "image/webp", FileSize: 123456,
		Width: 1600, Height: 900, ThumbnailWidth: 320, ThumbnailHeight: 180,
		URL: got.ImageAttachment.URL, ThumbnailURL: got.ImageAttachment.ThumbnailURL, ExpiresAt: got.ImageAttachment.ExpiresAt},
		*got.ImageAttachment)
	require.Contains(t, got.ImageAttachment.URL, "https://media.test/"+conv+"/"+mine)
	require.Contains(t, got.ImageAttachment.ThumbnailURL, "v=thumb")

	// Once only, even by its owner; the file is no longer unattached.
	_, err := e.mutate(john, "sendMessage", imageArgs(conv, mine, nil))
	requireCode(t, err, 409, "File is already attached to a message")
	var expires *time.Time
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT expires_at FROM files WHERE id = $1`, mine).Scan(&expires))
	require.Nil(t, expires, "an attached file never expires")

	// A caption is optional; the preview says it is an image.
	noCaption := imageArgs(conv, staffs, nil)
	noCaption["content"] = "  "
	must[string](t)(e.mutate(staff, "sendMessage", noCaption))
	c := must[chat.ConversationDoc](t)(e.query(john, "getConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, chat.ImagePreview, *c.LastMessagePreview)
	page = must[chat.MessagePage](t)(e.query(john, "getMessages", map[string]any{"conversationId": conv}))
	require.Equal(t, "image.webp", page.Messages[0].ImageAttachment.FileName, "no declared name: a name from the stored type")

	// Deleted: the image is hidden from everyone, as the content is.
	must[any](t)(e.mutate(john, "deleteMessage", map[string]any{"messageId": msgID}))
	page = must[chat.MessagePage](t)(e.query(staff, "getMessages", map[string]any{"conversationId": conv}))
	for _, m := range page.Messages {
		if m.ID == msgID {
			require.Nil(t, m.ImageAttachment)
			require.Empty(t, m.Content)
		}
	}
}

// The URLs come from the shared body: the same for every admitted caller,
// without an identity, and the query asks to be re-run when they should
// be re-signed.
func TestImageURLsAreSharedAndRefreshed(t *testing.T) {
	e := newEnv(t)
	conv := e.storeConversation()
	file := e.upload(schema.DemoCustomerID)
	must[string](t)(e.mutate(john, "sendMessage", imageArgs(conv, file, nil)))

	run := func(name string, id *functions.Identity, part functions.Part, now time.Time) (json.RawMessage, functions.QueryOutput) {
		f, err := chatReg.Lookup("shared/chat:" + name)
		require.NoError(t, err)
		args := map[string]any{"conversationId": conv}
		if name == "getMessagesPaginated" {
			args["paginationOpts"] = map[string]any{"numItems": 10}
		}
		raw, _ := json.Marshal(args)
		v, err := f.DecodeArgs(raw)
		require.NoError(t, err)
		out, err := f.RunPart(context.Background(), e.pool, id, v, now, "", part)
		require.NoError(t, err)
		value, err := json.Marshal(out.Value)
		require.NoError(t, err)
		return value, out
	}
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	for _, name := range []string{"getMessages", "getMessagesPaginated"} {
		t.Run(name, func(t *testing.T) {
			body, out := run(name, nil, functions.Body, now)
			require.Equal(t, now.Truncate(time.Minute).Add(time.Minute), out.RefreshAt, "re-signed when the bucket ends")
			require.Contains(t, string(body), "https://media.test/"+conv+"/"+file)
			for _, id := range []*functions.Identity{john, staff, admin} {
				whole, _ := run(name, id, functions.Whole, now.Add(30*time.Second))
				require.JSONEq(t, string(body), string(whole), "%s gets the shared body's URLs", id.Subject)
			}
			later, _ := run(name, nil, functions.Body, now.Add(time.Minute))
			require.NotEqual(t, string(body), string(later), "the next bucket signs new URLs")
			// Outsiders are refused by the access check before any URL.
			f, err := chatReg.Lookup("shared/chat:" + name)
			require.NoError(t, err)
			v, err := f.DecodeArgs(json.RawMessage(fmt.Sprintf(`{"conversationId":%q,"paginationOpts":{"numItems":10}}`, conv)))
			if name == "getMessages" {
				v, err = f.DecodeArgs(json.RawMessage(fmt.Sprintf(`{"conversationId":%q}`, conv)))
			}
			require.NoError(t, err)
			_, err = f.RunQuery(context.Background(), e.pool, jane, v, now, "")
			requireCode(t, err, 404, "Conversation not found")
		})
	}

	// A page without images asks for no refresh.
	plain := schema.DemoConversationID
	e.send(john, plain, "just text")
	f, err := chatReg.Lookup("shared/chat:getMessages")
	require.NoError(t, err)
	v, err := f.DecodeArgs(json.RawMessage(fmt.Sprintf(`{"conversationId":%q}`, plain)))
	require.NoError(t, err)
	out, err := f.RunQuery(context.Background(), e.pool, john, v, now, "")
	require.NoError(t, err)
	require.True(t, out.RefreshAt.IsZero())
}
