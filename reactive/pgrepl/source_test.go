package pgrepl_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/reactive"
	"github.com/parley-chat/parley/reactive/pgrepl"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	publication = "parley_test"
	waitTimeout = 30 * time.Second
)

// recordingSink records everything the source tells it. Applied returns what
// the test sets. It is safe for concurrent use.
type recordingSink struct {
	mu       sync.Mutex
	commits  []reactive.Commit
	resets   []reactive.LSN
	resumes  []reactive.LSN
	stopped  int          // Interrupted calls
	progress reactive.LSN // highest Progress
	applied  reactive.LSN
	wanted   chan struct{}
}

func newSink() *recordingSink { return &recordingSink{wanted: make(chan struct{}, 1)} }

func (s *recordingSink) Commit(ctx context.Context, c reactive.Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits = append(s.commits, c)
	return nil
}

func (s *recordingSink) Progress(lsn reactive.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progress = max(s.progress, lsn)
}

func (s *recordingSink) Reset(lsn reactive.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resets = append(s.resets, lsn)
}

func (s *recordingSink) Resume(lsn reactive.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumes = append(s.resumes, lsn)
}

func (s *recordingSink) Interrupted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped++
}

func (s *recordingSink) Applied() reactive.LSN {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

func (s *recordingSink) ProgressWanted() <-chan struct{} { return s.wanted }

func (s *recordingSink) setApplied(lsn reactive.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = lsn
}

func (s *recordingSink) wantProgress() {
	select {
	case s.wanted <- struct{}{}:
	default:
	}
}

func (s *recordingSink) snapshot() (commits []reactive.Commit, resets []reactive.LSN, progress reactive.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]reactive.Commit(nil), s.commits...), append([]reactive.LSN(nil), s.resets...), s.progress
}

// waitCommit waits for a delivered commit with XID xid.
func (s *recordingSink) waitCommit(t *testing.T, xid uint32) reactive.Commit {
	t.Helper()
	var found reactive.Commit
	pgtest.Eventually(t, waitTimeout, func() error {
		commits, _, _ := s.snapshot()
		for _, c := range commits {
			if c.XID == xid {
				found = c
				return nil
			}
		}
		return fmt.Errorf("no commit with xid %d among %d", xid, len(commits))
	})
	return found
}

// fixture is a database with a publication over two REPLICA IDENTITY FULL
// tables, and a SQL connection to it.
type fixture struct {
	url  string
	conn *pgx.Conn
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dbURL := pgtest.NewDB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	for _, q := range []string{
		`CREATE TABLE items (id int PRIMARY KEY, tag text, n int, body text)`,
		`ALTER TABLE items REPLICA IDENTITY FULL`,
		`CREATE TABLE other (id int PRIMARY KEY, note text)`,
		`ALTER TABLE other REPLICA IDENTITY FULL`,
		`CREATE PUBLICATION ` + publication + ` FOR TABLE items, other`,
	} {
		_, err := conn.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	return &fixture{url: dbURL, conn: conn}
}

// tx runs statements in one transaction and returns its xid.
func (f *fixture) tx(t *testing.T, stmts ...string) uint32 {
	t.Helper()
	ctx := context.Background()
	tx, err := f.conn.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	var xid int64
	require.NoError(t, tx.QueryRow(ctx, `SELECT txid_current() % 4294967296`).Scan(&xid))
	for _, q := range stmts {
		_, err := tx.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, tx.Commit(ctx))
	return uint32(xid)
}

func (f *fixture) lsn(t *testing.T, query string, args ...any) reactive.LSN {
	t.Helper()
	var s *string
	require.NoError(t, f.conn.QueryRow(context.Background(), query, args...).Scan(&s))
	if s == nil {
		return 0
	}
	l, err := pglogrepl.ParseLSN(*s)
	require.NoError(t, err)
	return reactive.LSN(l)
}

// withOptions returns dbURL with server options (-c name=value) added.
func withOptions(t *testing.T, dbURL, options string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set("options", options)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgconn does not read + as a space
	return u.String()
}

// start runs a source until the test ends and checks that Run returns nil
// and the temporary slot goes away with it.
func start(t *testing.T, f *fixture, cfg pgrepl.Config, sink *recordingSink) *pgrepl.Source {
	t.Helper()
	if cfg.ConnString == "" {
		cfg.ConnString = f.url
	}
	cfg.Publication = publication
	cfg.Logger = testLogger(t)
	src, err := pgrepl.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(waitTimeout):
			t.Fatal("Run did not return after cancel")
		}
		slot := src.Status().Slot
		pgtest.Eventually(t, waitTimeout, func() error {
			var n int
			if err := f.conn.QueryRow(context.Background(),
				`SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n); err != nil {
				return err
			}
			if n != 0 {
				return fmt.Errorf("slot %s still exists", slot)
			}
			return nil
		})
	})
	pgtest.Eventually(t, waitTimeout, func() error {
		if _, resets, _ := sink.snapshot(); len(resets) == 0 {
			return errors.New("no Reset yet")
		}
		if !src.Status().Connected {
			return errors.New("not connected")
		}
		return nil
	})
	return src
}

// testLogger logs through t. Run returns before the test ends, so nothing
// logs after it.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func column(t *testing.T, cols []reactive.Column, name string) reactive.Column {
	t.Helper()
	for _, c := range cols {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no column %q in %v", name, cols)
	return reactive.Column{}
}

func TestRowChanges(t *testing.T) {
	f := newFixture(t)
	sink := newSink()
	start(t, f, pgrepl.Config{}, sink)

	xid := f.tx(t,
		`INSERT INTO items (id, tag, n) VALUES (1, 'a', 10)`,
		`UPDATE items SET n = 11 WHERE id = 1`,
		`INSERT INTO other (id, note) VALUES (7, 'x')`,
		`DELETE FROM items WHERE id = 1`,
	)
	c := sink.waitCommit(t, xid)
	require.Greater(t, c.EndLSN, c.LSN)
	require.Empty(t, c.Overflow)
	row := func(id, tag, n string) []reactive.Column {
		return []reactive.Column{{Name: "id", Value: id}, {Name: "tag", Value: tag}, {Name: "n", Value: n}, {Name: "body", Null: true}}
	}
	require.Equal(t, []reactive.Change{
		{Table: "items", Op: reactive.OpInsert, New: row("1", "a", "10")},
		{Table: "items", Op: reactive.OpUpdate, Old: row("1", "a", "10"), New: row("1", "a", "11")},
		{Table: "other", Op: reactive.OpInsert, New: []reactive.Column{{Name: "id", Value: "7"}, {Name: "note", Value: "x"}}},
		{Table: "items", Op: reactive.OpDelete, Old: row("1", "a", "11")},
	}, c.Changes)

	xid = f.tx(t, `TRUNCATE other`)
	c = sink.waitCommit(t, xid)
	require.Equal(t, []string{"other"}, c.Overflow)
	require.Empty(t, c.Changes)
}

func TestUnchangedToastFromOldTuple(t *testing.T) {
	f := newFixture(t)
	sink := newSink()
	start(t, f, pgrepl.Config{}, sink)

	// ~100 kB of hex: far above the TOAST threshold even when compressed.
	f.tx(t, `INSERT INTO items (id, tag, n, body)
		SELECT 1, 'big', 1, string_agg(md5(random()::text), '') FROM generate_series(1, 3000)`)
	var body string
	var stored int
	require.NoError(t, f.conn.QueryRow(context.Background(),
		`SELECT body, pg_column_size(body) FROM items WHERE id = 1`).Scan(&body, &stored))
	require.Greater(t, stored, 2100, "body must be stored out of line (TOAST)")

	xid := f.tx(t, `UPDATE items SET n = 2 WHERE id = 1`)
	c := sink.waitCommit(t, xid)
	require.Empty(t, c.Overflow)
	require.Len(t, c.Changes, 1)
	ch := c.Changes[0]
	require.Equal(t, reactive.OpUpdate, ch.Op)
	require.Equal(t, "1", column(t, ch.Old, "n").Value)
	require.Equal(t, "2", column(t, ch.New, "n").Value)
	require.Equal(t, body, column(t, ch.Old, "body").Value)
	require.Equal(t, body, column(t, ch.New, "body").Value, "unchanged TOAST value must come from the old tuple")
}

func TestStreamedTransactions(t *testing.T) {
	f := newFixture(t)
	sink := newSink()
	// A tiny logical_decoding_work_mem on the replication connection makes
	// the server stream every transaction bigger than 64 kB.
	src := start(t, f, pgrepl.Config{
		ConnString:   withOptions(t, f.url, "-c logical_decoding_work_mem=64kB"),
		MaxTxChanges: 1500,
	}, sink)

	streamed := func() int64 {
		var n int64
		err := f.conn.QueryRow(context.Background(),
			`SELECT coalesce(sum(stream_txns), 0) FROM pg_stat_replication_slots WHERE slot_name = $1`,
			src.Status().Slot).Scan(&n)
		require.NoError(t, err)
		return n
	}
	rows := func(from, to int, tag string) string {
		return fmt.Sprintf(`INSERT INTO items (id, tag, n, body)
			SELECT i, '%s', i, repeat('x', 100) FROM generate_series(%d, %d) i`, tag, from, to)
	}
	tags := func(c reactive.Commit) map[string]int {
		m := map[string]int{}
		for _, ch := range c.Changes {
			if ch.Table == "items" {
				m[column(t, ch.New, "tag").Value]++
			}
		}
		return m
	}

	t.Run("committed", func(t *testing.T) {
		before := streamed()
		xid := f.tx(t, rows(1, 1000, "whole"), `INSERT INTO other VALUES (1, 'with whole')`)
		c := sink.waitCommit(t, xid)
		require.Empty(t, c.Overflow)
		require.Equal(t, map[string]int{"whole": 1000}, tags(c))
		require.Len(t, c.Changes, 1001)
		pgtest.Eventually(t, waitTimeout, func() error {
			if streamed() <= before {
				return errors.New("transaction was not streamed")
			}
			return nil
		})
	})

	t.Run("over the cap", func(t *testing.T) {
		xid := f.tx(t, rows(2001, 4000, "capped"), `INSERT INTO other VALUES (2, 'with capped')`)
		c := sink.waitCommit(t, xid)
		require.Equal(t, []string{"items"}, c.Overflow)
		require.Len(t, c.Changes, 1)
		require.Equal(t, "other", c.Changes[0].Table)
	})

	t.Run("aborted", func(t *testing.T) {
		ctx := context.Background()
		tx, err := f.conn.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		var aborted int64
		require.NoError(t, tx.QueryRow(ctx, `SELECT txid_current() % 4294967296`).Scan(&aborted))
		began := f.lsn(t, `SELECT pg_current_wal_lsn()::text`)
		_, err = tx.Exec(ctx, rows(5001, 7000, "aborted"))
		require.NoError(t, err)
		// Wait until the server has streamed some of it: nothing else
		// writes, so data past began is this transaction's.
		pgtest.Eventually(t, waitTimeout, func() error {
			if got := src.Status().ReceivedLSN; got <= began {
				return fmt.Errorf("received up to %s, transaction began at %s", got, began)
			}
			return nil
		})
		require.NoError(t, tx.Rollback(ctx))

		marker := f.tx(t, `INSERT INTO other VALUES (3, 'after abort')`)
		sink.waitCommit(t, marker)
		commits, _, _ := sink.snapshot()
		for _, c := range commits {
			require.NotEqual(t, uint32(aborted), c.XID, "aborted transaction delivered")
			require.Zero(t, tags(c)["aborted"])
		}
	})

	t.Run("subtransaction rolled back", func(t *testing.T) {
		ctx := context.Background()
		tx, err := f.conn.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		var xid int64
		require.NoError(t, tx.QueryRow(ctx, `SELECT txid_current() % 4294967296`).Scan(&xid))
		_, err = tx.Exec(ctx, rows(8001, 8600, "keep"))
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `SAVEPOINT s`)
		require.NoError(t, err)
		began := f.lsn(t, `SELECT pg_current_wal_lsn()::text`)
		_, err = tx.Exec(ctx, rows(9001, 9600, "drop"))
		require.NoError(t, err)
		// The subtransaction's rows must have been streamed before it
		// rolls back, or there is nothing to drop.
		pgtest.Eventually(t, waitTimeout, func() error {
			if got := src.Status().ReceivedLSN; got <= began {
				return fmt.Errorf("received up to %s, subtransaction began at %s", got, began)
			}
			return nil
		})
		for _, q := range []string{`ROLLBACK TO SAVEPOINT s`, rows(10001, 10001, "after")} {
			_, err = tx.Exec(ctx, q)
			require.NoError(t, err)
		}
		require.NoError(t, tx.Commit(ctx))

		c := sink.waitCommit(t, uint32(xid))
		require.Empty(t, c.Overflow)
		require.Equal(t, map[string]int{"keep": 600, "after": 1}, tags(c))
	})
}

func TestReconnectAfterTerminate(t *testing.T) {
	f := newFixture(t)
	sink := newSink()
	src := start(t, f, pgrepl.Config{ReconnectBackoff: 10 * time.Millisecond}, sink)

	first := f.tx(t, `INSERT INTO other VALUES (1, 'before')`)
	sink.waitCommit(t, first)

	slot := src.Status().Slot
	var killed bool
	require.NoError(t, f.conn.QueryRow(context.Background(),
		`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&killed))
	require.True(t, killed)

	pgtest.Eventually(t, waitTimeout, func() error {
		st := src.Status()
		if _, resets, _ := sink.snapshot(); len(resets) < 2 {
			return fmt.Errorf("%d resets", len(resets))
		}
		if !st.Connected || st.Slot == slot || st.Reconnects < 1 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	_, resets, _ := sink.snapshot()
	require.GreaterOrEqual(t, resets[1], resets[0])

	second := f.tx(t, `INSERT INTO other VALUES (2, 'after')`)
	c := sink.waitCommit(t, second)
	require.Equal(t, "after", column(t, c.Changes[0].New, "note").Value)
}

func TestProgressWanted(t *testing.T) {
	f := newFixture(t)
	sink := newSink()
	// No periodic status updates during the test: only the request can
	// bring a keepalive.
	src := start(t, f, pgrepl.Config{StandbyInterval: time.Hour}, sink)

	xid := f.tx(t, `INSERT INTO other VALUES (1, 'x')`)
	c := sink.waitCommit(t, xid)
	ts := f.lsn(t, `SELECT pg_current_wal_lsn()::text`)
	require.GreaterOrEqual(t, ts, c.EndLSN)

	// reply_time is the client time of the last status update the server
	// received: none so far, with a one-hour interval.
	replied := func() bool {
		var ok bool
		require.NoError(t, f.conn.QueryRow(context.Background(), `
			SELECT r.reply_time IS NOT NULL FROM pg_stat_replication r
			JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1`,
			src.Status().Slot).Scan(&ok))
		return ok
	}
	require.False(t, replied())

	sink.wantProgress()
	pgtest.Eventually(t, waitTimeout, func() error {
		if !replied() {
			return errors.New("no status update sent")
		}
		if _, _, p := sink.snapshot(); p < ts {
			return fmt.Errorf("progress %s < %s", p, ts)
		}
		return nil
	})
}

func TestStandbyStatusReportsApplied(t *testing.T) {
	f := newFixture(t)
	sink := newSink()
	src := start(t, f, pgrepl.Config{StandbyInterval: 20 * time.Millisecond}, sink)

	confirmed := func() reactive.LSN {
		return f.lsn(t, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, src.Status().Slot)
	}
	startLSN := confirmed()

	c1 := sink.waitCommit(t, f.tx(t, `INSERT INTO other VALUES (1, 'one')`))
	c2 := sink.waitCommit(t, f.tx(t, `INSERT INTO other VALUES (2, 'two')`))

	// Nothing applied: the slot stays where it started although both
	// commits were received.
	require.Equal(t, startLSN, confirmed())

	sink.setApplied(c1.EndLSN)
	pgtest.Eventually(t, waitTimeout, func() error {
		if got := confirmed(); got != c1.EndLSN {
			return fmt.Errorf("confirmed_flush_lsn %s, want %s", got, c1.EndLSN)
		}
		return nil
	})

	// Applied beyond anything delivered is clamped to what this connection
	// delivered: the last commit's end or the last progress.
	sink.setApplied(c2.EndLSN + 1<<30)
	pgtest.Eventually(t, waitTimeout, func() error {
		got := confirmed()
		_, _, progress := sink.snapshot()
		if got > max(c2.EndLSN, progress) {
			t.Fatalf("confirmed_flush_lsn %s beyond everything delivered (%s, %s)", got, c2.EndLSN, progress)
		}
		if got < c2.EndLSN {
			return fmt.Errorf("confirmed_flush_lsn %s, want at least %s", got, c2.EndLSN)
		}
		return nil
	})
}

func TestRunMisconfigured(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	role := fmt.Sprintf("norepl_%d", time.Now().UnixNano())
	_, err := f.conn.Exec(ctx, `CREATE ROLE `+role+` LOGIN NOREPLICATION`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = f.conn.Exec(context.Background(), `DROP ROLE `+role) })
	u, err := url.Parse(f.url)
	require.NoError(t, err)
	u.User = url.User(role)

	tests := []struct {
		name        string
		connString  string
		publication string
		want        error
	}{
		{name: "publication missing", connString: f.url, publication: "nope", want: pgrepl.ErrNoPublication},
		{name: "no replication privilege", connString: u.String(), publication: publication, want: pgrepl.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := pgrepl.New(pgrepl.Config{ConnString: tt.connString, Publication: tt.publication})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			err = src.Run(ctx, newSink())
			require.ErrorIs(t, err, tt.want)
			require.NoError(t, ctx.Err(), "Run retried instead of failing")
		})
	}
}

func TestRunReturnsNilOnCancel(t *testing.T) {
	// Unreachable server: Run keeps retrying until the context ends.
	src, err := pgrepl.New(pgrepl.Config{
		ConnString:  "postgres://nobody@127.0.0.1:1/none?connect_timeout=1",
		Publication: "p",
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	require.NoError(t, src.Run(ctx, newSink()))
	require.False(t, src.Status().Connected)
	require.Positive(t, src.Status().Reconnects)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     pgrepl.Config
		wantErr string
	}{
		{name: "ok", cfg: pgrepl.Config{ConnString: "postgres://u@localhost/db", Publication: "p"}},
		{name: "no conn string", cfg: pgrepl.Config{Publication: "p"}, wantErr: "ConnString"},
		{name: "no publication", cfg: pgrepl.Config{ConnString: "postgres://u@localhost/db"}, wantErr: "Publication"},
		{name: "bad prefix", cfg: pgrepl.Config{ConnString: "postgres://u@localhost/db", Publication: "p", SlotPrefix: "Bad-Prefix"}, wantErr: "SlotPrefix"},
		{name: "long prefix", cfg: pgrepl.Config{ConnString: "postgres://u@localhost/db", Publication: "p", SlotPrefix: strings.Repeat("a", 60)}, wantErr: "SlotPrefix"},
		{name: "negative", cfg: pgrepl.Config{ConnString: "postgres://u@localhost/db", Publication: "p", MaxTxChanges: -1}, wantErr: "negative"},
		{name: "bad conn string", cfg: pgrepl.Config{ConnString: "postgres://u@localhost:notaport/db", Publication: "p"}, wantErr: "ConnString"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := pgrepl.New(tt.cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, reactive.SourceStatus{}, src.Status())
		})
	}
}
