package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/mail"
	"strings"
	"time"
)

// Mail is one notification email, as a Mailer sends it.
type Mail struct {
	// From and To are addresses; From may carry a display name
	// ("Parley <parley@example.com>").
	From, To string
	Subject  string
	// MessageID is the Message-ID without its angle brackets: a function
	// of what the mail is about, so a mail sent twice is recognisably one.
	MessageID string
	Date      time.Time
	// Unsubscribe is the URL that turns the recipient's mail off: the
	// List-Unsubscribe header (RFC 2369) with one-click unsubscription
	// (List-Unsubscribe-Post, RFC 8058).
	Unsubscribe string
	// Text is the plain-text body.
	Text string
}

// Mailer sends mail. Send returns nil only when the mail was handed over
// (an SMTP server accepted it); an error makes the job retry. Package
// events/smtpmail sends through SMTP; parley dev keeps mail in files.
// Implementations are safe for concurrent use.
type Mailer interface {
	Send(ctx context.Context, m *Mail) error
}

// NotifyConfig configures email notifications: offline mail (a
// participant who has not been seen for OfflineAfter and has not read a
// conversation's new messages gets one mail about it) and unread digests.
type NotifyConfig struct {
	// Mailer sends the mail. Nil turns email off: no scan runs, and the
	// settings functions still keep each user's choice.
	Mailer Mailer
	// From is the sender. Empty means "Parley <parley@localhost>".
	From string
	// BaseURL is the web app's URL that thread links start with
	// (BaseURL/c/<conversationId>) and unsubscribe links
	// (BaseURL/api/notifications/unsubscribe?token=…). Required with a
	// Mailer.
	BaseURL string
	// UnsubscribeKey signs unsubscribe links (HMAC-SHA256), at least 32
	// bytes. Required with a Mailer.
	UnsubscribeKey []byte
	// OfflineAfter is how long a user must have been unseen (no call, no
	// open session) to be mailed. Zero means 5 minutes.
	OfflineAfter time.Duration
	// ScanInterval is how often the leader looks for offline recipients.
	// Zero means 20s. Negative schedules neither scan: whoever holds the
	// service calls ScanOffline and ScanDigests (tests).
	ScanInterval time.Duration
	// DigestInterval is a digest's period: each digest user gets at most
	// one per period, aligned on the Unix epoch. Zero means 24h.
	DigestInterval time.Duration
	// Lookback bounds the scans to conversations with a message this
	// recent. Zero means 24h.
	Lookback time.Duration
	// RetryBase is the delay before a failed send is retried; each next
	// one doubles, up to RetryMax. Zero means 10s.
	RetryBase time.Duration
	// RetryMax caps a retry's delay. Zero means 30 minutes.
	RetryMax time.Duration
	// SendTimeout bounds one send. Zero means 30s.
	SendTimeout time.Duration
}

// minUnsubscribeKey is the shortest UnsubscribeKey accepted.
const minUnsubscribeKey = 32

func (c *NotifyConfig) fill() error {
	if c.From == "" {
		c.From = "Parley <parley@localhost>"
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("events: Notify.From %q: %w", c.From, err)
	}
	if c.OfflineAfter <= 0 {
		c.OfflineAfter = 5 * time.Minute
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = 20 * time.Second
	}
	if c.DigestInterval <= 0 {
		c.DigestInterval = 24 * time.Hour
	}
	if c.Lookback <= 0 {
		c.Lookback = 24 * time.Hour
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 10 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Minute
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Mailer != nil {
		if c.BaseURL == "" {
			return errors.New("events: Notify.BaseURL is required with a Mailer")
		}
		if len(c.UnsubscribeKey) < minUnsubscribeKey {
			return fmt.Errorf("events: Notify.UnsubscribeKey needs at least %d bytes", minUnsubscribeKey)
		}
	}
	return nil
}

// UnsubscribePath is the unsubscribe endpoint: GET (a link's click) or
// POST (RFC 8058's one-click) with ?token=.
const UnsubscribePath = "/api/notifications/unsubscribe"

// unsubscribeToken is the token of user's unsubscribe link: the user's
// id and the HMAC of it, both base64url. It does not expire: a link in an
// old mail keeps working.
func unsubscribeToken(key []byte, user string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(user)) + "." + enc.EncodeToString(unsubscribeMAC(key, user))
}

func unsubscribeMAC(key []byte, user string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("parley unsubscribe\x00"))
	m.Write([]byte(user))
	return m.Sum(nil)
}

// verifyUnsubscribe returns the user of a token, or false.
func verifyUnsubscribe(key []byte, token string) (string, bool) {
	enc := base64.RawURLEncoding
	u, sig, ok := strings.Cut(token, ".")
	if !ok || len(key) == 0 {
		return "", false
	}
	user, err := enc.DecodeString(u)
	if err != nil || len(user) == 0 {
		return "", false
	}
	mac, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, unsubscribeMAC(key, string(user))) {
		return "", false
	}
	return string(user), true
}

// UnsubscribeURL is user's unsubscribe link.
func (s *Service) UnsubscribeURL(user string) string {
	return s.cfg.Notify.BaseURL + UnsubscribePath + "?token=" + unsubscribeToken(s.cfg.Notify.UnsubscribeKey, user)
}

// ThreadURL is a conversation's page in the web app.
func (s *Service) ThreadURL(conversationID string) string {
	return s.cfg.Notify.BaseURL + "/c/" + conversationID
}

// RegisterHTTP puts the unsubscribe endpoint on mux.
func (s *Service) RegisterHTTP(mux *http.ServeMux) {
	mux.HandleFunc(UnsubscribePath, s.unsubscribe)
}

// unsubscribe turns the mail of a token's user off. GET answers a page
// for the browser; POST (the mail client's one-click) an empty 200.
func (s *Service) unsubscribe(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	user, ok := verifyUnsubscribe(s.cfg.Notify.UnsubscribeKey, r.URL.Query().Get("token"))
	if !ok {
		http.Error(w, "This unsubscribe link is not valid.", http.StatusBadRequest)
		return
	}
	if _, err := s.cfg.Pool.Exec(r.Context(), `INSERT INTO notification_settings (user_id, mode, updated_at) VALUES ($1, 'off', now())
		ON CONFLICT (user_id) DO UPDATE SET mode = 'off', updated_at = now()`, user); err != nil {
		s.log.Warn("unsubscribe", slog.String(logUser, user), slog.Any(logError, err))
		http.Error(w, "Could not unsubscribe now; please try again.", http.StatusServiceUnavailable)
		return
	}
	s.log.Info("unsubscribed from notification mail", slog.String(logUser, user))
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>Unsubscribed</title>
<p>You will get no more notification mail from Parley (%s).</p>
<p>Turn it back on in the app's notification settings.</p>
`, html.EscapeString(user))
}
