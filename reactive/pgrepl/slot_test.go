package pgrepl_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/reactive/pgrepl"
)

// slotName is a permanent slot name no other test uses: slots are
// cluster-wide, and the test cluster is shared.
func slotName(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "parley_t_" + hex.EncodeToString(b[:])
}

// terminate ends the walsender streaming from slot and waits until src
// reports the stream down.
func terminate(t *testing.T, f *fixture, src *pgrepl.Source, sink *recordingSink, slot string) {
	t.Helper()
	_, _, _ = sink.snapshot()
	var killed bool
	require.NoError(t, f.conn.QueryRow(context.Background(),
		`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&killed))
	require.True(t, killed)
	pgtest.Eventually(t, waitTimeout, func() error {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if sink.stopped == 0 {
			return errors.New("no Interrupted yet")
		}
		return nil
	})
}

func (s *recordingSink) counts() (resets, resumes, stopped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.resets), len(s.resumes), s.stopped
}

func (s *recordingSink) commitsOf(xid uint32) int {
	commits, _, _ := s.snapshot()
	n := 0
	for _, c := range commits {
		if c.XID == xid {
			n++
		}
	}
	return n
}

// A commit made while replication is down reaches the sink after the
// reconnect, through the permanent slot, with no Reset: nothing needs
// re-running. With a temporary slot per connection that commit lies before
// the new slot's start and is never delivered.
func TestPermanentSlotDeliversTheGap(t *testing.T) {
	f := newFixture(t)
	sink := newSink()
	slot := slotName(t)
	// The backoff leaves the stream down long enough to commit in the gap;
	// the assertions do not depend on it.
	src := start(t, f, pgrepl.Config{Slot: slot, ReconnectBackoff: time.Second, StandbyInterval: 50 * time.Millisecond}, sink)
	require.Equal(t, slot, src.Status().Slot)

	before := f.tx(t, `INSERT INTO other VALUES (1, 'before')`)
	c := sink.waitCommit(t, before)
	sink.setApplied(c.EndLSN)
	// Let a standby status confirm it, so the server need not resend it.
	pgtest.Eventually(t, waitTimeout, func() error {
		if got := f.lsn(t, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot); got < c.EndLSN {
			return fmt.Errorf("confirmed %s, want %s", got, c.EndLSN)
		}
		return nil
	})

	terminate(t, f, src, sink, slot)
	gap := f.tx(t, `INSERT INTO other VALUES (2, 'in the gap')`)

	got := sink.waitCommit(t, gap)
	require.Equal(t, "in the gap", column(t, got.Changes[0].New, "note").Value)
	pgtest.Eventually(t, waitTimeout, func() error {
		if _, resumes, _ := sink.counts(); resumes == 0 {
			return errors.New("no Resume yet")
		}
		return nil
	})
	resets, resumes, _ := sink.counts()
	require.Equal(t, 1, resets, "only the first connection resets")
	require.Equal(t, 1, resumes)
	require.Equal(t, 1, sink.commitsOf(before), "a commit the engine applied is not delivered again")
	require.Equal(t, 1, sink.commitsOf(gap))
	st := src.Status()
	require.Equal(t, slot, st.Slot)
	require.EqualValues(t, 1, st.Resumes)

	after := f.tx(t, `INSERT INTO other VALUES (3, 'after')`)
	sink.waitCommit(t, after)
}

// A slot an earlier process left behind (it died) is dropped and made anew
// at the first connection, which is a Reset: the new engine knows nothing
// of the old one's position.
func TestPermanentSlotLeftBehindIsReplaced(t *testing.T) {
	f := newFixture(t)
	slot := slotName(t)
	_, err := f.conn.Exec(context.Background(), `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, slot)
	require.NoError(t, err)
	old := f.lsn(t, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot)
	// Traffic after the old slot's position that the new source must not
	// be handed: it starts afresh.
	stale := f.tx(t, `INSERT INTO other VALUES (1, 'while no server ran')`)

	sink := newSink()
	src := start(t, f, pgrepl.Config{Slot: slot}, sink)
	_, resets, _ := sink.snapshot()
	require.Len(t, resets, 1)
	require.Greater(t, resets[0], old)
	require.Equal(t, slot, src.Status().Slot)

	x := f.tx(t, `INSERT INTO other VALUES (2, 'now')`)
	sink.waitCommit(t, x)
	require.Zero(t, sink.commitsOf(stale))
}

// A slot dropped (or invalidated) while the stream was down is made anew:
// the gap is unknown, so the sink gets a Reset, not a Resume.
func TestPermanentSlotLostWhileDown(t *testing.T) {
	f := newFixture(t)
	sink := newSink()
	slot := slotName(t)
	src := start(t, f, pgrepl.Config{Slot: slot, ReconnectBackoff: 2 * time.Second}, sink)

	terminate(t, f, src, sink, slot)
	pgtest.Eventually(t, waitTimeout, func() error {
		_, err := f.conn.Exec(context.Background(), `SELECT pg_drop_replication_slot($1)`, slot)
		return err // the walsender may take a moment to let go of it
	})
	pgtest.Eventually(t, waitTimeout, func() error {
		if resets, _, _ := sink.counts(); resets < 2 {
			return fmt.Errorf("%d resets", resets)
		}
		if !src.Status().Connected {
			return errors.New("not connected")
		}
		return nil
	})
	_, resumes, _ := sink.counts()
	require.Zero(t, resumes)
	x := f.tx(t, `INSERT INTO other VALUES (1, 'after')`)
	sink.waitCommit(t, x)
}

// Two sources may not share a slot: the second waits, saying why, and
// takes the slot over once the first has stopped (and dropped it).
func TestPermanentSlotInUse(t *testing.T) {
	f := newFixture(t)
	slot := slotName(t)
	first := newSink()
	cfg := pgrepl.Config{ConnString: f.url, Publication: publication, Slot: slot,
		ReconnectBackoff: 50 * time.Millisecond, Logger: testLogger(t)}
	a, err := pgrepl.New(cfg)
	require.NoError(t, err)
	actx, stopA := context.WithCancel(context.Background())
	aDone := make(chan error, 1)
	go func() { aDone <- a.Run(actx, first) }()
	defer stopA()
	pgtest.Eventually(t, waitTimeout, func() error {
		if !a.Status().Connected {
			return errors.New("first not connected")
		}
		return nil
	})

	second := newSink()
	b, err := pgrepl.New(cfg)
	require.NoError(t, err)
	bctx, stopB := context.WithCancel(context.Background())
	bDone := make(chan error, 1)
	go func() { bDone <- b.Run(bctx, second) }()
	defer func() {
		stopB()
		require.NoError(t, <-bDone)
	}()
	// b tries, and is refused, several times over.
	pgtest.Eventually(t, waitTimeout, func() error {
		if st := b.Status(); st.Reconnects < 3 {
			return fmt.Errorf("second made %d attempts", st.Reconnects)
		}
		return nil
	})
	require.False(t, b.Status().Connected)
	resets, _, _ := second.counts()
	require.Zero(t, resets)
	require.True(t, a.Status().Connected, "the first keeps its slot")

	stopA()
	require.NoError(t, <-aDone)
	pgtest.Eventually(t, waitTimeout, func() error {
		if resets, _, _ := second.counts(); resets == 0 || !b.Status().Connected {
			return errors.New("second not streaming yet")
		}
		return nil
	})
	x := f.tx(t, `INSERT INTO other VALUES (1, 'to the second')`)
	second.waitCommit(t, x)
}
