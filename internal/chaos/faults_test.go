package chaos

import (
	"context"
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
		{name: "server kill -9", health: true, inject: serverKill},
		{name: "link to postgres cut", health: true, inject: linkCut,
			opts: func(*testing.T) envOptions { return envOptions{link: true} }},
		{name: "media directory full", inject: mediaFull, opts: fullMediaDir, recovered: uploadsWork},
		{name: "clients stop reading", inject: stalledReaders},
		{name: "clients reconnect at once", herd: true, health: true, inject: serverRestart, writePause: 200 * time.Millisecond},
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
