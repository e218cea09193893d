// Package activity keeps user_activity: when each user was last active
// and whether an open session vouches that they are online. The engine
// reports sessions taking and leaving an identity (Open, Close) and every
// authenticated call (Seen); a Tracker turns that into at most one write
// per user per Interval, all of a moment's writes batched into one
// statement, so that neither heartbeats nor busy users cost a row write
// each. getParticipants (package chat) reads the table.
//
// A user is online while online_until is in the future. A node moves it
// OnlineTTL ahead when a user's first session opens there and every
// Interval while one stays open, and to now when their last session there
// closes. A node that dies stops vouching: its users go offline at most
// OnlineTTL later. Two nodes vouching for one user can disagree for up to
// an Interval (the one whose last session closed says offline until the
// other's next refresh); the cluster's presence transport replaces this.
//
// # Concurrency model
//
// A Tracker is safe for concurrent use: Open, Close and Seen take its
// mutex briefly and never wait for the database; Run (one goroutine)
// writes what they noted.
package activity

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/functions"
)

// Defaults.
const (
	// DefaultInterval is the least time between two writes of one user's
	// activity, but for going online and offline.
	DefaultInterval = 30 * time.Second
	// DefaultFlush is how often noted activity is written.
	DefaultFlush = time.Second
)

// Config configures a Tracker.
type Config struct {
	Pool *pgxpool.Pool // required
	// Interval is the least time between two writes of one user's
	// activity; open sessions are refreshed this often. Zero means
	// DefaultInterval.
	Interval time.Duration
	// Flush is how often noted activity is written. Zero means
	// DefaultFlush.
	Flush  time.Duration
	Logger *slog.Logger // nil: discard
	Now    func() time.Time
}

// OnlineTTL is how far ahead of its last refresh an open session vouches
// for its user: long enough that one late refresh does not show them
// offline.
func (c Config) OnlineTTL() time.Duration { return c.Interval * 5 / 2 }

// Tracker notes activity and writes it (see the package documentation).
type Tracker struct {
	cfg Config

	mu    sync.Mutex
	users map[string]*user
}

type user struct {
	open    int       // this node's sessions with the user's identity
	written time.Time // when the last write for the user began (zero: never)
	pending bool      // something to write
	email   string    // the latest email claim seen ("" none)
	emailed string    // the email claim last written
}

// New returns a Tracker; Run writes what it notes.
func New(cfg Config) *Tracker {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Flush <= 0 {
		cfg.Flush = DefaultFlush
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tracker{cfg: cfg, users: map[string]*user{}}
}

func (t *Tracker) get(id *functions.Identity) *user {
	u := t.users[id.Subject]
	if u == nil {
		u = &user{}
		t.users[id.Subject] = u
	}
	return u
}

// Open notes that a session took identity id: its user is online from
// the next write.
func (t *Tracker) Open(id *functions.Identity) {
	if id == nil {
		return
	}
	t.mu.Lock()
	u := t.get(id)
	u.open++
	if u.open == 1 {
		u.pending = true
	}
	u.noteEmail(id.Email)
	t.mu.Unlock()
}

// Close notes that a session left identity id (it closed, or took
// another): with its user's last session here gone, the next write says
// offline.
func (t *Tracker) Close(id *functions.Identity) {
	if id == nil {
		return
	}
	t.mu.Lock()
	if u := t.users[id.Subject]; u != nil && u.open > 0 {
		u.open--
		if u.open == 0 {
			u.pending = true
		}
	}
	t.mu.Unlock()
}

// Seen notes a call by id: written unless the user's activity was written
// less than an Interval ago.
func (t *Tracker) Seen(id *functions.Identity) {
	if id == nil {
		return
	}
	now := t.cfg.Now()
	t.mu.Lock()
	if u := t.get(id); now.Sub(u.written) >= t.cfg.Interval {
		u.pending = true
		u.noteEmail(id.Email)
	} else if id.Email != u.email {
		u.noteEmail(id.Email)
	}
	t.mu.Unlock()
}

// noteEmail notes the email claim of a call; one not yet written makes
// the user pending.
func (u *user) noteEmail(email string) {
	if email == "" {
		return
	}
	u.email = email
	if email != u.emailed {
		u.pending = true
	}
}

// batch is one write: the users' ids, each with its online_until, and
// the email claims not yet written.
type batch struct {
	ids    []string
	until  []time.Time
	at     time.Time
	mailed []string // users whose email claim is written
	emails []string // their addresses
}

// take collects what is due at now: the pending users, and the open ones
// not written for an Interval. It forgets users with nothing left to say.
func (t *Tracker) take(now time.Time) batch {
	b := batch{at: now}
	vouch := now.Add(t.cfg.OnlineTTL())
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, u := range t.users {
		if u.open > 0 && now.Sub(u.written) >= t.cfg.Interval {
			u.pending = true
		}
		if !u.pending {
			if u.open == 0 && now.Sub(u.written) >= t.cfg.Interval {
				delete(t.users, id) // Seen writes again when it comes back
			}
			continue
		}
		u.pending, u.written = false, now
		until := now
		if u.open > 0 {
			until = vouch
		}
		b.ids, b.until = append(b.ids, id), append(b.until, until)
		if u.email != "" && u.email != u.emailed {
			u.emailed = u.email
			b.mailed, b.emails = append(b.mailed, id), append(b.emails, u.email)
		}
	}
	return b
}

// putBack marks the users of a failed write pending again.
func (t *Tracker) putBack(b batch) {
	t.mu.Lock()
	for _, id := range b.ids {
		if u := t.users[id]; u != nil {
			u.pending = true
		}
	}
	for _, id := range b.mailed {
		if u := t.users[id]; u != nil {
			u.emailed = ""
		}
	}
	t.mu.Unlock()
}

// Flush writes what is due now, in one statement.
func (t *Tracker) Flush(ctx context.Context) error {
	b := t.take(t.cfg.Now().Truncate(time.Microsecond))
	if len(b.ids) == 0 {
		return nil
	}
	var err error
	if len(b.mailed) == 0 {
		_, err = t.cfg.Pool.Exec(ctx, activitySQL, b.ids, b.until, b.at)
	} else {
		_, err = t.cfg.Pool.Exec(ctx, `WITH emails AS (`+emailSQL+`) `+activitySQL, b.ids, b.until, b.at, b.mailed, b.emails)
	}
	if err != nil {
		t.putBack(b)
		return err
	}
	return nil
}

const activitySQL = `INSERT INTO user_activity (user_id, last_seen_at, online_until)
	SELECT id, $3, until FROM unnest($1::text[], $2::timestamptz[]) AS a (id, until)
	ON CONFLICT (user_id) DO UPDATE SET last_seen_at = greatest(user_activity.last_seen_at, excluded.last_seen_at),
		online_until = excluded.online_until`

// emailSQL upserts the email claims ($4, $5), writing no row whose
// address is unchanged.
const emailSQL = `INSERT INTO user_emails (user_id, email, updated_at)
	SELECT id, email, $3 FROM unnest($4::text[], $5::text[]) AS e (id, email)
	ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at
		WHERE user_emails.email <> excluded.email`

// Run writes noted activity every Flush until ctx ends, then once more
// (within a second) so that the users of sessions closed by a shutdown go
// offline at once.
func (t *Tracker) Run(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.Flush)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			if err := t.Flush(final); err != nil {
				t.cfg.Logger.Warn("activity: last write failed", slog.Any("error", err))
			}
			return nil
		case <-tick.C:
			if err := t.Flush(ctx); err != nil && ctx.Err() == nil {
				t.cfg.Logger.Warn("activity: write failed; retrying", slog.Any("error", err))
			}
		}
	}
}
