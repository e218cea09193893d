package events_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/events"
	"github.com/parley-chat/parley/events/smtpmail"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
)

// receivedMail is one mail an SMTP test server accepted.
type receivedMail struct {
	from string
	to   []string
	msg  *mail.Message
	body string
}

// smtpServer is a real SMTP server (go-smtp) in the test process that
// keeps what it receives. Down closes its listener; Up listens again on
// the same address. Safe for concurrent use.
type smtpServer struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	got  []receivedMail
	srv  *smtp.Server
	done chan struct{}
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &smtpServer{t: t, addr: ln.Addr().String()}
	s.serve(ln)
	t.Cleanup(s.Down)
	return s
}

func (s *smtpServer) serve(ln net.Listener) {
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.done = srv, done
	s.mu.Unlock()
	go func() { defer close(done); srv.Serve(ln) }() //nolint:errcheck // ends with Close
}

// Down stops the server: connections are refused.
func (s *smtpServer) Down() {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
		<-done
	}
}

// Up serves again on the same address.
func (s *smtpServer) Up() {
	ln, err := net.Listen("tcp", s.addr)
	require.NoError(s.t, err)
	s.serve(ln)
}

func (s *smtpServer) mails() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.got...)
}

func (s *smtpServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }

type smtpSession struct {
	s    *smtpServer
	from string
	to   []string
}

func (x *smtpSession) Reset()        { x.from, x.to = "", nil }
func (x *smtpSession) Logout() error { return nil }
func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.got = append(x.s.got, receivedMail{from: x.from, to: x.to, msg: msg, body: decodeBody(msg, body)})
	x.s.mu.Unlock()
	return nil
}

// decodeBody undoes quoted-printable, which go-mail uses for text.
func decodeBody(msg *mail.Message, body []byte) string {
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		s := strings.ReplaceAll(string(body), "=\r\n", "")
		s = regexp.MustCompile(`=([0-9A-F]{2})`).ReplaceAllStringFunc(s, func(h string) string {
			var b byte
			fmt.Sscanf(h[1:], "%02X", &b)
			return string([]byte{b})
		})
		return strings.ReplaceAll(s, "\r\n", "\n")
	}
	return strings.ReplaceAll(string(body), "\r\n", "\n")
}

// staffAddress is the demo staff member's account address (users.email).
const staffAddress = "support@pizzapalace.example"

// mailEnv is a server that mails through an SMTP test server.
type mailEnv struct {
	t    *testing.T
	srv  *parleytest.Server
	smtp *smtpServer
	key  []byte
}

// mailConfig is the tests' mail configuration: scans run only when the
// test calls them, retries come quickly.
func mailConfig(t *testing.T, smtpAddr string, key []byte) server.MailConfig {
	m, err := smtpmail.New(smtpmail.Config{URL: "smtp://" + smtpAddr, Timeout: 5 * time.Second})
	require.NoError(t, err)
	return server.MailConfig{Mailer: m, UnsubscribeKey: key, BaseURL: "https://chat.example", OfflineAfter: 5 * time.Minute,
		ScanInterval: -1, DigestInterval: 24 * time.Hour, RetryBase: 100 * time.Millisecond, RetryMax: 500 * time.Millisecond}
}

func newMailEnv(t *testing.T) *mailEnv {
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	e := &mailEnv{t: t, smtp: newSMTPServer(t), key: key}
	e.srv = parleytest.StartConfigured(t, func(cfg *server.Config) { cfg.Mail = mailConfig(t, e.smtp.addr, key) })
	return e
}

// call runs a function over the HTTP API as id and returns its value.
func (e *mailEnv) call(kind, fn string, id functions.Identity, args any) json.RawMessage {
	e.t.Helper()
	raw, err := json.Marshal(map[string]any{"path": fn, "args": args, "format": "json"})
	require.NoError(e.t, err)
	req, err := http.NewRequest("POST", e.srv.URL+"/api/"+kind, strings.NewReader(string(raw)))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.srv.Token(e.t, id))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var body struct {
		Status       string          `json:"status"`
		Value        json.RawMessage `json:"value"`
		ErrorMessage string          `json:"errorMessage"`
	}
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(e.t, "success", body.Status, "%s %s: %s", kind, fn, body.ErrorMessage)
	return body.Value
}

// send has John post content in the demo conversation, whose other
// participant is Pizza Palace's staff member.
func (e *mailEnv) send(content string) {
	e.t.Helper()
	e.call("mutation", "shared/chat:sendMessage", parleytest.John,
		map[string]any{"conversationId": schema.DemoConversationID, "content": content, "messageType": "text"})
}

func (e *mailEnv) scan() int {
	e.t.Helper()
	n, err := e.srv.Server.Events.ScanOffline(context.Background())
	require.NoError(e.t, err)
	return n
}

// waitMails waits until the SMTP server has n mails and every mail job
// has finished (so that none more is coming), and returns them.
func (e *mailEnv) waitMails(n int) []receivedMail {
	e.t.Helper()
	pgtest.Eventually(e.t, 20*time.Second, func() error {
		if got := len(e.smtp.mails()); got != n {
			return fmt.Errorf("%d mails, want %d", got, n)
		}
		var open int
		if err := e.srv.DB.QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE kind = 'events.mail' AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&open); err != nil {
			return err
		}
		if open > 0 {
			return fmt.Errorf("%d mail jobs still to run", open)
		}
		return nil
	})
	return e.smtp.mails()
}

func (e *mailEnv) exec(sql string, args ...any) {
	e.t.Helper()
	_, err := e.srv.DB.Exec(context.Background(), sql, args...)
	require.NoError(e.t, err)
}

var unsubscribeLink = regexp.MustCompile(`https://chat\.example/api/notifications/unsubscribe\?token=[A-Za-z0-9_.-]+`)

// An offline recipient gets exactly one mail for a burst, with the
// message, the thread link and a working unsubscribe link; nothing more
// until they read or come back, and nothing once unsubscribed.
func TestOfflineRecipientGetsOneMailPerQuietPeriod(t *testing.T) {
	e := newMailEnv(t)
	for _, m := range []string{"Is my pizza on its way?", "Hello?", "It has been an hour"} {
		e.send(m)
	}
	require.Equal(t, 1, e.scan(), "one mail for the burst")
	require.Equal(t, 0, e.scan(), "a second scan finds the recipient notified")
	got := e.waitMails(1)[0]

	require.Equal(t, []string{staffAddress}, got.to)
	h := got.msg.Header
	from, err := mail.ParseAddress(h.Get("From"))
	require.NoError(t, err)
	require.Equal(t, mail.Address{Name: "Parley", Address: "parley@localhost"}, *from)
	require.Equal(t, "<"+staffAddress+">", h.Get("To"))
	require.Equal(t, "3 new messages from John Doe", h.Get("Subject"))
	require.Regexp(t, `^<parley\.m[0-9a-f]{32}@localhost>$`, h.Get("Message-ID"))
	require.Equal(t, "List-Unsubscribe=One-Click", h.Get("List-Unsubscribe-Post"))
	link := unsubscribeLink.FindString(got.body)
	require.NotEmpty(t, link, got.body)
	require.Equal(t, "<"+link+">", h.Get("List-Unsubscribe"))
	for _, want := range []string{"Is my pizza on its way?", "Hello?", "It has been an hour", "John Doe",
		"https://chat.example/c/" + schema.DemoConversationID} {
		require.Contains(t, got.body, want)
	}
	// The mail's id is its (user, conversation, notified_at).
	var id string
	var notified time.Time
	require.NoError(t, e.srv.DB.QueryRow(context.Background(), `SELECT e.id, p.notified_at FROM notification_emails e
		JOIN conversation_participants p ON p.user_id = e.user_id AND p.conversation_id = e.conversation_ids[1]
		WHERE e.status = 'sent'`).Scan(&id, &notified))
	require.Equal(t, "<parley."+id+"@localhost>", h.Get("Message-ID"))

	// More messages in the quiet period: no mail.
	e.send("Anyone?")
	require.Equal(t, 0, e.scan())

	// A bad token changes nothing; the link turns mail off.
	resp, err := http.Get(e.srv.URL + events.UnsubscribePath + "?token=" + "dXNlcjEyMzQ1Njc4OQ.bm9wZQ")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, err = http.Get(strings.Replace(link, "https://chat.example", e.srv.URL, 1))
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(page), "no more notification mail")
	var mode string
	require.NoError(t, e.srv.DB.QueryRow(context.Background(), `SELECT mode FROM notification_settings WHERE user_id = $1`,
		schema.DemoStaffID).Scan(&mode))
	require.Equal(t, events.ModeOff, mode)

	// The quiet period ends (they read), new messages come: mail is off.
	e.exec(`UPDATE conversation_participants SET last_read_at = clock_timestamp() WHERE user_id = $1`, schema.DemoStaffID)
	e.send("After the read")
	require.Equal(t, 0, e.scan())

	// Back on: the next message after the read is mailed.
	e.exec(`UPDATE notification_settings SET mode = 'immediate' WHERE user_id = $1`, schema.DemoStaffID)
	require.Equal(t, 1, e.scan())
	require.Contains(t, e.waitMails(2)[1].body, "After the read")
}

// Who gets no mail: an online recipient (recent activity), one who read
// before the scan, one without an address, one whose mode is not
// immediate; the control, offline with the message unread, gets it.
func TestNoMailForOnlineOrReadOrAddressless(t *testing.T) {
	// seen waits until the staff member's call has been written as
	// activity.
	seen := func(e *mailEnv) {
		pgtest.Eventually(t, 10*time.Second, func() error {
			var n int
			if err := e.srv.DB.QueryRow(context.Background(), `SELECT count(*) FROM user_activity WHERE user_id = $1`,
				schema.DemoStaffID).Scan(&n); err != nil || n == 0 {
				return fmt.Errorf("no activity yet (%v)", err)
			}
			return nil
		})
	}
	tests := []struct {
		name    string
		prepare func(e *mailEnv)
		want    int
	}{
		{"the control: seen an hour ago, unread", func(e *mailEnv) {
			e.call("query", "shared/chat:getUnreadCount", parleytest.PizzaStaff, map[string]any{})
			seen(e)
			e.exec(`UPDATE user_activity SET last_seen_at = now() - interval '1 hour', online_until = now() - interval '1 hour'
				WHERE user_id = $1`, schema.DemoStaffID)
		}, 1},
		{"online: recent activity", func(e *mailEnv) {
			e.call("query", "shared/chat:getUnreadCount", parleytest.PizzaStaff, map[string]any{})
			seen(e)
		}, 0},
		{"read before the scan", func(e *mailEnv) {
			e.call("mutation", "shared/chat:markMessagesAsRead", parleytest.PizzaStaff,
				map[string]any{"conversationId": schema.DemoConversationID})
			seen(e)
			// Long gone since: only the read keeps the mail away.
			e.exec(`UPDATE user_activity SET last_seen_at = now() - interval '1 hour', online_until = now() - interval '1 hour'
				WHERE user_id = $1`, schema.DemoStaffID)
		}, 0},
		{"no address", func(e *mailEnv) {
			e.exec(`UPDATE users SET email = NULL WHERE id = $1`, schema.DemoStaffID)
		}, 0},
		{"mode digest", func(e *mailEnv) {
			e.exec(`INSERT INTO notification_settings (user_id, mode, updated_at) VALUES ($1, 'digest', now())`, schema.DemoStaffID)
		}, 0},
		{"mode off", func(e *mailEnv) {
			e.exec(`INSERT INTO notification_settings (user_id, mode, updated_at) VALUES ($1, 'off', now())`, schema.DemoStaffID)
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newMailEnv(t)
			e.send("Are you there?")
			tt.prepare(e)
			require.Equal(t, tt.want, e.scan())
			require.Len(t, e.waitMails(tt.want), tt.want)
		})
	}
}

// While the SMTP server is down the mail waits and is retried; it is
// delivered once it is back. A restart of Parley on the same database
// sends nothing twice.
func TestSMTPOutageAndRestart(t *testing.T) {
	e := newMailEnv(t)
	e.smtp.Down()
	e.send("Sent during the outage")
	require.Equal(t, 1, e.scan())
	pgtest.Eventually(t, 20*time.Second, func() error {
		var attempts int
		var status string
		if err := e.srv.DB.QueryRow(context.Background(), `SELECT attempts, status FROM notification_emails`).Scan(&attempts, &status); err != nil {
			return err
		}
		if attempts < 2 || status != "pending" {
			return fmt.Errorf("attempts %d, status %s", attempts, status)
		}
		return nil
	})
	e.smtp.Up()
	got := e.waitMails(1)
	require.Contains(t, got[0].body, "Sent during the outage")

	// Restart on the same database: the scan finds nothing to send.
	dbURL := e.srv.DBURL
	e.srv.Stop(t)
	e.srv = parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.DatabaseURL = dbURL
		cfg.Mail = mailConfig(t, e.smtp.addr, e.key)
	})
	require.Equal(t, 0, e.scan())
	e.send("After the restart, still quiet")
	require.Equal(t, 0, e.scan())
	require.Len(t, e.waitMails(1), 1)
	var sent int
	require.NoError(t, e.srv.DB.QueryRow(context.Background(), `SELECT count(*) FROM notification_emails WHERE status = 'sent'`).Scan(&sent))
	require.Equal(t, 1, sent)
}

// A digest user gets one digest per period with unread news: two runs of
// one period send one; a new period with new unread sends another; a
// period without, none; users without unread, none.
func TestDigestOncePerPeriod(t *testing.T) {
	e := newMailEnv(t)
	ctx := context.Background()
	ev := e.srv.Server.Events
	e.call("mutation", "shared/events:updateNotificationSettings", parleytest.PizzaStaff, map[string]any{"mode": "digest"})
	e.call("mutation", "shared/events:updateNotificationSettings", parleytest.Jane, map[string]any{"mode": "digest"})
	e.send("Digest me")
	e.send("And me")
	require.Equal(t, 0, e.scan(), "digest users get no offline mail")

	period := ev.DigestPeriod(time.Now())
	runs := []struct {
		name string
		at   time.Time // picks the period
		send string    // sent before the run
		want int
	}{
		{"first run", period, "", 1},
		{"the same run again", period, "", 0},
		{"later in the period, new unread", period.Add(time.Hour), "More news", 0},
		{"next period", period.Add(24 * time.Hour), "", 1},
		{"a period without new unread", period.Add(48 * time.Hour), "", 0},
	}
	mails := 0
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if r.send != "" {
				e.send(r.send)
			}
			n, err := ev.ScanDigests(ctx, r.at)
			require.NoError(t, err)
			require.Equal(t, r.want, n)
			mails += r.want
			e.waitMails(mails)
		})
	}
	got := e.smtp.mails()
	require.Len(t, got, 2)
	for _, m := range got {
		require.Equal(t, []string{staffAddress}, m.to, "nothing for Jane, who has no unread")
		require.Contains(t, m.msg.Header.Get("Subject"), "Your Parley digest")
		require.Contains(t, m.body, "https://chat.example/c/"+schema.DemoConversationID)
		require.Regexp(t, unsubscribeLink, m.body)
	}
	require.Contains(t, got[0].body, "2 unread messages")
	require.Contains(t, got[0].body, "And me")
	require.Contains(t, got[1].body, "3 unread messages")
	require.Contains(t, got[1].body, "More news")
}

// The scan runs by itself: river's leader schedules it every
// ScanInterval.
func TestPeriodicScanSendsOnItsOwn(t *testing.T) {
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	e := &mailEnv{t: t, smtp: newSMTPServer(t), key: key}
	e.srv = parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.Mail = mailConfig(t, e.smtp.addr, key)
		cfg.Mail.ScanInterval = 200 * time.Millisecond
	})
	e.send("Nobody scans by hand here")
	got := e.waitMails(1)
	require.Contains(t, got[0].body, "Nobody scans by hand here")
}
