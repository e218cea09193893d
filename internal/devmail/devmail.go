package devmail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/events"
	"github.com/parley-chat/parley/events/smtpmail"
)

// Paths of the dev endpoints.
const (
	PagePath = "/dev/mail"
	ListPath = "/dev/mail.json"
)

// maxListed bounds a listing.
const maxListed = 200

// Dir keeps mail in a directory.
type Dir struct {
	dir string
}

var _ events.Mailer = (*Dir)(nil)

// New returns a Dir writing into dir, creating it.
func New(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("devmail: create %s: %w", dir, err)
	}
	return &Dir{dir: dir}, nil
}

// Path is the directory.
func (d *Dir) Path() string { return d.dir }

// Send writes m as DIR/<time>-<id>.eml.
func (d *Dir) Send(_ context.Context, m *events.Mail) error {
	var b bytes.Buffer
	if err := smtpmail.Render(&b, m); err != nil {
		return err
	}
	id, _, _ := strings.Cut(m.MessageID, "@")
	name := fmt.Sprintf("%s-%s.eml", time.Now().UTC().Format("20060102T150405.000000000"), id)
	tmp, err := os.CreateTemp(d.dir, ".mail-*")
	if err != nil {
		return fmt.Errorf("devmail: write: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b.Bytes())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(d.dir, name))
	}
	if err != nil {
		return fmt.Errorf("devmail: write: %w", err)
	}
	return nil
}

// Captured is one kept mail, as /dev/mail.json lists it.
type Captured struct {
	File            string `json:"file"`
	From            string `json:"from"`
	To              string `json:"to"`
	Subject         string `json:"subject"`
	Date            string `json:"date"`
	MessageID       string `json:"messageId"`
	ListUnsubscribe string `json:"listUnsubscribe"`
	Text            string `json:"text"`
}

// List reads the kept mail, newest first.
func (d *Dir) List() ([]Captured, error) {
	names, err := filepath.Glob(filepath.Join(d.dir, "*.eml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	slices.Reverse(names)
	if len(names) > maxListed {
		names = names[:maxListed]
	}
	out := []Captured{}
	for _, n := range names {
		c, err := read(n)
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, c)
	}
	return out, nil
}

func read(path string) (Captured, error) {
	f, err := os.Open(path)
	if err != nil {
		return Captured{}, err
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		return Captured{}, err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return Captured{}, err
	}
	h := msg.Header
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil {
		subject = h.Get("Subject")
	}
	return Captured{File: filepath.Base(path), From: h.Get("From"), To: h.Get("To"), Subject: subject, Date: h.Get("Date"),
		MessageID: h.Get("Message-ID"), ListUnsubscribe: h.Get("List-Unsubscribe"),
		Text: strings.ReplaceAll(string(text), "\r\n", "\n")}, nil
}

// Register puts the endpoints on mux.
func (d *Dir) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ListPath, func(w http.ResponseWriter, _ *http.Request) {
		list, err := d.List()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(list) //nolint:errcheck // the client went away
	})
	mux.HandleFunc("GET "+PagePath, func(w http.ResponseWriter, _ *http.Request) {
		list, err := d.List()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page.Execute(w, struct { //nolint:errcheck // the client went away
			Dir  string
			Mail []Captured
		}{d.dir, list})
	})
}

var page = template.Must(template.New("mail").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Parley dev mail</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem auto;max-width:52rem;color:#222}
article{border:1px solid #ddd;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}
h2{font-size:1rem;margin:.2rem 0}
.meta{color:#666;font-size:12px}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5rem;border-radius:4px}
</style></head>
<body>
<h1>Mail captured by parley dev</h1>
<p class="meta">{{len .Mail}} mail(s) in {{.Dir}}, newest first. JSON: <a href="/dev/mail.json">/dev/mail.json</a>. Run with --smtp-url to send for real.</p>
{{range .Mail}}<article>
<h2>{{.Subject}}</h2>
<div class="meta">From {{.From}} to {{.To}} · {{.Date}} · {{.MessageID}}</div>
<pre>{{.Text}}</pre>
</article>{{else}}<p>No mail yet. Mail goes to participants offline for --offline-after (5 minutes) when a message arrives.</p>{{end}}
</body></html>
`))
