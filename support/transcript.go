package support

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
	_ "time/tzdata" // time zones by name wherever the server runs

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
)

// MaxTranscriptMessages bounds a transcript: a conversation with more
// gives its newest ones and says so.
const MaxTranscriptMessages = 20_000

// Transcript formats.
const (
	FormatJSON = "json"
	FormatText = "text"
	FormatHTML = "html"
)

// GetTranscriptArgs are getTranscript's arguments.
type GetTranscriptArgs struct {
	ConversationID string `json:"conversationId"`
	// Format is json (the default), text or html.
	Format *string `json:"format" ts:"json|text|html"`
	// TimeZone is the viewer's, an IANA name such as Europe/Madrid
	// (default UTC): every time in the transcript is in it.
	TimeZone *string `json:"timeZone"`
}

// TranscriptFile is getTranscript's result: a file to show or save.
type TranscriptFile struct {
	ConversationID string `json:"conversationId"`
	Format         string `json:"format" ts:"json|text|html"`
	TimeZone       string `json:"timeZone"`
	// Filename, MimeType and Content are the file: for json, Content is
	// a TranscriptDoc in JSON.
	Filename string `json:"filename"`
	MimeType string `json:"mimeType"`
	Content  string `json:"content"`
	// MessageCount is how many messages it holds; Truncated says the
	// conversation has more (the oldest are left out).
	MessageCount int  `json:"messageCount"`
	Truncated    bool `json:"truncated"`
}

// TranscriptDoc is the json format's document.
type TranscriptDoc struct {
	ConversationID string          `json:"conversationId"`
	Type           string          `json:"type"`
	Status         string          `json:"status"`
	Subject        *string         `json:"subject"`
	OrderID        *string         `json:"orderId"`
	StoreID        *string         `json:"storeId"`
	CreatedAt      string          `json:"createdAt"`
	TimeZone       string          `json:"timeZone"`
	Truncated      bool            `json:"truncated"`
	Messages       []TranscriptMsg `json:"messages"`
}

// TranscriptMsg is one message of a transcript.
type TranscriptMsg struct {
	ID          string `json:"id"`
	At          string `json:"at"` // RFC 3339 in the viewer's time zone
	SenderID    string `json:"senderId"`
	SenderName  string `json:"senderName"`
	SenderType  string `json:"senderType"`
	MessageType string `json:"messageType"`
	Content     string `json:"content"`
	Deleted     bool   `json:"deleted,omitempty"`
	EditedAt    string `json:"editedAt,omitempty"`
	// Attachment is an image's link (signed, so it expires) and name.
	Attachment *TranscriptLink `json:"attachment,omitempty"`
	Location   *chat.Location  `json:"location,omitempty"`
	Meeting    *chat.Meeting   `json:"meeting,omitempty"`
}

// TranscriptLink is an attachment's link.
type TranscriptLink struct {
	URL      string `json:"url"`
	FileName string `json:"fileName,omitempty"`
	FileType string `json:"fileType"`
}

// getTranscript renders a conversation for whoever may read it (chat's
// rule: its participants, its store's staff, the org's admins).
func (s *Service) getTranscript(c *functions.QueryCtx, a GetTranscriptArgs) (TranscriptFile, error) {
	format := FormatJSON
	if a.Format != nil {
		format = *a.Format
	}
	if format != FormatJSON && format != FormatText && format != FormatHTML {
		return TranscriptFile{}, functions.Invalid(`format must be "json", "text" or "html", got %q`, format)
	}
	loc := time.UTC
	if a.TimeZone != nil && *a.TimeZone != "" {
		l, err := time.LoadLocation(*a.TimeZone)
		if err != nil || strings.EqualFold(*a.TimeZone, "local") {
			return TranscriptFile{}, functions.Invalid("timeZone: %q is not a time zone name such as Europe/Madrid or America/New_York", *a.TimeZone)
		}
		loc = l
	}
	src, err := chat.ReadTranscript(c, s.cfg.Media, a.ConversationID, MaxTranscriptMessages)
	if err != nil {
		return TranscriptFile{}, err
	}
	doc := transcriptDoc(src, loc)
	out := TranscriptFile{ConversationID: src.ConversationID, Format: format, TimeZone: loc.String(),
		MessageCount: len(doc.Messages), Truncated: src.Truncated}
	base := "transcript-" + src.ConversationID
	switch format {
	case FormatJSON:
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return TranscriptFile{}, fmt.Errorf("transcript: %w", err)
		}
		out.Filename, out.MimeType, out.Content = base+".json", "application/json", string(b)
	case FormatText:
		out.Filename, out.MimeType, out.Content = base+".txt", "text/plain; charset=utf-8", transcriptText(doc, clockIn(loc))
	case FormatHTML:
		var b bytes.Buffer
		page, err := transcriptHTML.Clone()
		if err == nil {
			err = page.Funcs(template.FuncMap{"clock": clockIn(loc)}).Execute(&b, doc)
		}
		if err != nil {
			return TranscriptFile{}, fmt.Errorf("transcript: %w", err)
		}
		out.Filename, out.MimeType, out.Content = base+".html", "text/html; charset=utf-8", b.String()
	}
	return out, nil
}

// transcriptDoc puts a conversation's messages in the viewer's zone.
func transcriptDoc(src chat.TranscriptSource, loc *time.Location) TranscriptDoc {
	doc := TranscriptDoc{ConversationID: src.ConversationID, Type: src.Type, Status: src.Status, Subject: src.Subject,
		OrderID: src.OrderID, StoreID: src.StoreID, CreatedAt: src.CreatedAt.In(loc).Format(time.RFC3339),
		TimeZone: loc.String(), Truncated: src.Truncated, Messages: make([]TranscriptMsg, len(src.Messages))}
	if doc.Subject == nil {
		doc.Subject = src.Title
	}
	for i, m := range src.Messages {
		t := TranscriptMsg{ID: m.ID, At: millisIn(m.CreationTime, loc), SenderID: m.SenderID, SenderName: m.SenderName,
			SenderType: m.SenderType, MessageType: m.MessageType, Content: m.Content, Deleted: m.IsDeleted,
			Location: m.Location, Meeting: m.Meeting}
		if m.EditedAt != nil {
			t.EditedAt = millisIn(*m.EditedAt, loc)
		}
		if img := m.ImageAttachment; img != nil {
			t.Attachment = &TranscriptLink{URL: img.URL, FileName: img.FileName, FileType: img.FileType}
		}
		doc.Messages[i] = t
	}
	return doc
}

// millisIn formats ms since the epoch in loc, to the second.
func millisIn(ms float64, loc *time.Location) string {
	return time.UnixMilli(int64(math.Round(ms))).In(loc).Format(time.RFC3339)
}

// clockIn returns the format of a transcript line's time in loc:
// 2026-12-07 14:03:05 CET.
func clockIn(loc *time.Location) func(rfc string) string {
	return func(rfc string) string {
		t, err := time.Parse(time.RFC3339, rfc)
		if err != nil {
			return rfc
		}
		return t.In(loc).Format("2006-01-02 15:04:05 MST")
	}
}

// isNotice reports a system message (a join, a transfer, a close).
func isNotice(m TranscriptMsg) bool { return m.SenderType == "system" || m.MessageType == "system" }

// body is a message's text as a transcript shows it.
func body(m TranscriptMsg) string {
	switch {
	case m.Deleted:
		return "(deleted)"
	case m.Location != nil:
		label := ""
		if m.Location.Label != nil {
			label = *m.Location.Label + " "
		}
		return strings.TrimSpace(fmt.Sprintf("%s[location: %s%.6f,%.6f]", prefix(m.Content), label, m.Location.Lat, m.Location.Lng))
	case m.Meeting != nil:
		return strings.TrimSpace(fmt.Sprintf("%s[meeting: %s, %d min, %s]", prefix(m.Content), m.Meeting.Title, m.Meeting.DurationMinutes, m.Meeting.JoinURL))
	}
	return m.Content
}

func prefix(s string) string {
	if s == "" {
		return ""
	}
	return s + " "
}

// transcriptText is the text format: a header, then one line per
// message (continuation lines indented).
func transcriptText(d TranscriptDoc, clock func(string) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Conversation %s (%s, %s)\n", d.ConversationID, d.Type, d.Status)
	if d.Subject != nil {
		fmt.Fprintf(&b, "Subject: %s\n", *d.Subject)
	}
	if d.OrderID != nil {
		fmt.Fprintf(&b, "Order: %s\n", *d.OrderID)
	}
	fmt.Fprintf(&b, "Started: %s\nTimes in %s\n", clock(d.CreatedAt), d.TimeZone)
	if d.Truncated {
		fmt.Fprintf(&b, "(only the latest %d messages)\n", len(d.Messages))
	}
	b.WriteString("\n")
	for _, m := range d.Messages {
		text := strings.ReplaceAll(body(m), "\n", "\n    ")
		if isNotice(m) {
			fmt.Fprintf(&b, "[%s] * %s\n", clock(m.At), text)
			continue
		}
		fmt.Fprintf(&b, "[%s] %s (%s): %s", clock(m.At), m.SenderName, m.SenderType, text)
		if m.EditedAt != "" {
			b.WriteString(" (edited)")
		}
		b.WriteString("\n")
		if a := m.Attachment; a != nil {
			name := a.FileName
			if name == "" {
				name = a.FileType
			}
			fmt.Fprintf(&b, "    attachment: %s %s\n", name, a.URL)
		}
	}
	return b.String()
}

// transcriptHTML is the html format; html/template escapes every value
// (a message is untrusted text) and allows only http(s) links.
var transcriptHTML = template.Must(template.New("transcript").Funcs(template.FuncMap{
	"clock": clockIn(time.UTC), "notice": isNotice, "body": body, // clock: the viewer's, at Execute
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Transcript {{.ConversationID}}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}
.m{margin:.4rem 0}.t{color:#666;font-size:12px}.n{color:#555;font-style:italic}.who{font-weight:600}</style></head>
<body><h1>Conversation {{.ConversationID}}</h1>
<p>{{.Type}}, {{.Status}}{{with .Subject}} · {{.}}{{end}}{{with .OrderID}} · order {{.}}{{end}}<br>
Started {{clock .CreatedAt}} · times in {{.TimeZone}}{{if .Truncated}} · only the latest messages{{end}}</p>
{{range .Messages}}<div class="m" id="{{.ID}}"><span class="t">{{clock .At}}</span>
{{if notice .}}<span class="n">{{body .}}</span>{{else}}<span class="who">{{.SenderName}}</span> ({{.SenderType}}): {{body .}}{{if .EditedAt}} <span class="t">(edited)</span>{{end}}
{{with .Attachment}}<br><a href="{{.URL}}">{{if .FileName}}{{.FileName}}{{else}}{{.FileType}}{{end}}</a>{{end}}{{end}}</div>
{{end}}</body></html>
`))
