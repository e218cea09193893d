package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Store holds the bytes of stored images by key. Keys are relative paths
// of [a-z0-9._-] components separated by "/". Implementations must be safe
// for concurrent use.
type Store interface {
	// Put stores data under key, replacing what was there. A reader never
	// sees a partly written object.
	Put(ctx context.Context, key string, data []byte) error
	// Open returns the object under key and its size; ErrNotFound if
	// there is none. The caller closes it.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error)
	// Delete removes the object under key; a key that holds nothing is
	// not an error.
	Delete(ctx context.Context, key string) error
}

// DirStore is a Store in a local directory: each key is a file under it,
// written to a temporary file and renamed into place. Safe for concurrent
// use.
type DirStore struct {
	dir string
}

var _ Store = (*DirStore)(nil)

// NewDirStore returns a store in dir, creating the directory (0700) if
// needed.
func NewDirStore(dir string) (*DirStore, error) {
	if dir == "" {
		return nil, errors.New("media: store directory is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("media store: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create media store: %w", err)
	}
	return &DirStore{dir: abs}, nil
}

// Dir is the store's directory.
func (s *DirStore) Dir() string { return s.dir }

// CheckKey returns ErrBadKey unless key is a valid storage key.
func CheckKey(key string) error {
	if key == "" || len(key) > 255 || strings.HasPrefix(key, "/") {
		return ErrBadKey
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return ErrBadKey
		}
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '/') {
			return ErrBadKey
		}
	}
	return nil
}

func (s *DirStore) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("%w: %q", err, key)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Put implements Store.
func (s *DirStore) Put(_ context.Context, key string, data []byte) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Open implements Store.
func (s *DirStore) Open(_ context.Context, key string) (io.ReadSeekCloser, int64, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	return f, st.Size(), nil
}

// Delete implements Store.
func (s *DirStore) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}
