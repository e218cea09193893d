// Package smtpmail sends the events domain's mail (events.Mailer) through
// an SMTP server with github.com/wneessen/go-mail, and renders a mail as
// RFC 5322 bytes (Render) for senders that keep it elsewhere (parley
// dev's files).
//
// # Concurrency model
//
// A Sender is safe for concurrent use: each Send dials its own
// connection (notification mail is sparse; a pool would hold idle
// connections that servers drop).
//
// # Lifecycle
//
// New parses the URL and dials nothing; each Send connects, sends one
// mail and quits. A failed Send returns its error for the job to retry.
package smtpmail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/parley-chat/parley/events"
)

// Sender sends mail to one SMTP server.
type Sender struct {
	host     string
	opts     []gomail.Option
	redacted string
}

var _ events.Mailer = (*Sender)(nil)

// Config configures a Sender.
type Config struct {
	// URL is smtp://[user:pass@]host[:port] (STARTTLS when the server
	// offers it; port 587 by default) or smtps://… (implicit TLS; port
	// 465 by default). Required.
	URL string
	// Timeout bounds dialling and each SMTP command. Zero means 15s.
	Timeout time.Duration
	// HELO is the name the client greets with. Empty means go-mail's
	// (the host name).
	HELO string
}

// New parses cfg.URL.
func New(cfg Config) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("smtpmail: parse url: %w", err)
	}
	if u.Hostname() == "" {
		return nil, errors.New("smtpmail: the URL needs a host: smtp://[user:pass@]host[:port] or smtps://…")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	opts := []gomail.Option{gomail.WithTimeout(cfg.Timeout)}
	port := 587
	switch u.Scheme {
	case "smtp":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("smtpmail: scheme %q: want smtp or smtps", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("smtpmail: port %q", p)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(u.User.Username()),
			gomail.WithPassword(pass))
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	return &Sender{host: u.Hostname(), opts: opts, redacted: u.Redacted()}, nil
}

// String is the server's URL without its password.
func (s *Sender) String() string { return s.redacted }

// Send delivers m.
func (s *Sender) Send(ctx context.Context, m *events.Mail) error {
	msg, err := message(m)
	if err != nil {
		return err
	}
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", s.redacted, err)
	}
	return nil
}

// Render writes m as an RFC 5322 message.
func Render(w io.Writer, m *events.Mail) error {
	msg, err := message(m)
	if err != nil {
		return err
	}
	if _, err := msg.WriteTo(w); err != nil {
		return fmt.Errorf("render mail: %w", err)
	}
	return nil
}

// message is m as a go-mail message.
func message(m *events.Mail) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("mail from %q: %w", m.From, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail to %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	if m.Date.IsZero() {
		msg.SetDate()
	} else {
		msg.SetDateWithValue(m.Date)
	}
	if m.Unsubscribe != "" {
		msg.SetGenHeader(gomail.HeaderListUnsubscribe, "<"+m.Unsubscribe+">")
		msg.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}
