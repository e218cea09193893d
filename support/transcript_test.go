package support_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/schema"
	"github.com/parley-chat/parley/support"
)

func (e *env) chat(kind, name string, args any) json.RawMessage {
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	id := john
	if kind == "admin" {
		id = admin
	}
	res, err := e.s.Server.Engine.Mutate(context.Background(), "shared/chat:"+name, raw, &id, functions.RequestKey{})
	require.NoError(e.t, err)
	return res.Value
}

// TestTranscript: every format holds every message oldest first, notices
// included, attachments as links, times in the viewer's zone; html
// escapes what people wrote; a bad format or zone is a 400 naming it.
func TestTranscript(t *testing.T) {
	e := newEnv(t, 0)
	conv := schema.DemoConversationID
	e.chat("john", "sendMessage", map[string]any{"conversationId": conv, "content": "<script>alert(1)</script>\nsecond line", "messageType": "text"})
	e.chat("john", "sendMessage", map[string]any{"conversationId": conv, "content": "Here's a photo", "messageType": "image",
		"imageAttachment": map[string]any{"fileId": schema.DemoFileID}})
	e.chat("admin", "closeConversation", map[string]any{"conversationId": conv, "reason": "solved"})

	get := func(format, tz string) support.TranscriptFile {
		args := map[string]any{"conversationId": conv, "format": format}
		if tz != "" {
			args["timeZone"] = tz
		}
		return must[support.TranscriptFile](t)(e.query(john, "getTranscript", args))
	}
	j := get("json", "America/New_York")
	require.Equal(t, "application/json", j.MimeType)
	require.Equal(t, "transcript-"+conv+".json", j.Filename)
	var doc support.TranscriptDoc
	require.NoError(t, json.Unmarshal([]byte(j.Content), &doc))
	require.Equal(t, j.MessageCount, len(doc.Messages))
	require.False(t, j.Truncated)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	var prev time.Time
	var sawNotice, sawImage, sawScript bool
	for _, m := range doc.Messages {
		at, err := time.Parse(time.RFC3339, m.At)
		require.NoError(t, err)
		_, off := at.Zone()
		_, want := at.In(ny).Zone()
		require.Equal(t, want, off, "times are in the viewer's zone: %s", m.At)
		require.False(t, at.Before(prev), "oldest first")
		prev = at
		sawNotice = sawNotice || m.SenderType == "system"
		if m.Attachment != nil {
			sawImage = true
			require.Contains(t, m.Attachment.URL, "/api/storage/"+schema.DemoFileID+"/image?")
		}
		sawScript = sawScript || strings.HasPrefix(m.Content, "<script>")
	}
	require.True(t, sawNotice && sawImage && sawScript, "notice %v, image %v, the text %v", sawNotice, sawImage, sawScript)
	last := doc.Messages[len(doc.Messages)-1]
	require.Equal(t, "system", last.SenderType, "the close's notice is the latest")

	txt := get("text", "Europe/Madrid")
	require.Equal(t, "text/plain; charset=utf-8", txt.MimeType)
	require.True(t, strings.HasPrefix(txt.Content, "Conversation "+conv+" (customer_to_store, closed)\n"), txt.Content)
	require.Contains(t, txt.Content, "Times in Europe/Madrid")
	require.Contains(t, txt.Content, "John Doe (customer): <script>alert(1)</script>\n    second line\n")
	require.Regexp(t, `\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T\] John Doe \(customer\): Here's a photo\n    attachment: \S+ http\S+/api/storage/`, txt.Content)
	require.Regexp(t, `\] \* .+`, txt.Content, "a notice line")

	html := get("html", "")
	require.Equal(t, "text/html; charset=utf-8", html.MimeType)
	require.Equal(t, "UTC", html.TimeZone)
	require.Contains(t, html.Content, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.NotContains(t, html.Content, "<script>")
	require.Contains(t, html.Content, `<a href="http`)

	for _, tt := range []struct{ args map[string]any }{
		{map[string]any{"conversationId": conv, "format": "pdf"}},
		{map[string]any{"conversationId": conv, "timeZone": "Mars/Olympus_Mons"}},
		{map[string]any{"conversationId": conv, "timeZone": "Local"}},
	} {
		_, err := e.query(john, "getTranscript", tt.args)
		require.Equal(t, http.StatusBadRequest, status(t, err), "%v", tt.args)
	}
	_, err = e.query(john, "getTranscript", map[string]any{"conversationId": conv, "format": "pdf"})
	require.ErrorContains(t, err, `format must be "json", "text" or "html", got "pdf"`)
	_, err = e.query(john, "getTranscript", map[string]any{"conversationId": conv, "timeZone": "Mars/Olympus_Mons"})
	require.ErrorContains(t, err, `timeZone: "Mars/Olympus_Mons" is not a time zone name`)
}

// TestTranscriptLong: a conversation longer than a read's page comes
// whole, in order.
func TestTranscriptLong(t *testing.T) {
	e := newEnv(t, 0)
	conv := schema.DemoConversationID
	_, err := e.s.DB.Exec(context.Background(), `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, created_at)
		SELECT 'msglong' || i, $1, $2, 'store', 'text', 'line ' || i, now() + i * interval '1 ms' FROM generate_series(1, 1234) i`,
		conv, schema.DemoStaffID)
	require.NoError(t, err)
	f := must[support.TranscriptFile](t)(e.query(john, "getTranscript", map[string]any{"conversationId": conv}))
	var doc support.TranscriptDoc
	require.NoError(t, json.Unmarshal([]byte(f.Content), &doc))
	var lines []string
	for _, m := range doc.Messages {
		if strings.HasPrefix(m.ID, "msglong") {
			lines = append(lines, m.Content)
		}
	}
	require.Len(t, lines, 1234)
	require.Equal(t, "line 1", lines[0])
	require.Equal(t, "line 1234", lines[1233])
}

// TestTranscriptDownload: GET /api/transcript?conversationId= serves the file to
// save, with the caller's access: 401 without a token, 404 for someone
// the conversation is not theirs.
func TestTranscriptDownload(t *testing.T) {
	e := newEnv(t, 0)
	get := func(token, query string) (*http.Response, string) {
		return e.get(t, "/api/transcript?conversationId="+schema.DemoConversationID+query, token)
	}
	resp, body := get(e.s.Token(t, john), "&format=text&timeZone=Asia/Tokyo")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=transcript-`+schema.DemoConversationID+`.txt`, resp.Header.Get("Content-Disposition"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Contains(t, body, "Times in Asia/Tokyo")
	require.Contains(t, body, " JST] ")

	resp, body = get(e.s.Token(t, staff), "&format=html")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
	require.True(t, strings.HasPrefix(body, "<!doctype html>"))

	resp, body = get(e.s.Token(t, parleytest.Jane), "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	require.Contains(t, body, "Conversation not found")
	resp, body = get("", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	resp, body = get(e.s.Token(t, john), "&format=doc")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	require.Contains(t, body, `format must be`)
}
