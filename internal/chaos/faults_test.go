package chaos

import (
	"context"
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
