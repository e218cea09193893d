package media_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/h2non/bimg"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/testimages"
	"github.com/parley-chat/parley/media"
	"github.com/parley-chat/parley/media/vips"
	"github.com/parley-chat/parley/schema"
)

var (
	john  = parleytest.John
	jane  = parleytest.Jane
	staff = parleytest.PizzaStaff
	anon  = parleytest.Anonymous
)

// The whole flow as the API document describes it: an upload URL, the
// bytes, {storageId}, an image message, and URLs that serve the image.
func TestUploadSendAndDownload(t *testing.T) {
	s := parleytest.Start(t)
	src := testimages.JPEGWithEXIF(testimages.Photo(1200, 900, 7), testimages.Rotate90CW, testimages.Berlin)
	u := uploadURL(t, s, john)
	require.True(t, strings.HasPrefix(u, s.URL+"/api/storage/upload?token="), u)

	a := post(t, s, u, src, "image/jpeg", anon) // as the Convex upload helper does: no token
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, "application/json", a.header.Get("Content-Type"))
	sid := a.json(t)["storageId"].(string)
	f := readFile(t, s, sid)
	require.Equal(t, schema.DemoCustomerID, f.Owner)
	require.Equal(t, "image/webp", f.Type)
	require.Equal(t, [2]int{900, 1200}, [2]int{f.Width, f.Height}, "rotated upright")
	require.Equal(t, [2]int{240, 320}, [2]int{f.ThumbW, f.ThumbH})
	require.Nil(t, f.Message)
	require.NotNil(t, f.Expires, "unattached uploads expire")
	require.Nil(t, f.Original, "originals are not kept by default")

	msgID, errData := sendImage(t, s, john, schema.DemoConversationID, sid)
	require.Nil(t, errData)
	var doc chat.MessageDoc
	for _, m := range messages(t, s, staff, schema.DemoConversationID) { // the other participant
		if m.ID == msgID {
			doc = m
		}
	}
	require.NotNil(t, doc.ImageAttachment)
	att := *doc.ImageAttachment
	require.Equal(t, "image/webp", att.FileType, "what the server stored, not the declared image/jpeg")
	require.Equal(t, f.Size, att.FileSize, "not the declared 1024000")
	require.Equal(t, [2]int{900, 1200}, [2]int{att.Width, att.Height}, "not the declared 1920×1080")
	require.Equal(t, "issue.jpg", att.FileName)
	require.Greater(t, att.ExpiresAt, float64(time.Now().UnixMilli()))

	for _, v := range []struct {
		url  string
		w, h int
	}{{att.URL, 900, 1200}, {att.ThumbnailURL, 240, 320}} {
		got := get(t, v.url)
		require.Equal(t, http.StatusOK, got.status, "%s", got.body)
		require.Equal(t, "image/webp", got.header.Get("Content-Type"))
		require.Equal(t, "nosniff", got.header.Get("X-Content-Type-Options"))
		require.Contains(t, got.header.Get("Cache-Control"), "no-store")
		require.Contains(t, got.header.Get("Content-Security-Policy"), "sandbox")
		require.Equal(t, media.WebP, media.Sniff(got.body))
		require.Empty(t, testimages.MetadataBlocks(got.body), "no EXIF: the GPS position is gone")
		require.NotContains(t, string(got.body), "ParleyCam")
		size, err := bimg.Size(got.body)
		require.NoError(t, err)
		require.Equal(t, bimg.ImageSize{Width: v.w, Height: v.h}, size)
	}
	// The same file cannot be sent twice.
	_, errData = sendImage(t, s, john, schema.DemoConversationID, sid)
	require.Equal(t, "File is already attached to a message", errData["error"])
	require.EqualValues(t, 409, errData["status"])
	require.NotNil(t, readFile(t, s, sid).Message)
	require.Nil(t, readFile(t, s, sid).Expires, "attached files do not expire")
}

func TestUploadMultipartAndWebP(t *testing.T) {
	s := parleytest.Start(t)
	a := postForm(t, uploadURL(t, s, john), testimages.AlphaPNG(120, 80), "transparent.png", "image/png")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	f := readFile(t, s, a.json(t)["storageId"].(string))
	require.Equal(t, [2]int{120, 80}, [2]int{f.Width, f.Height})

	// A real WebP, as libvips writes one, is accepted too.
	p, err := vips.New(vips.Config{})
	require.NoError(t, err)
	src := testimages.JPEG(testimages.Photo(500, 300, 15), 90)
	h, err := media.ReadHeader(src)
	require.NoError(t, err)
	out, err := p.Process(context.Background(), media.Job{Src: src, Header: h, Format: media.WebP, Quality: 90,
		MaxEdge: 2000, ThumbEdge: 100, MaxDecodedPixels: h.Pixels()})
	require.NoError(t, err)
	f = readFile(t, s, upload(t, s, john, out.Image.Data))
	require.Equal(t, [2]int{500, 300}, [2]int{f.Width, f.Height})
	require.Equal(t, "image/webp", f.Type)
}

// Every refusal is a clear 400 and stores nothing.
func TestUploadValidation(t *testing.T) {
	s := parleytest.Start(t)
	_, err := s.DB.Exec(context.Background(), `UPDATE chat_settings SET allowed_image_types = ARRAY['image/jpeg', 'image/png', 'image/webp']`)
	require.NoError(t, err)
	jpeg := testimages.JPEG(testimages.Photo(640, 480, 8), 90)
	// Over 5 MB of real JPEG: noise does not compress.
	big := testimages.JPEG(testimages.Noise(2600, 2600, 9), 100)
	require.Greater(t, len(big), 5<<20)
	const allowed = "image/jpeg, image/png, image/webp"
	tests := []struct {
		name        string
		data        []byte
		contentType string
		form        string // file name: send as a multipart form
		want        string
	}{
		{"over the limit", big, "image/jpeg", "", "Image size exceeds 5MB limit"},
		{"over the limit, as a form", big, "image/jpeg", "big.jpg", "Image size exceeds 5MB limit"},
		{"just over the limit", append(bytes.Clone(jpeg), make([]byte, 5<<20-len(jpeg)+1)...), "image/jpeg", "", "Image size exceeds 5MB limit"},
		{"zero bytes", nil, "image/jpeg", "", "Image is empty"},
		{"zero bytes, as a form", nil, "image/jpeg", "empty.jpg", "Image is empty"},
		{"truncated jpeg", jpeg[:len(jpeg)/2], "image/jpeg", "", "Image is corrupt or truncated"},
		{"jpeg cut in its header", jpeg[:30], "image/jpeg", "", "Image is corrupt or truncated"},
		{"png bomb", testimages.PNGBomb(50000, 50000), "image/png", "", "Image dimensions 50000x50000 exceed the limit of 50 megapixels"},
		{"jpeg bomb", testimages.JPEGBomb(65000, 65000), "image/jpeg", "", "Image dimensions 65000x65000 exceed the limit of 50 megapixels"},
		{"gif not allowed by the settings", testimages.AnimatedGIF(20, 20, 2), "image/gif", "", "Image type image/gif is not allowed; allowed types: " + allowed},
		{"gif declared as a jpeg", testimages.AnimatedGIF(20, 20, 2), "image/jpeg", "cat.jpg", "Image type image/gif is not allowed; allowed types: " + allowed},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>`), "image/svg+xml", "", "Unsupported image type; allowed types: " + allowed},
		{"svg declared as a png", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>`), "image/png", "x.png", "Unsupported image type; allowed types: " + allowed},
		{"pdf", []byte("%PDF-1.4\n%%EOF\n"), "application/pdf", "", "Unsupported image type; allowed types: " + allowed},
		{"text", []byte("hello"), "text/plain", "", "Unsupported image type; allowed types: " + allowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := uploadURL(t, s, john)
			var a answer
			if tt.form != "" {
				a = postForm(t, u, tt.data, tt.form, tt.contentType)
			} else {
				a = post(t, s, u, tt.data, tt.contentType, anon)
			}
			require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
			require.Equal(t, map[string]any{"code": "invalid_argument", "status": float64(400), "error": tt.want}, a.json(t))
			rows, objects := stored(t, s)
			require.Zero(t, rows, "no file recorded")
			require.Zero(t, objects, "no object stored")
		})
	}

	// A PNG named issue.jpg and sent as image/jpeg is a PNG: sniffed,
	// and allowed as such.
	a := postForm(t, uploadURL(t, s, john), testimages.AlphaPNG(50, 40), "issue.jpg", "image/jpeg")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	// With only JPEG allowed, the same file is refused for what it is.
	_, err = s.DB.Exec(context.Background(), `UPDATE chat_settings SET allowed_image_types = ARRAY['image/jpeg']`)
	require.NoError(t, err)
	a = postForm(t, uploadURL(t, s, john), testimages.AlphaPNG(50, 40), "issue.jpg", "image/jpeg")
	require.Equal(t, http.StatusBadRequest, a.status)
	require.Equal(t, "Image type image/png is not allowed; allowed types: image/jpeg", a.json(t)["error"])

	// The limit follows the settings.
	_, err = s.DB.Exec(context.Background(), `UPDATE chat_settings SET max_image_size_mb = 1, allowed_image_types = ARRAY['image/jpeg']`)
	require.NoError(t, err)
	a = post(t, s, uploadURL(t, s, john), append(bytes.Clone(jpeg), make([]byte, 1<<20)...), "image/jpeg", anon)
	require.Equal(t, "Image size exceeds 1MB limit", a.json(t)["error"])

	// An org's own settings bind its users' uploads, and only theirs.
	acme := functions.Identity{Subject: "cust-acme", Role: functions.RoleCustomer, Org: "acme"}
	_, err = s.DB.Exec(context.Background(), `INSERT INTO chat_settings (org_id, max_image_size_mb, allowed_image_types)
		VALUES ('acme', 3, ARRAY['image/png'])`)
	require.NoError(t, err)
	a = post(t, s, uploadURL(t, s, acme), jpeg, "image/jpeg", anon)
	require.Equal(t, "Image type image/jpeg is not allowed; allowed types: image/png", a.json(t)["error"])
	a = post(t, s, uploadURL(t, s, acme), testimages.AlphaPNG(50, 40), "image/png", anon)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	a = post(t, s, uploadURL(t, s, john), testimages.AlphaPNG(50, 40), "image/png", anon)
	require.Equal(t, "Image type image/png is not allowed; allowed types: image/jpeg", a.json(t)["error"])
}

func TestUploadURLRules(t *testing.T) {
	s := parleytest.Start(t)
	img := testimages.JPEG(testimages.Photo(64, 64, 10), 80)

	// Used by someone else: refused, and still the owner's to use.
	u := uploadURL(t, s, john)
	a := post(t, s, u, img, "image/jpeg", jane)
	require.Equal(t, http.StatusForbidden, a.status)
	require.Equal(t, "Upload URL belongs to another user", a.json(t)["error"])
	a = post(t, s, u, img, "image/jpeg", john)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	sid := a.json(t)["storageId"].(string)
	require.Equal(t, schema.DemoCustomerID, readFile(t, s, sid).Owner)

	// Reused: refused.
	a = post(t, s, u, img, "image/jpeg", anon)
	require.Equal(t, http.StatusGone, a.status)
	require.Equal(t, "Upload URL was already used", a.json(t)["error"])

	// Someone else's upload cannot be attached: as if it did not exist.
	janeConv := mustCall[chat.ConversationRef](t, s, "mutation", jane, "shared/chat:createOrGetConversation", map[string]any{})
	_, errData := sendImage(t, s, jane, janeConv.ConversationID, sid)
	require.Equal(t, map[string]any{"code": "not_found", "status": float64(404), "error": "File not found"}, errData)

	// Unknown, expired, and with a token the server did not sign.
	a = post(t, s, s.URL+media.UploadPath+"?token=nope", img, "image/jpeg", anon)
	require.Equal(t, http.StatusNotFound, a.status)
	require.Equal(t, "Upload URL not found", a.json(t)["error"])
	u = uploadURL(t, s, john)
	_, err := s.DB.Exec(context.Background(), `UPDATE upload_urls SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`)
	require.NoError(t, err)
	a = post(t, s, u, img, "image/jpeg", anon)
	require.Equal(t, http.StatusGone, a.status)
	require.Equal(t, "Upload URL has expired", a.json(t)["error"])
	req, err := http.NewRequest(http.MethodPost, uploadURL(t, s, john), bytes.NewReader(img))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer not-a-jwt")
	a = do(t, req)
	require.Equal(t, http.StatusUnauthorized, a.status)

	// Concurrent twins: exactly one wins.
	u = uploadURL(t, s, john)
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range statuses {
		wg.Go(func() { statuses[i] = post(t, s, u, img, "image/jpeg", anon).status })
	}
	wg.Wait()
	ok := 0
	for _, st := range statuses {
		if st == http.StatusOK {
			ok++
		} else {
			// 429: beyond the owner's uploads in flight.
			require.Contains(t, []int{http.StatusGone, http.StatusTooManyRequests}, st)
		}
	}
	require.Equal(t, 1, ok, "a URL uploads once: %v", statuses)

	// No URL without an identity.
	_, errData = call(t, s, "mutation", anon, "shared/chat:generateUploadUrl", map[string]any{})
	require.EqualValues(t, 401, errData["status"])
}

// Downloads open only the file a URL was signed for, in the conversation
// it was signed for, until it expires; outsiders never receive URLs.
func TestDownloadIsPrivate(t *testing.T) {
	var offset struct {
		sync.Mutex
		d time.Duration
	}
	now := func() time.Time { offset.Lock(); defer offset.Unlock(); return time.Now().Add(offset.d) }
	s := parleytest.StartWith(t, parleytest.NoLimits, media.Config{Now: now})
	sid := upload(t, s, john, testimages.JPEG(testimages.Photo(300, 200, 11), 85))
	msgID, errData := sendImage(t, s, john, schema.DemoConversationID, sid)
	require.Nil(t, errData)
	att := messages(t, s, john, schema.DemoConversationID)[0].ImageAttachment
	require.NotNil(t, att)
	require.Equal(t, http.StatusOK, get(t, att.URL).status)

	// From outside: Jane cannot list the conversation, so gets no URL.
	_, errData = call(t, s, "query", jane, "shared/chat:getMessages", map[string]any{"conversationId": schema.DemoConversationID})
	require.Equal(t, "Conversation not found", errData["error"])

	// Jane's own conversation does not open the file: neither by editing
	// the URL, nor with a URL properly signed for it.
	janeConv := mustCall[chat.ConversationRef](t, s, "mutation", jane, "shared/chat:createOrGetConversation", map[string]any{}).ConversationID
	edited := withQuery(t, att.URL, "c", janeConv)
	a := get(t, edited)
	require.Equal(t, http.StatusForbidden, a.status)
	require.Equal(t, "Invalid image URL", a.json(t)["error"])
	forged := s.Server.Media.Sign(janeConv, sid, time.Now())
	require.Equal(t, http.StatusNotFound, get(t, forged.URL).status, "the file is not in Jane's conversation")

	// Tampering with anything else breaks the signature.
	for name, u := range map[string]string{
		"file":      strings.Replace(att.URL, sid, schema.DemoFileID, 1),
		"variant":   strings.Replace(att.URL, "/image?", "/thumb?", 1),
		"expiry":    withQuery(t, att.URL, "e", "99999999999"),
		"signature": withQuery(t, att.URL, "s", "AAAA"),
		"no query":  strings.Split(att.URL, "?")[0],
	} {
		t.Run(name, func(t *testing.T) {
			a := get(t, u)
			require.Equal(t, http.StatusForbidden, a.status, "%s", a.body)
			require.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"))
		})
	}
	require.Equal(t, http.StatusNotFound, get(t, strings.Replace(att.URL, "/image?", "/original?", 1)).status)

	// Expired.
	offset.Lock()
	offset.d = 2 * time.Hour
	offset.Unlock()
	a = get(t, att.URL)
	require.Equal(t, http.StatusForbidden, a.status)
	require.Equal(t, "Image URL has expired", a.json(t)["error"])
	offset.Lock()
	offset.d = 0
	offset.Unlock()

	// Deleted: the image is gone for everyone, URLs included.
	mustCall[any](t, s, "mutation", john, "shared/chat:deleteMessage", map[string]any{"messageId": msgID})
	require.Equal(t, http.StatusNotFound, get(t, att.URL).status)
	require.Equal(t, http.StatusNotFound, get(t, att.ThumbnailURL).status)
	require.Nil(t, messages(t, s, staff, schema.DemoConversationID)[0].ImageAttachment)
}

func withQuery(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestUnattachedUploadsAreRemoved(t *testing.T) {
	s := parleytest.Start(t)
	img := testimages.JPEG(testimages.Photo(64, 64, 12), 80)
	keep := upload(t, s, john, img)
	drop := upload(t, s, john, img)
	_, errData := sendImage(t, s, john, schema.DemoConversationID, keep)
	require.Nil(t, errData)
	uploadURL(t, s, john) // an upload URL never used
	// A shop backend's message, written by SQL, shows an upload it never
	// attached: the file is kept, and served.
	bySQL := upload(t, s, staff, img)
	_, err := s.DB.Exec(context.Background(), `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type,
		content, image_file_id) VALUES ('msgsqlimage', $1, $2, 'store', 'image', 'from the shop', $3)`,
		schema.DemoConversationID, schema.DemoStaffID, bySQL)
	require.NoError(t, err)
	var sqlAtt *chat.ImageDoc
	pgtest.Eventually(t, 10*time.Second, func() error {
		for _, m := range messages(t, s, john, schema.DemoConversationID) {
			if m.ID == "msgsqlimage" && m.ImageAttachment != nil {
				sqlAtt = m.ImageAttachment
				return nil
			}
		}
		return fmt.Errorf("the SQL message is not listed with its image yet")
	})
	require.Equal(t, http.StatusOK, get(t, sqlAtt.URL).status)

	rows, objects := stored(t, s)
	require.Equal(t, [2]int{3, 6}, [2]int{rows, objects}, "three files, each an image and a thumbnail")
	n, err := s.Server.Media.Sweep(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "nothing has expired yet")

	// Expire everything: only what was never attached goes.
	_, err = s.DB.Exec(context.Background(), `UPDATE files SET expires_at = now() - interval '1 second' WHERE message_id IS NULL AND id <> $1`, schema.DemoFileID)
	require.NoError(t, err)
	_, err = s.DB.Exec(context.Background(), `UPDATE upload_urls SET expires_at = now() - interval '1 second'`)
	require.NoError(t, err)
	n, err = s.Server.Media.Sweep(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	rows, objects = stored(t, s)
	require.Equal(t, [2]int{2, 4}, [2]int{rows, objects}, "the attached file and the one a message names are kept")
	require.Equal(t, http.StatusOK, get(t, sqlAtt.URL).status)
	var exists bool
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM files WHERE id = $1)`, drop).Scan(&exists))
	require.False(t, exists)
	var urls int
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM upload_urls`).Scan(&urls))
	require.Zero(t, urls)
	// The demo image never expires; a removed upload cannot be attached.
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM files WHERE id = $1)`, schema.DemoFileID).Scan(&exists))
	require.True(t, exists)
	_, errData = sendImage(t, s, john, schema.DemoConversationID, drop)
	require.Equal(t, "File not found", errData["error"])
}

func TestAnimationBudgetAndOptions(t *testing.T) {
	s := parleytest.StartWith(t, parleytest.NoLimits, media.Config{MaxFrames: 4, KeepOriginals: true})
	within := upload(t, s, john, testimages.AnimatedGIF(120, 90, 4))
	f := readFile(t, s, within)
	require.Equal(t, 4, f.Frames, "within the budget: animated")
	require.Equal(t, "image/webp", f.Type)
	require.NotNil(t, f.Original, "originals kept when configured")
	require.Equal(t, "image/gif", *f.OriginalType)

	over := upload(t, s, john, testimages.AnimatedGIF(120, 90, 5))
	require.Equal(t, 1, readFile(t, s, over).Frames, "over the frame budget: the first frame")

	j := parleytest.StartWith(t, parleytest.NoLimits, media.Config{Format: media.JPEG})
	f = readFile(t, j, upload(t, j, john, testimages.AlphaPNG(100, 100)))
	require.Equal(t, "image/jpeg", f.Type)
	f = readFile(t, j, upload(t, j, john, testimages.AnimatedGIF(50, 50, 3)))
	require.Equal(t, 1, f.Frames, "JPEG cannot animate: the first frame")
}

// blockingProcessor holds every job while hold is set, until release
// is closed.
type blockingProcessor struct {
	hold    atomic.Bool
	started chan struct{}
	release chan struct{}
}

func (p *blockingProcessor) Process(ctx context.Context, job media.Job) (media.Output, error) {
	if p.hold.Load() {
		p.started <- struct{}{}
		<-p.release
	}
	r := media.Rendition{Data: []byte("RIFF\x04\x00\x00\x00WEBP"), Width: 1, Height: 1, Frames: 1}
	return media.Output{Image: r, Thumb: r}, nil
}

// With every worker busy and the queue full, an upload is answered 503
// once its body is read (bodies are read before taking a place), and its
// URL stays usable.
func TestUploadsAreBounded(t *testing.T) {
	p := &blockingProcessor{started: make(chan struct{}, 2), release: make(chan struct{})}
	s := parleytest.StartWith(t, parleytest.NoLimits, media.Config{Processor: p, Workers: 1, MaxQueued: 1, MaxUploadsPerOwner: 10})
	p.hold.Store(true)
	img := testimages.JPEG(testimages.Photo(32, 32, 13), 80)
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		u := uploadURL(t, s, john)
		wg.Go(func() { statuses[i] = post(t, s, u, img, "image/jpeg", anon).status })
	}
	defer wg.Wait()
	<-p.started // one is processing
	// Both are admitted once both URLs are claimed: the other waits for
	// the worker.
	pgtest.Eventually(t, 10*time.Second, func() error {
		var used int
		require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM upload_urls WHERE used_at IS NOT NULL`).Scan(&used))
		if used != 2 {
			return fmt.Errorf("%d upload URLs claimed", used)
		}
		return nil
	})
	a := post(t, s, uploadURL(t, s, john), img, "image/jpeg", anon)
	require.Equal(t, http.StatusServiceUnavailable, a.status, "%s", a.body)
	require.Equal(t, "1", a.header.Get("Retry-After"))
	var used int
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM upload_urls WHERE used_at IS NOT NULL`).Scan(&used))
	require.Equal(t, 2, used, "the refused upload's URL stays usable")

	close(p.release)
	wg.Wait()
	require.Equal(t, []int{http.StatusOK, http.StatusOK}, statuses)
}

// A deleted message's image leaves the disk at the next sweep; its row
// stays, marked purged, as the message row stays. Other images stay.
func TestDeletedMessagesImagesArePurged(t *testing.T) {
	s := parleytest.Start(t)
	ctx := context.Background()
	img := testimages.PNG(testimages.Photo(64, 48, 3))
	gone := upload(t, s, john, img)
	kept := upload(t, s, john, img)
	goneMsg, errData := sendImage(t, s, john, schema.DemoConversationID, gone)
	require.Nil(t, errData)
	_, errData = sendImage(t, s, john, schema.DemoConversationID, kept)
	require.Nil(t, errData)
	rows, objects := stored(t, s)
	require.Equal(t, [2]int{2, 4}, [2]int{rows, objects})

	n, err := s.Server.Media.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is deleted yet")

	mustCall[any](t, s, "mutation", john, "shared/chat:deleteMessage", map[string]any{"messageId": goneMsg})
	n, err = s.Server.Media.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	rows, objects = stored(t, s)
	require.Equal(t, [2]int{2, 2}, [2]int{rows, objects}, "the deleted message's image and thumbnail are gone; the rows stay")
	var purged, keptPurged *time.Time
	require.NoError(t, s.DB.QueryRow(ctx, `SELECT purged_at FROM files WHERE id = $1`, gone).Scan(&purged))
	require.NoError(t, s.DB.QueryRow(ctx, `SELECT purged_at FROM files WHERE id = $1`, kept).Scan(&keptPurged))
	require.NotNil(t, purged)
	require.Nil(t, keptPurged)

	n, err = s.Server.Media.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "a purged image is purged once")
	for _, m := range messages(t, s, staff, schema.DemoConversationID) {
		if m.ImageAttachment != nil && m.ImageAttachment.FileID == kept {
			require.Equal(t, http.StatusOK, get(t, m.ImageAttachment.URL).status, "the other image is still served")
		}
	}
}

// An image that another, undeleted message still shows (a message written
// by SQL may name any file) is not purged when one of its messages is
// deleted.
func TestSharedImageIsNotPurgedWhileShown(t *testing.T) {
	s := parleytest.Start(t)
	ctx := context.Background()
	fid := upload(t, s, john, testimages.PNG(testimages.Photo(40, 30, 5)))
	sent, errData := sendImage(t, s, john, schema.DemoConversationID, fid)
	require.Nil(t, errData)
	_, err := s.DB.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type,
		content, image_file_id) VALUES ('msgshared', $1, $2, 'store', 'image', 'the same photo', $3)`,
		schema.DemoConversationID, schema.DemoStaffID, fid)
	require.NoError(t, err)

	mustCall[any](t, s, "mutation", john, "shared/chat:deleteMessage", map[string]any{"messageId": sent})
	n, err := s.Server.Media.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "the SQL message still shows the image")
	_, objects := stored(t, s)
	require.Equal(t, 2, objects)

	_, err = s.DB.Exec(ctx, `UPDATE messages SET is_deleted = true WHERE id = 'msgshared'`)
	require.NoError(t, err)
	n, err = s.Server.Media.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "now no message shows it")
	_, objects = stored(t, s)
	require.Zero(t, objects)
}
