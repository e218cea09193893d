package media_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/media"
)

func TestDirStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := media.NewDirStore(filepath.Join(dir, "media"))
	require.NoError(t, err)

	require.NoError(t, s.Put(ctx, "ab/file1.webp", []byte("one")))
	require.NoError(t, s.Put(ctx, "ab/file1.webp", []byte("two")), "replaces")
	obj, size, err := s.Open(ctx, "ab/file1.webp")
	require.NoError(t, err)
	b, err := io.ReadAll(obj)
	require.NoError(t, err)
	require.NoError(t, obj.Close())
	require.Equal(t, "two", string(b))
	require.Equal(t, int64(3), size)
	st, err := os.Stat(filepath.Join(dir, "media", "ab", "file1.webp"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "images are private to the server")

	require.NoError(t, s.Delete(ctx, "ab/file1.webp"))
	require.NoError(t, s.Delete(ctx, "ab/file1.webp"), "deleting nothing is fine")
	_, _, err = s.Open(ctx, "ab/file1.webp")
	require.ErrorIs(t, err, media.ErrNotFound)

	for _, key := range []string{"", "/abs", "../escape", "a/../../b", "a//b", "UPPER", "a b", "a/./b", "x\x00"} {
		require.ErrorIs(t, s.Put(ctx, key, []byte("x")), media.ErrBadKey, "%q", key)
		_, _, err := s.Open(ctx, key)
		require.ErrorIs(t, err, media.ErrBadKey, "%q", key)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing written outside the store")
}
