package schema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/internal/jobs"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Publication is the name of the logical replication publication that
// covers every table a query may read.
const Publication = "parley"

// migrationLock is the advisory lock key that serialises concurrent
// migrators (two `parley serve` nodes starting together).
const migrationLock = 0x70617273 // "pars"

// Migrate applies every embedded migration not yet applied, each in its own
// transaction, under an advisory lock. It returns the versions it applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: acquire: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS parley_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: create ledger: %w", err)
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrate: list: %w", err)
	}
	sort.Strings(files)
	var applied []int
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return applied, fmt.Errorf("migrate: bad migration name %q", name)
		}
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM parley_migrations WHERE version = $1)`, version).Scan(&done); err != nil {
			return applied, fmt.Errorf("migrate: read ledger: %w", err)
		}
		if done {
			continue
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return applied, fmt.Errorf("migrate: read %s: %w", name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO parley_migrations (version, name) VALUES ($1, $2)`, version, name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate: apply %s: %w", name, err)
		}
		applied = append(applied, version)
	}
	// The job queue's tables (river's own migrations, versioned apart).
	if err := jobs.Migrate(ctx, pool); err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}
