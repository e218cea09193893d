package media_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/schema"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// httpTimeout bounds one request of the tests.
const httpTimeout = 20 * time.Second

var httpClient = &http.Client{Timeout: httpTimeout}

// call runs a function through the HTTP API as id; it returns the value,
// or the error data of a function that failed.
func call(t *testing.T, s *parleytest.Server, kind string, id functions.Identity, path string, args any) (json.RawMessage, map[string]any) {
	t.Helper()
	rawArgs, err := json.Marshal(args)
	require.NoError(t, err)
	body, err := json.Marshal(map[string]any{"path": path, "format": "convex_encoded_json", "args": []json.RawMessage{rawArgs}})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/"+kind, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if tok := s.Token(t, id); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Status    string          `json:"status"`
		Value     json.RawMessage `json:"value"`
		ErrorData map[string]any  `json:"errorData"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	if out.Status != "success" {
		require.NotNil(t, out.ErrorData, "HTTP %d", resp.StatusCode)
		return nil, out.ErrorData
	}
	return out.Value, nil
}

// mustCall is call for a function that must succeed, decoding its value.
func mustCall[T any](t *testing.T, s *parleytest.Server, kind string, id functions.Identity, path string, args any) T {
	t.Helper()
	raw, errData := call(t, s, kind, id, path, args)
	require.Nil(t, errData, "%s failed", path)
	var v T
	require.NoError(t, json.Unmarshal(raw, &v))
	return v
}

func uploadURL(t *testing.T, s *parleytest.Server, id functions.Identity) string {
	t.Helper()
	return mustCall[string](t, s, "mutation", id, "shared/chat:generateUploadUrl", map[string]any{})
}

// answer is an upload's or download's HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(a.body, &v), "HTTP %d: %s", a.status, a.body)
	return v
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// post sends data to an upload URL as raw bytes with contentType, with
// the token of id as bearer unless id is Anonymous.
func post(t *testing.T, s *parleytest.Server, url string, data []byte, contentType string, id functions.Identity) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok := s.Token(t, id); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return do(t, req)
}

// postForm sends data as the file of a multipart form, named name with
// contentType, as browsers do.
func postForm(t *testing.T, url string, data []byte, name, contentType string) answer {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	require.NoError(t, w.WriteField("note", "form fields before the file are skipped"))
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, name)}
	h["Content-Type"] = []string{contentType}
	part, err := w.CreatePart(h)
	require.NoError(t, err)
	_, err = part.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	req, err := http.NewRequest(http.MethodPost, url, &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return do(t, req)
}

// upload uploads data as id and returns its storageId.
func upload(t *testing.T, s *parleytest.Server, id functions.Identity, data []byte) string {
	t.Helper()
	a := post(t, s, uploadURL(t, s, id), data, "application/octet-stream", functions.Identity{})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	sid, _ := a.json(t)["storageId"].(string)
	require.NotEmpty(t, sid)
	return sid
}

func get(t *testing.T, url string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	return do(t, req)
}

// fileRow is what the files table says about an upload.
type fileRow struct {
	Owner, Type    string
	Size           int64
	Width, Height  int
	Frames         int
	Message        *string
	Expires        *time.Time
	Image, Thumb   string
	Original       *string
	OriginalType   *string
	ThumbW, ThumbH int
}

func readFile(t *testing.T, s *parleytest.Server, id string) fileRow {
	t.Helper()
	var f fileRow
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT owner_id, content_type, size_bytes, width, height, frames,
		message_id, expires_at, storage_key, thumb_key, original_key, original_type, thumb_width, thumb_height FROM files WHERE id = $1`, id).
		Scan(&f.Owner, &f.Type, &f.Size, &f.Width, &f.Height, &f.Frames, &f.Message, &f.Expires, &f.Image, &f.Thumb,
			&f.Original, &f.OriginalType, &f.ThumbW, &f.ThumbH))
	return f
}

// stored counts the files rows and the objects in the media directory
// (beyond the demo image's).
func stored(t *testing.T, s *parleytest.Server) (rows, objects int) {
	t.Helper()
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM files WHERE id <> $1`, schema.DemoFileID).Scan(&rows))
	require.NoError(t, filepath.WalkDir(s.MediaDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), schema.DemoFileID+".") {
			objects++
		}
		return err
	}))
	return rows, objects
}

// messages is John's view of a conversation's newest messages.
func messages(t *testing.T, s *parleytest.Server, id functions.Identity, conv string) []chat.MessageDoc {
	t.Helper()
	return mustCall[chat.MessagePage](t, s, "query", id, "shared/chat:getMessages", map[string]any{"conversationId": conv}).Messages
}

func sendImage(t *testing.T, s *parleytest.Server, id functions.Identity, conv, fileID string) (string, map[string]any) {
	t.Helper()
	raw, errData := call(t, s, "mutation", id, "shared/chat:sendMessage", map[string]any{
		"conversationId": conv, "content": "Here's a photo of the issue", "messageType": "image",
		"imageAttachment": map[string]any{"fileId": fileID, "fileName": "issue.jpg", "fileType": "image/jpeg",
			"fileSize": 1024000, "width": 1920, "height": 1080},
	})
	if errData != nil {
		return "", errData
	}
	var msgID string
	require.NoError(t, json.Unmarshal(raw, &msgID))
	return msgID, nil
}
