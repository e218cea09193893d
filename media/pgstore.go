package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGStore is a Store in Postgres (table media_objects, migration 0031):
// every node of one database reaches every object, so a signed URL is
// good on any of them (given the same Config.Key). Each object is one
// row, written by one statement: a reader sees the old bytes or the new,
// never part of them. Open reads the whole object into memory, which
// the upload limit bounds (the chat settings' maxImageSizeMB, 5 MB by
// default; processed images are smaller). Safe for concurrent use.
type PGStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PGStore)(nil)

// NewPGStore returns a store in pool's database.
func NewPGStore(pool *pgxpool.Pool) (*PGStore, error) {
	if pool == nil {
		return nil, errors.New("media: PGStore needs a pool")
	}
	return &PGStore{pool: pool}, nil
}

// pgDiskFull is Postgres' disk_full SQLSTATE.
const pgDiskFull = "53100"

// Put implements Store. A database out of disk space is an error that
// is syscall.ENOSPC too (Service.StoreFull).
func (s *PGStore) Put(ctx context.Context, key string, data []byte) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("%w: %q", err, key)
	}
	if data == nil {
		data = []byte{} // data is NOT NULL
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO media_objects (key, data, size) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET data = excluded.data, size = excluded.size, created_at = now()`, key, data, len(data))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgDiskFull {
		return fmt.Errorf("put %s: %w: %w", key, syscall.ENOSPC, err)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Open implements Store.
func (s *PGStore) Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error) {
	if err := CheckKey(key); err != nil {
		return nil, 0, fmt.Errorf("%w: %q", err, key)
	}
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM media_objects WHERE key = $1`, key).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	return nopCloser{bytes.NewReader(data)}, int64(len(data)), nil
}

// Delete implements Store.
func (s *PGStore) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("%w: %q", err, key)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM media_objects WHERE key = $1`, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// nopCloser is a bytes.Reader with a Close that does nothing.
type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
