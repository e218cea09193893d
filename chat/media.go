package chat

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Media is what the chat API needs of the image service (package media,
// wired by internal/server). Implementations must be safe for concurrent
// use.
type Media interface {
	// NewUploadURL records, through q (the mutation's transaction), a
	// short-lived, single-use upload URL bound to ownerID, and returns it.
	NewUploadURL(ctx context.Context, q schema.Querier, ownerID string, now time.Time) (string, error)
	// SignImage returns the URLs of a file's image and thumbnail that open
	// it as part of conversationID only. It must depend on nothing but its
	// arguments (and on now only through a bucket), because the query
	// that calls it is shared by every caller allowed to see the
	// conversation.
	SignImage(conversationID, fileID string, now time.Time) SignedImage
}

// SignedImage is a file's pair of signed download URLs.
type SignedImage struct {
	URL, ThumbnailURL string
	ExpiresAt         time.Time // both stop working then
	RefreshAt         time.Time // sign new ones from then on
}

// Errors of image messages.
var (
	ErrFileNotFound    = &functions.Error{Status: http.StatusNotFound, Code: functions.CodeNotFound, Message: "File not found"}
	ErrFileAttached    = &functions.Error{Status: http.StatusConflict, Code: functions.CodeConflict, Message: "File is already attached to a message"}
	ErrMediaDisabled   = &functions.Error{Status: http.StatusServiceUnavailable, Code: functions.CodeUnavailable, Message: "Image uploads are not enabled on this server"}
	ErrImageAttachment = functions.Invalid(`imageAttachment is required when messageType is "image"`)
)

// ImageTooLarge is the API document's 400 for an image over the settings'
// limit.
func ImageTooLarge(maxMB int) *functions.Error {
	return functions.Invalid("Image size exceeds %dMB limit", maxMB)
}

// maxFileNameChars bounds an attachment's file name.
const maxFileNameChars = 255

// UploadURL is the result of generateUploadUrl: the URL itself, as
// Convex's generateUploadUrl returns it.
type UploadURL = string

// generateUploadUrl returns a short-lived, single-use URL the caller POSTs
// an image to; the answer is {storageId}, which sendMessage attaches.
func (ch *api) generateUploadURL(c *functions.MutationCtx, _ functions.EmptyArgs) (UploadURL, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return "", err
	}
	if id.Role == functions.RoleGuest {
		return "", ErrGuest // anonymous uploads would be free storage for anyone
	}
	if ch.cfg.Media == nil {
		return "", ErrMediaDisabled
	}
	if err := chatOn(c, id); err != nil {
		return "", err
	}
	if err := (tables{c.DB}).ensureUser(c.Ctx, id); err != nil {
		return "", err
	}
	return ch.cfg.Media.NewUploadURL(c.Ctx, c.Tx, id.Subject, c.Now())
}

// checkDeclaredImage checks what the client says about its image: nothing
// of it is trusted (the server measured the file), but a declared size
// over the limit is the document's error.
func checkDeclaredImage(c *functions.MutationCtx, a *ImageAttachment) error {
	if a.FileSize == nil {
		return nil
	}
	s, err := c.DB.Settings(c.Ctx, c.Identity().Org)
	if err != nil {
		return err
	}
	if *a.FileSize > float64(int64(s.MaxImageSizeMB)<<20) {
		return ImageTooLarge(s.MaxImageSizeMB)
	}
	return nil
}

// attachImage attaches the caller's uploaded file to message msgID: the
// file must be the caller's and not yet attached. The declared file name
// is kept for display (cleaned); the type, size and dimensions are the
// server's.
func attachImage(c *functions.MutationCtx, id *functions.Identity, a *ImageAttachment) (File, error) {
	f, err := tables{c.DB}.FileForUpdate(c.Ctx, a.FileID)
	switch {
	case errors.Is(err, schema.ErrNoRow):
		return f, ErrFileNotFound
	case err != nil:
		return f, err
	case f.OwnerID != id.Subject:
		return f, ErrFileNotFound // someone else's upload: as if it did not exist
	case f.MessageID != nil:
		return f, ErrFileAttached
	}
	return f, nil
}

// linkImage attaches file f to message msgID, under the declared name
// (cleaned).
func linkImage(c *functions.MutationCtx, f File, msgID string, declaredName *string) error {
	return tables{c.DB}.attachFile(c.Ctx, f.ID, msgID, cleanFileName(declaredName, f), c.Now())
}

// cleanFileName keeps a declared name's last path element, without
// control characters, at most maxFileNameChars; else "image" with the
// stored type's extension.
func cleanFileName(declared *string, f File) string {
	if declared != nil {
		s := *declared
		if i := strings.LastIndexAny(s, `/\`); i >= 0 {
			s = s[i+1:]
		}
		s = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7F || r == utf8.RuneError {
				return -1
			}
			return r
		}, s)
		s = strings.TrimSpace(s)
		if r := []rune(s); len(r) > maxFileNameChars {
			s = string(r[:maxFileNameChars])
		}
		if s != "" {
			return s
		}
	}
	ext := strings.TrimPrefix(f.ContentType, "image/")
	if ext == "jpeg" {
		ext = "jpg"
	}
	return "image." + ext
}

// ImageDoc is an image message's attachment as queries return it: what
// the server stored, and signed URLs that work for a while (expiresAt).
type ImageDoc struct {
	FileID          string  `json:"fileId"`
	FileName        string  `json:"fileName"`
	FileType        string  `json:"fileType"`
	FileSize        int64   `json:"fileSize"`
	Width           int     `json:"width"`
	Height          int     `json:"height"`
	Animated        bool    `json:"animated,omitempty"`
	URL             string  `json:"url,omitempty"`
	ThumbnailURL    string  `json:"thumbnailUrl,omitempty"`
	ThumbnailWidth  int     `json:"thumbnailWidth"`
	ThumbnailHeight int     `json:"thumbnailHeight"`
	ExpiresAt       float64 `json:"expiresAt,omitempty"`
}

// withImages fills in the attachments of docs' image messages: it reads
// their files and signs URLs for the conversation they were sent in. It is
// called by shared query bodies: the URLs depend on the conversation, the
// file and the time bucket, never on the caller, and the body is shared
// only among callers that passed conversationAccess. The query is asked to
// re-run when the URLs should be re-signed.
func (ch *api) withImages(c *functions.QueryCtx, msgs []Message, docs []MessageDoc) error {
	return withImages(c, ch.cfg.Media, msgs, docs)
}

// withImages is api.withImages with the image service given (nil: no
// URLs).
func withImages(c *functions.QueryCtx, media Media, msgs []Message, docs []MessageDoc) error {
	var ids []string
	for _, m := range msgs {
		if m.ImageFileID != nil && !m.IsDeleted {
			ids = append(ids, *m.ImageFileID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	files, err := tables{c.DB}.Files(c.Ctx, ids)
	if err != nil {
		return err
	}
	for i, m := range msgs {
		if m.ImageFileID == nil || m.IsDeleted {
			continue
		}
		f, ok := files[*m.ImageFileID]
		if !ok {
			continue
		}
		d := &ImageDoc{FileID: f.ID, FileType: f.ContentType, FileSize: f.SizeBytes, Width: f.Width, Height: f.Height,
			Animated: f.Frames > 1, ThumbnailWidth: f.ThumbWidth, ThumbnailHeight: f.ThumbHeight}
		if f.FileName != nil {
			d.FileName = *f.FileName
		}
		if media != nil {
			s := media.SignImage(m.ConversationID, f.ID, c.Now())
			d.URL, d.ThumbnailURL, d.ExpiresAt = s.URL, s.ThumbnailURL, schema.Millis(s.ExpiresAt)
			c.RefreshAt(s.RefreshAt)
		}
		docs[i].ImageAttachment = d
	}
	return nil
}
