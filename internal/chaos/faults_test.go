package chaos

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/syncclient"
)

func dialJohn(ctx context.Context, e *env) (*syncclient.Client, error) {
	return syncclient.Dial(ctx, e.url, syncclient.Options{Token: e.john})
}

// faults is the suite, in the order it runs.
func faults() []faultSpec {
	return []faultSpec{
		{name: "postgres immediate stop", health: true, inject: postgresImmediateStop},
		{name: "walsender terminated", health: true, inject: walsenderTerminated},
		// The receiver answers slowly so that deliveries are in flight
		// when the server dies: river's rescuer must run them again.
		{name: "server kill -9", health: true, inject: serverKill, hookDelay: 300 * time.Millisecond},
		{name: "link to postgres cut", health: true, inject: linkCut,
			opts: func(*testing.T) envOptions { return envOptions{link: true} }},
		{name: "commit reply lost past db-grace", health: true, inject: commitReplyLost,
			opts: func(*testing.T) envOptions {
				return envOptions{link: true, serverArgs: []string{"--db-grace", lostReplyGrace.String()}}
			}},
		{name: "media directory full", inject: mediaFull, opts: fullMediaDir, recovered: uploadsWork},
		{name: "clients stop reading", inject: stalledReaders},
		{name: "clients reconnect at once", herd: true, health: true, inject: serverRestart, writePause: 200 * time.Millisecond},
		{name: "idle connections held", inject: heldConnections, opts: heldConnectionsOpts},
		{name: "offline queue replayed", inject: offlineReplay, opts: replayOpts},
		{name: "malformed frames", inject: malformedFrames},
		{name: "sessions past the caps", inject: sessionCaps, opts: sessionCapsOpts},
		{name: "large pages at once", inject: largePages},
	}
}

// postgresImmediateStop is `pg_ctl stop -m immediate` (SIGQUIT to the
// postmaster: no checkpoint, crash recovery at the next start), down for
// f.pgDown, then a start on the same data directory and port.
func postgresImmediateStop(t *testing.T, e *env, f form, r *row) {
	if err := e.crashPostgres(); err != nil {
		t.Fatalf("stop Postgres: %v", err)
	}
	time.Sleep(f.pgDown)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.restartPostgres(ctx); err != nil {
		t.Fatalf("restart Postgres: %v", err)
	}
}

// walsenderTerminated terminates the server's walsender once a second,
// f.walKills times.
func walsenderTerminated(t *testing.T, e *env, f form, r *row) {
	killed := 0
	for range f.walKills {
		var n int
		if err := e.db.QueryRow(t.Context(), `SELECT count(*) FROM (
			SELECT pg_terminate_backend(pid) FROM pg_stat_replication) k`).Scan(&n); err != nil {
			t.Errorf("terminate walsender: %v", err)
		}
		killed += n
		time.Sleep(time.Second)
	}
	r.notes = append(r.notes, fmt.Sprintf("%d walsenders terminated", killed))
	if killed == 0 {
		r.problems = append(r.problems, "no walsender to terminate")
		t.Error("no walsender was ever running to terminate")
	}
}

// serverKill is kill -9 of the parley process, down for f.serverDown, then
// `parley serve` again on the same database and address.
func serverKill(t *testing.T, e *env, f form, r *row) {
	e.srv.kill()
	time.Sleep(f.serverDown)
	if err := e.srv.start(); err != nil {
		t.Fatalf("restart parley: %v", err)
	}
}

// linkCut cuts the server's TCP link to Postgres (every connection
// closed, new ones refused) for f.linkDown, then restores it.
func linkCut(t *testing.T, e *env, f form, r *row) {
	e.link.Cut()
	time.Sleep(f.linkDown)
	e.link.Restore()
}

// serverRestart stops the server (SIGINT, a graceful stop that closes
// every connection) and starts it again after f.serverDown: the herd of
// clients reconnects and resubscribes at once.
func serverRestart(t *testing.T, e *env, f form, r *row) {
	e.srv.stop()
	time.Sleep(f.serverDown)
	if err := e.srv.start(); err != nil {
		t.Fatalf("restart parley: %v", err)
	}
}

// lostReplyGrace is the server's --db-grace in the lost-reply fault; the
// link stays cut twice as long.
const lostReplyGrace = time.Second

// commitReplyLost sends one mutation on a session of its own and cuts the
// server's link to Postgres the moment the server sends that mutation's
// COMMIT (the batch that carries its mutation_log row, which holds the
// session id): Postgres commits, the server never hears so. The link stays
// cut past --db-grace, then comes back; the mutation's sender does what
// the other writers do with its answer (the same marker again after
// unavailable).
func commitReplyLost(t *testing.T, e *env, f form, r *row) {
	l := currentLoad(t)
	sessionID := newSessionID()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := syncclient.Dial(ctx, e.url, syncclient.Options{Token: e.john, SessionID: sessionID})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	marker := l.prefix + "-lostreply-0"
	// The other writers wait meanwhile, so that the COMMIT succeeds rather
	// than failing serialization against theirs (which would be retried).
	l.hold(true)
	if err := l.idle(time.Minute); err != nil {
		t.Fatalf("the writers did not pause: %v", err)
	}
	e.link.CutAfter([]byte(sessionID))
	type answer struct{ err error }
	done := make(chan answer, 1)
	go func() {
		_, err := c.Mutation(ctx, "shared/chat:sendMessage", sendArgs(marker))
		done <- answer{err}
	}()
	if err := poll(30*time.Second, func() error {
		if !e.link.Down() {
			return errors.New("the COMMIT was never seen")
		}
		return nil
	}); err != nil {
		r.problems = append(r.problems, "the cut never fired: "+err.Error())
		t.Error("the cut never fired")
		l.hold(false)
		e.link.Restore()
		<-done
		return
	}
	l.hold(false)
	time.Sleep(2 * lostReplyGrace)
	e.link.Restore()
	a := <-done
	for attempt := 0; ; attempt++ {
		switch {
		case a.err == nil:
			l.ledger.ack(marker)
			r.notes = append(r.notes, fmt.Sprintf("the mutation whose COMMIT reply was lost: %d× unavailable, then success", attempt))
			return
		case isUnavailable(a.err) && attempt < 20:
			l.ledger.retry(marker)
			time.Sleep(200 * time.Millisecond)
			_, err := c.Mutation(ctx, "shared/chat:sendMessage", sendArgs(marker))
			a = answer{err}
		default:
			l.ledger.unsure(marker)
			r.notes = append(r.notes, "the mutation whose COMMIT reply was lost: "+a.err.Error())
			return
		}
	}
}

func newSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
