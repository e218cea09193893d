package media_test

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/testimages"
	"github.com/parley-chat/parley/media"
	"github.com/parley-chat/parley/schema"
)

// testStore runs the cases every Store must pass on s.
func testStore(t *testing.T, s media.Store) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "ab/file1.webp", []byte("one")))
	require.NoError(t, s.Put(ctx, "ab/file1.webp", []byte("two")), "replaces")
	obj, size, err := s.Open(ctx, "ab/file1.webp")
	require.NoError(t, err)
	b, err := io.ReadAll(obj)
	require.NoError(t, err)
	require.Equal(t, "two", string(b))
	require.Equal(t, int64(3), size)
	_, err = obj.Seek(1, io.SeekStart)
	require.NoError(t, err, "objects seek (http.ServeContent answers ranges)")
	b, err = io.ReadAll(obj)
	require.NoError(t, err)
	require.Equal(t, "wo", string(b))
	require.NoError(t, obj.Close())

	require.NoError(t, s.Put(ctx, "ab/empty", nil))
	obj, size, err = s.Open(ctx, "ab/empty")
	require.NoError(t, err)
	require.Zero(t, size)
	require.NoError(t, obj.Close())

	require.NoError(t, s.Delete(ctx, "ab/file1.webp"))
	require.NoError(t, s.Delete(ctx, "ab/file1.webp"), "deleting nothing is fine")
	_, _, err = s.Open(ctx, "ab/file1.webp")
	require.ErrorIs(t, err, media.ErrNotFound)
	_, _, err = s.Open(ctx, "never/stored")
	require.ErrorIs(t, err, media.ErrNotFound)

	for _, key := range []string{"", "/abs", "../escape", "a/../../b", "a//b", "UPPER", "a b", "a/./b", "x\x00"} {
		require.ErrorIs(t, s.Put(ctx, key, []byte("x")), media.ErrBadKey, "%q", key)
		_, _, err := s.Open(ctx, key)
		require.ErrorIs(t, err, media.ErrBadKey, "%q", key)
		require.ErrorIs(t, s.Delete(ctx, key), media.ErrBadKey, "%q", key)
	}

	// A reader never sees part of an object: readers racing a writer
	// that alternates two large objects read one or the other.
	big := func(c byte) []byte { return []byte(strings.Repeat(string(c), 1<<20)) }
	x, y := big('x'), big('y')
	require.NoError(t, s.Put(ctx, "race/obj", x))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			data := x
			if i%2 == 1 {
				data = y
			}
			if err := s.Put(ctx, "race/obj", data); err != nil {
				t.Errorf("put: %v", err)
				return
			}
		}
	}()
	for range 20 {
		obj, size, err := s.Open(ctx, "race/obj")
		require.NoError(t, err)
		b, err := io.ReadAll(obj)
		require.NoError(t, err)
		require.NoError(t, obj.Close())
		require.EqualValues(t, len(b), size)
		require.True(t, string(b) == string(x) || string(b) == string(y), "a whole object")
	}
	close(stop)
	wg.Wait()
}

func TestDirStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := media.NewDirStore(filepath.Join(dir, "media"))
	require.NoError(t, err)
	testStore(t, s)

	require.NoError(t, s.Put(ctx, "ab/file1.webp", []byte("one")))
	st, err := os.Stat(filepath.Join(dir, "media", "ab", "file1.webp"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "images are private to the server")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing written outside the store")
}

func TestPGStore(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDB(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = schema.Migrate(ctx, pool)
	require.NoError(t, err)
	s, err := media.NewPGStore(pool)
	require.NoError(t, err)
	testStore(t, s)

	// Another node's store (another pool on the database) sees the same
	// objects.
	other, err := pgxpool.New(ctx, pool.Config().ConnString())
	require.NoError(t, err)
	t.Cleanup(other.Close)
	s2, err := media.NewPGStore(other)
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, "shared/obj", []byte("hello")))
	obj, size, err := s2.Open(ctx, "shared/obj")
	require.NoError(t, err)
	b, err := io.ReadAll(obj)
	require.NoError(t, err)
	require.Equal(t, "hello", string(b))
	require.EqualValues(t, 5, size)
	require.NoError(t, s2.Delete(ctx, "shared/obj"))
	_, _, err = s.Open(ctx, "shared/obj")
	require.ErrorIs(t, err, media.ErrNotFound)
}

// TestPGStoreAcrossNodes: two servers on one database, with a PGStore
// each and the same media key: an upload URL from one takes the bytes on
// the other, and the image's signed URLs from either serve on both.
func TestPGStoreAcrossNodes(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, media.MinKeyLen)
	_, err := rand.Read(key)
	require.NoError(t, err)
	withPGStore := func(cfg *server.Config) {
		pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		cfg.Media.Store, err = media.NewPGStore(pool)
		require.NoError(t, err)
		cfg.Media.Key, cfg.MediaDir = key, ""
	}
	a := parleytest.StartConfigured(t, withPGStore)
	b := parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.DatabaseURL, cfg.ReplicationSlot = a.DBURL, "parley_node_b"
		withPGStore(cfg)
	})

	u := uploadURL(t, a, john)
	require.True(t, strings.HasPrefix(u, a.URL))
	up := post(t, b, b.URL+strings.TrimPrefix(u, a.URL), testimages.JPEG(testimages.Photo(640, 480, 3), 85), "image/jpeg", anon)
	require.Equal(t, http.StatusOK, up.status, "node b takes node a's upload URL: %s", up.body)
	sid := up.json(t)["storageId"].(string)
	msgID, errData := sendImage(t, a, john, schema.DemoConversationID, sid)
	require.Nil(t, errData)

	for _, node := range []*parleytest.Server{a, b} {
		var att *struct{ URL, ThumbnailURL string }
		for _, m := range messages(t, node, staff, schema.DemoConversationID) {
			if m.ID == msgID && m.ImageAttachment != nil {
				att = &struct{ URL, ThumbnailURL string }{m.ImageAttachment.URL, m.ImageAttachment.ThumbnailURL}
			}
		}
		require.NotNil(t, att)
		for _, signed := range []string{att.URL, att.ThumbnailURL} {
			path := strings.TrimPrefix(strings.TrimPrefix(signed, a.URL), b.URL)
			require.NotEqual(t, signed, path, "a URL of one of the nodes")
			for _, serving := range []*parleytest.Server{a, b} {
				got := get(t, serving.URL+path)
				require.Equal(t, http.StatusOK, got.status, "%s", got.body)
				require.Equal(t, media.WebP, media.Sniff(got.body))
			}
		}
	}
	var objects int
	require.NoError(t, a.DB.QueryRow(ctx, `SELECT count(*) FROM media_objects WHERE key LIKE '%' || $1 || '%'`, sid).Scan(&objects))
	require.Equal(t, 2, objects, "the image and its thumbnail, in Postgres")
}
