package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley/internal/jobs"
)

// Mail kinds (notification_emails.kind).
const (
	kindMessage = "message"
	kindDigest  = "digest"
)

// notifyPeriodic are the periodic jobs of email notifications.
func (s *Service) notifyPeriodic() []*river.PeriodicJob {
	n := s.cfg.Notify
	if n.ScanInterval < 0 {
		return nil
	}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(n.ScanInterval), func() (river.JobArgs, *river.InsertOpts) {
			return offlineScanArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "events.offline-scan"}),
		// At each period's start, and at the leader's start (a leader
		// that never lives a whole period still sends each period's
		// digests: a second run of a period sends nothing).
		river.NewPeriodicJob(periodSchedule{s}, func() (river.JobArgs, *river.InsertOpts) {
			return digestScanArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "events.digest-scan", RunOnStart: true}),
	}
}

// periodSchedule fires at the start of each digest period.
type periodSchedule struct{ s *Service }

func (p periodSchedule) Next(t time.Time) time.Time {
	return p.s.DigestPeriod(t).Add(p.s.cfg.Notify.DigestInterval)
}

// recipientUnread is true for a message m of conversation c that is
// unread news for participant p: someone else's, not a notice, not
// deleted; in a one-to-one conversation also unread (is_read, which the
// other side's read sets) and from the other side (a colleague's message
// is not news to staff; a guest speaks as the customer).
const recipientUnread = `m.sender_id <> p.user_id AND m.sender_type <> 'system' AND m.message_type <> 'system' AND NOT m.is_deleted
	AND (c.conversation_type IN ('group', 'direct')
		OR (NOT m.is_read AND m.sender_type <> CASE p.role WHEN 'guest' THEN 'customer' ELSE p.role END))`

// recipientJoins join a participant p's settings (s), claimed address
// (ue), account (u) and activity (a).
const recipientJoins = `LEFT JOIN notification_settings s ON s.user_id = p.user_id
	LEFT JOIN user_emails ue ON ue.user_id = p.user_id
	LEFT JOIN users u ON u.id = p.user_id
	LEFT JOIN user_activity a ON a.user_id = p.user_id`

// recipientAddress is a participant's address (null: none).
const recipientAddress = `coalesce(nullif(s.email, ''), ue.email, nullif(u.email, ''))`

// offlineScanSQL finds the participants to mail now ($1 the lookback's
// start, $2 the offline horizon, $3 now): mode immediate with an
// address, offline (not seen since $2, no open session), not in a quiet
// period (never mailed, or read or came back since), with unread news
// newer than what they read and were mailed about. It locks their rows:
// a concurrent scan skips them.
const offlineScanSQL = `SELECT p.conversation_id, p.user_id, greatest(p.last_read_at, p.notified_at)
	FROM conversations c
	JOIN conversation_participants p ON p.conversation_id = c.id
	` + recipientJoins + `
	WHERE c.last_message_at > $1 AND NOT c.is_blocked
		AND coalesce(s.mode, 'immediate') = 'immediate' AND ` + recipientAddress + ` IS NOT NULL
		AND (a.user_id IS NULL OR (a.last_seen_at < $2 AND a.online_until < $3))
		AND (p.notified_at IS NULL OR p.notified_at < p.last_read_at OR p.notified_at < a.last_seen_at)
		AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at > $1
			AND m.created_at > coalesce(greatest(p.last_read_at, p.notified_at), '-infinity') AND ` + recipientUnread + `)
	FOR UPDATE OF p SKIP LOCKED`

// emailID is a mail's id (its Message-ID's left part): a function of its
// kind, user, subject (conversation or period) and time.
func emailID(kind, user, about string, at time.Time) string {
	h := sha256.Sum256([]byte(kind + "\x00" + user + "\x00" + about + "\x00" + at.UTC().Format(time.RFC3339Nano)))
	return kind[:1] + hex.EncodeToString(h[:16])
}

// ScanOffline is one run of the offline scan: in one transaction, for
// every participant to mail (offlineScanSQL) it sets notified_at,
// records the mail and enqueues its job. It returns the mails decided.
// The periodic job calls it on the leader every ScanInterval.
func (s *Service) ScanOffline(ctx context.Context) (int, error) {
	n := s.cfg.Notify
	if n.Mailer == nil {
		return 0, nil
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.cfg.Pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("offline scan: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	rows, err := tx.Query(ctx, offlineScanSQL, now.Add(-n.Lookback), now.Add(-n.OfflineAfter), now)
	if err != nil {
		return 0, fmt.Errorf("offline scan: %w", err)
	}
	var convs, users, ids []string
	var sinces []*time.Time
	var conv, user string
	var since *time.Time
	if _, err := pgx.ForEachRow(rows, []any{&conv, &user, &since}, func() error {
		convs, users, sinces = append(convs, conv), append(users, user), append(sinces, since)
		ids = append(ids, emailID(kindMessage, user, conv, now))
		return nil
	}); err != nil {
		return 0, fmt.Errorf("offline scan: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `WITH marked AS (
			UPDATE conversation_participants p SET notified_at = $5
			FROM unnest($2::text[], $3::text[]) AS x (conv, usr) WHERE p.conversation_id = x.conv AND p.user_id = x.usr)
		INSERT INTO notification_emails (id, kind, user_id, conversation_ids, since, notified_at)
		SELECT x.id, 'message', x.usr, ARRAY[x.conv], x.since, $5
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS x (id, conv, usr, since)
		ON CONFLICT (id) DO NOTHING`, ids, convs, users, sinces, now); err != nil {
		return 0, fmt.Errorf("offline scan: record: %w", err)
	}
	if err := s.enqueueMail(ctx, tx, ids); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("offline scan: commit: %w", err)
	}
	s.metrics.mails.WithLabelValues(kindMessage, "decided").Add(float64(len(ids)))
	return len(ids), nil
}

// enqueueMail inserts the send jobs of mails ids in tx.
func (s *Service) enqueueMail(ctx context.Context, tx pgx.Tx, ids []string) error {
	if s.queue == nil {
		return errors.New("events: no job queue (SetQueue)")
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: mailArgs{EmailID: id}}
	}
	if _, err := s.queue.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	return nil
}

// offlineScanArgs is the periodic job of the offline scan.
type offlineScanArgs struct{}

func (offlineScanArgs) Kind() string { return "events.offline-scan" }

// InsertOpts: a failed scan is not retried; the next period's runs.
func (offlineScanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: 1}
}

type offlineScanWorker struct {
	river.WorkerDefaults[offlineScanArgs]
	s *Service
}

func (w *offlineScanWorker) Work(ctx context.Context, _ *river.Job[offlineScanArgs]) error {
	_, err := w.s.ScanOffline(ctx)
	return err
}

// mailArgs is the job of one notification mail.
type mailArgs struct {
	EmailID string `json:"emailId"`
}

func (mailArgs) Kind() string { return "events.mail" }

// InsertOpts: enough attempts for a long SMTP outage (with the default
// backoff, more than two days); one job per mail.
func (mailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: 120, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// mailWorker sends a mail. In one transaction it locks the mail's row,
// checks it is still pending and still wanted (the user's mode, unread
// news), sends it and marks it sent: a mail that failed to send stays
// pending for the retry; one sent is never sent again by a later run,
// but for a crash between the send and the commit (the retry sends the
// same Message-ID).
type mailWorker struct {
	river.WorkerDefaults[mailArgs]
	s *Service
}

func (w *mailWorker) Timeout(*river.Job[mailArgs]) time.Duration {
	return w.s.cfg.Notify.SendTimeout + 10*time.Second
}

func (w *mailWorker) NextRetry(job *river.Job[mailArgs]) time.Time {
	n := w.s.cfg.Notify
	d := n.RetryBase << min(max(job.Attempt-1, 0), 30)
	if d <= 0 || d > n.RetryMax {
		d = n.RetryMax
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d", job.ID, job.Attempt)
	return time.Now().Add(time.Duration(float64(d) * (0.75 + float64(h.Sum64()%500)/1000)))
}

// email is a notification_emails row with its recipient's state.
type email struct {
	id, kind, user, status string
	convs                  []string
	since                  *time.Time
	notifiedAt             time.Time
	mode                   string
	address                *string
}

func (w *mailWorker) Work(ctx context.Context, job *river.Job[mailArgs]) error {
	s := w.s
	tx, err := s.cfg.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	var e email
	err = tx.QueryRow(ctx, `SELECT e.id, e.kind, e.user_id, e.status, e.conversation_ids, e.since, e.notified_at,
			coalesce(s.mode, 'immediate'), `+recipientAddress+`
		FROM notification_emails e
		LEFT JOIN notification_settings s ON s.user_id = e.user_id
		LEFT JOIN user_emails ue ON ue.user_id = e.user_id
		LEFT JOIN users u ON u.id = e.user_id
		WHERE e.id = $1 FOR UPDATE OF e`, job.Args.EmailID).
		Scan(&e.id, &e.kind, &e.user, &e.status, &e.convs, &e.since, &e.notifiedAt, &e.mode, &e.address)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("send mail: %w", err)
	case e.status != "pending":
		return nil // a rescued run of a job that finished
	}
	var m *Mail
	why := ""
	switch {
	case s.cfg.Notify.Mailer == nil:
		why = "email is off"
	case e.address == nil:
		why = "no address"
	case e.kind == kindMessage && e.mode != ModeImmediate, e.kind == kindDigest && e.mode != ModeDigest:
		why = "mode " + e.mode
	default:
		m, err = s.compose(ctx, tx, e)
		if err != nil {
			return err
		}
		if m == nil {
			why = "read meanwhile"
		}
	}
	if m == nil {
		s.metrics.mails.WithLabelValues(e.kind, "skipped").Inc()
		if _, err := tx.Exec(ctx, `UPDATE notification_emails SET status = 'skipped', last_error = $2 WHERE id = $1`, e.id, why); err != nil {
			return fmt.Errorf("send mail: %w", err)
		}
		return tx.Commit(ctx)
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.Notify.SendTimeout)
	serr := s.cfg.Notify.Mailer.Send(sctx, m)
	cancel()
	if serr != nil {
		tx.Rollback(ctx) //nolint:errcheck // the row only stays pending
		s.metrics.mails.WithLabelValues(e.kind, "failed").Inc()
		if _, err := s.cfg.Pool.Exec(ctx, `UPDATE notification_emails SET attempts = attempts + 1, last_error = $2 WHERE id = $1`,
			e.id, serr.Error()); err != nil {
			s.log.Warn("record a failed mail", slog.String(logMail, e.id), slog.Any(logError, err))
		}
		return fmt.Errorf("send mail %s: %w", e.id, serr)
	}
	if _, err := tx.Exec(ctx, `UPDATE notification_emails SET status = 'sent', sent_at = now(), attempts = attempts + 1, last_error = NULL
		WHERE id = $1`, e.id); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("send mail: commit: %w", err)
	}
	s.metrics.mails.WithLabelValues(e.kind, "sent").Inc()
	return nil
}

// unreadLine is one message of a mail.
type unreadLine struct {
	sender, content, kind string
	at                    time.Time
}

func (l unreadLine) text() string {
	c := strings.TrimSpace(l.content)
	if c == "" {
		c = "[" + l.kind + "]"
	}
	if r := []rune(c); len(r) > 500 {
		c = string(r[:500]) + "…"
	}
	return c
}

// maxMailMessages bounds the messages one offline mail quotes.
const maxMailMessages = 10

// compose builds e's mail, or nil when nothing is unread any more.
func (s *Service) compose(ctx context.Context, tx pgx.Tx, e email) (*Mail, error) {
	if e.kind == kindDigest {
		return s.composeDigest(ctx, tx, e)
	}
	conv := e.convs[0]
	rows, err := tx.Query(ctx, `SELECT coalesce(nullif(su.name, ''), m.sender_id), m.content, m.message_type, m.created_at
		FROM messages m
		JOIN conversations c ON c.id = m.conversation_id
		JOIN conversation_participants p ON p.conversation_id = m.conversation_id AND p.user_id = $2
		LEFT JOIN users su ON su.id = m.sender_id
		WHERE m.conversation_id = $1 AND m.created_at > coalesce(greatest($3::timestamptz, p.last_read_at), '-infinity')
			AND `+recipientUnread+`
		ORDER BY m.created_at DESC, m.id DESC LIMIT $4`, conv, e.user, e.since, maxMailMessages+1)
	if err != nil {
		return nil, fmt.Errorf("compose mail: %w", err)
	}
	var lines []unreadLine
	var l unreadLine
	if _, err := pgx.ForEachRow(rows, []any{&l.sender, &l.content, &l.kind, &l.at}, func() error {
		lines = append(lines, l)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("compose mail: %w", err)
	}
	if len(lines) == 0 {
		return nil, nil
	}
	more := len(lines) > maxMailMessages
	if more {
		lines = lines[:maxMailMessages]
	}
	subject := "New message from " + lines[0].sender
	if len(lines) > 1 {
		n := fmt.Sprint(len(lines))
		if more {
			n = fmt.Sprintf("%d+", maxMailMessages)
		}
		subject = n + " new messages from " + lines[0].sender
	}
	var b strings.Builder
	b.WriteString("You have unread messages on Parley:\n\n")
	for i := len(lines) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "%s, %s:\n", lines[i].sender, lines[i].at.UTC().Format("2 Jan 15:04 MST"))
		for _, line := range strings.Split(lines[i].text(), "\n") {
			b.WriteString("  " + line + "\n")
		}
		b.WriteString("\n")
	}
	if more {
		b.WriteString("… and earlier ones.\n\n")
	}
	fmt.Fprintf(&b, "Open the conversation: %s\n", s.ThreadURL(conv))
	s.footer(&b, e.user, "You get this mail because a message arrived while you were away. You get no other about this conversation until you read it or come back.")
	return s.mail(e, subject, b.String()), nil
}

// footer ends a mail's body with why it was sent and how to stop it.
func (s *Service) footer(b *strings.Builder, user, why string) {
	fmt.Fprintf(b, "\n-- \n%s\nUnsubscribe: %s\n", why, s.UnsubscribeURL(user))
}

// mail is e's Mail with subject and text.
func (s *Service) mail(e email, subject, text string) *Mail {
	domain := "parley.localhost"
	if a, err := mail.ParseAddress(s.cfg.Notify.From); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok && d != "" {
			domain = d
		}
	}
	return &Mail{From: s.cfg.Notify.From, To: *e.address, Subject: subject, MessageID: "parley." + e.id + "@" + domain,
		Date: e.notifiedAt, Unsubscribe: s.UnsubscribeURL(e.user), Text: text}
}
