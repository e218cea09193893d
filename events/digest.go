package events

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley/internal/jobs"
)

// digestScanSQL finds the conversations of digest users with unread news
// since what they read and were last told of ($1 the lookback's start,
// $2 now), locking their participant rows.
const digestScanSQL = `SELECT p.user_id, p.conversation_id
	FROM conversations c
	JOIN conversation_participants p ON p.conversation_id = c.id
	` + recipientJoins + `
	WHERE c.last_message_at > $1
		AND s.mode = 'digest' AND ` + recipientAddress + ` IS NOT NULL
		AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at > $1 AND m.created_at <= $2
			AND m.created_at > coalesce(greatest(p.last_read_at, p.notified_at), '-infinity') AND ` + recipientUnread + `)
	ORDER BY p.user_id, c.last_message_at DESC
	FOR UPDATE OF p SKIP LOCKED`

// DigestPeriod is the start of the digest period holding t.
func (s *Service) DigestPeriod(t time.Time) time.Time {
	secs := int64(s.cfg.Notify.DigestInterval / time.Second)
	if secs <= 0 {
		secs = 1
	}
	u := t.Unix()
	return time.Unix(u-((u%secs)+secs)%secs, 0).UTC()
}

// ScanDigests is one digest run for the period holding at (the periodic
// job passes the current time): in one transaction, each digest user
// with conversations of unread news since their last mail gets a digest
// of that period, recorded (its id is its user and period, so a
// second run of the period, on this node or another, records nothing)
// with its job, and those conversations' notified_at set. It returns the
// digests decided. The periodic job calls it every DigestInterval.
func (s *Service) ScanDigests(ctx context.Context, at time.Time) (int, error) {
	n := s.cfg.Notify
	if n.Mailer == nil {
		return 0, nil
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	period := s.DigestPeriod(at)
	tx, err := s.cfg.Pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("digest run: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	rows, err := tx.Query(ctx, digestScanSQL, now.Add(-(n.Lookback + n.DigestInterval)), now)
	if err != nil {
		return 0, fmt.Errorf("digest run: %w", err)
	}
	type digest struct {
		user  string
		convs []string
	}
	var ds []digest
	var user, conv string
	if _, err := pgx.ForEachRow(rows, []any{&user, &conv}, func() error {
		if len(ds) == 0 || ds[len(ds)-1].user != user {
			ds = append(ds, digest{user: user})
		}
		ds[len(ds)-1].convs = append(ds[len(ds)-1].convs, conv)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("digest run: %w", err)
	}
	var ids []string
	for _, d := range ds {
		id := emailID(kindDigest, d.user, "", period)
		tag, err := tx.Exec(ctx, `INSERT INTO notification_emails (id, kind, user_id, conversation_ids, notified_at)
			VALUES ($1, 'digest', $2, $3, $4) ON CONFLICT (id) DO NOTHING`, id, d.user, d.convs, now)
		if err != nil {
			return 0, fmt.Errorf("digest run: record: %w", err)
		}
		if tag.RowsAffected() == 0 {
			continue // this period's digest was decided already
		}
		if _, err := tx.Exec(ctx, `UPDATE conversation_participants SET notified_at = $3
			WHERE user_id = $1 AND conversation_id = ANY ($2)`, d.user, d.convs, now); err != nil {
			return 0, fmt.Errorf("digest run: mark: %w", err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := s.enqueueMail(ctx, tx, ids); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("digest run: commit: %w", err)
	}
	s.metrics.mails.WithLabelValues(kindDigest, "decided").Add(float64(len(ids)))
	return len(ids), nil
}

// composeDigest builds a digest: each conversation with its unread count
// (what is unread at the digest's time) and latest unread message.
func (s *Service) composeDigest(ctx context.Context, tx pgx.Tx, e email) (*Mail, error) {
	rows, err := tx.Query(ctx, `SELECT c.id,
			coalesce(nullif(c.subject, ''), nullif(c.title, ''), CASE WHEN p.role IN ('customer', 'guest') THEN st.name END,
				nullif(cu.name, ''), 'Conversation'),
			count(*), (array_agg(coalesce(nullif(su.name, ''), m.sender_id) ORDER BY m.created_at DESC))[1],
			(array_agg(m.content ORDER BY m.created_at DESC))[1], (array_agg(m.message_type ORDER BY m.created_at DESC))[1]
		FROM conversations c
		JOIN conversation_participants p ON p.conversation_id = c.id AND p.user_id = $2
		JOIN messages m ON m.conversation_id = c.id
		LEFT JOIN stores st ON st.id = c.store_id
		LEFT JOIN users cu ON cu.id = c.customer_id
		LEFT JOIN users su ON su.id = m.sender_id
		WHERE c.id = ANY ($1) AND m.created_at <= $3 AND m.created_at > coalesce(p.last_read_at, '-infinity') AND `+recipientUnread+`
		GROUP BY c.id, c.subject, c.title, p.role, st.name, cu.name, c.last_message_at
		ORDER BY c.last_message_at DESC`, e.convs, e.user, e.notifiedAt)
	if err != nil {
		return nil, fmt.Errorf("compose digest: %w", err)
	}
	var b strings.Builder
	total, convs := 0, 0
	var id, label string
	var count int
	var l unreadLine
	if _, err := pgx.ForEachRow(rows, []any{&id, &label, &count, &l.sender, &l.content, &l.kind}, func() error {
		total, convs = total+count, convs+1
		unread := "1 unread message"
		if count > 1 {
			unread = fmt.Sprintf("%d unread messages", count)
		}
		fmt.Fprintf(&b, "%s: %s\n  latest, from %s: %s\n  %s\n\n", label, unread, l.sender,
			strings.ReplaceAll(l.text(), "\n", " "), s.ThreadURL(id))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("compose digest: %w", err)
	}
	if convs == 0 {
		return nil, nil
	}
	subject := fmt.Sprintf("Your Parley digest: %d unread messages in %d conversations", total, convs)
	if convs == 1 {
		subject = fmt.Sprintf("Your Parley digest: %d unread in 1 conversation", total)
	}
	body := "Unread since your last digest:\n\n" + b.String()
	var f strings.Builder
	s.footer(&f, e.user, "You get this digest because your notification mode is \"digest\".")
	return s.mail(e, subject, body+f.String()), nil
}

// digestScanArgs is the periodic job of the digest run.
type digestScanArgs struct{}

func (digestScanArgs) Kind() string { return "events.digest-scan" }

func (digestScanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: 3}
}

type digestScanWorker struct {
	river.WorkerDefaults[digestScanArgs]
	s *Service
}

func (w *digestScanWorker) Work(ctx context.Context, _ *river.Job[digestScanArgs]) error {
	_, err := w.s.ScanDigests(ctx, time.Now())
	return err
}
