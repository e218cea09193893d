package main

import (
	"flag"
	"os"
	"time"

	"github.com/parley-chat/parley/internal/server"
)

// unsubscribeKeyFile holds the key signing unsubscribe links in `parley
// dev`'s data directory, and in serve's media directory when no key is
// given.
const unsubscribeKeyFile = "unsubscribe-key"

// mailOptions are the notification mail flags of dev and serve.
type mailOptions struct {
	smtpURL        string
	from           string
	key            string // serve only: hex or text, at least 32 bytes
	offlineAfter   time.Duration
	scanInterval   time.Duration
	digestInterval time.Duration
}

// mailFlags declares the mail flags on fl. Under serve, mail is off
// without --smtp-url; under dev, mail without one is kept in DATA/mail
// and shown at /dev/mail.
func mailFlags(fl *flag.FlagSet, serve bool) *mailOptions {
	o := &mailOptions{}
	if serve {
		fl.StringVar(&o.smtpURL, "smtp-url", os.Getenv("PARLEY_SMTP_URL"),
			"SMTP server of notification mail: smtp://user:pass@host:port (STARTTLS when offered) or smtps://… (implicit TLS) "+
				"(env PARLEY_SMTP_URL); empty: no mail")
		fl.StringVar(&o.from, "mail-from", envOr("PARLEY_MAIL_FROM", "Parley <parley@localhost>"),
			"sender of notification mail (env PARLEY_MAIL_FROM)")
		fl.StringVar(&o.key, "unsubscribe-key", os.Getenv("PARLEY_UNSUBSCRIBE_KEY"),
			"key signing unsubscribe links, at least 32 bytes or 64 hex digits (env PARLEY_UNSUBSCRIBE_KEY); "+
				"empty: a key kept in MEDIA-DIR/"+unsubscribeKeyFile)
	} else {
		fl.StringVar(&o.smtpURL, "smtp-url", "",
			"SMTP server of notification mail, smtp://user:pass@host:port or smtps://… (empty: mail is kept in DATA/mail and shown at /dev/mail)")
		fl.StringVar(&o.from, "mail-from", "Parley <parley@localhost>", "sender of notification mail")
	}
	fl.DurationVar(&o.offlineAfter, "offline-after", 5*time.Minute,
		"how long a participant must be unseen for a new message to be mailed to them (one mail per conversation until they read or come back)")
	fl.DurationVar(&o.scanInterval, "notify-scan-interval", 20*time.Second, "how often the offline recipients are looked for")
	fl.DurationVar(&o.digestInterval, "digest-interval", 24*time.Hour, "the period of unread digests (users in mode digest get at most one per period)")
	return o
}

// apply puts the mail options into cfg. keyDir keeps the unsubscribe key
// when none is given; publicURL starts links ("": the listen address).
// A cfg.Mail.Mailer already set (dev's files) is kept unless --smtp-url
// is given.
func (o *mailOptions) apply(cfg *server.Config, keyDir, publicURL string) error {
	m := &cfg.Mail
	if o.smtpURL != "" {
		m.Mailer, m.SMTPURL = nil, o.smtpURL
	}
	m.From, m.BaseURL = o.from, publicURL
	m.OfflineAfter, m.ScanInterval, m.DigestInterval = o.offlineAfter, o.scanInterval, o.digestInterval
	if m.Mailer == nil && m.SMTPURL == "" {
		return nil
	}
	key, err := secretKey(o.key, keyDir, unsubscribeKeyFile, "--unsubscribe-key")
	if err != nil {
		return err
	}
	m.UnsubscribeKey = key
	return nil
}
