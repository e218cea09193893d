package webapp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/webapp"
)

func TestHandler(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "app")
	require.NoError(t, os.WriteFile(filepath.Join(parent, "secret.txt"), []byte("secret"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "assets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>app"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "assets", "index-abc.js"), []byte("js"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "convex-app"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "convex-app", "index.html"), []byte("<!doctype html>page"), 0o644))

	h, err := webapp.New(dir)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/query", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api") })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "healthy") })
	h.Register(mux)

	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 200, "<!doctype html>app"},
		{"GET", "/c/conv123456789", 200, "<!doctype html>app"},
		{"GET", "/store", 200, "<!doctype html>app"},
		{"GET", "/assets/index-abc.js", 200, "js"},
		// A directory with an index.html of its own is another page.
		{"GET", "/convex-app/", 200, "<!doctype html>page"},
		{"GET", "/convex-app", 200, "<!doctype html>page"},
		{"GET", "/assets", 200, "<!doctype html>app"},
		{"GET", "/assets/missing.js", 404, ""},
		{"GET", "/favicon.ico", 404, ""},
		{"GET", "/healthz", 200, "healthy"},
		{"POST", "/api/query", 200, "api"},
		// The server's own prefixes never fall back to the app.
		{"GET", "/api/query", 404, ""},
		{"GET", "/api/storage/x", 404, ""},
		{"GET", "/dev/token", 404, ""},
		{"GET", "/metrics", 404, ""},
		{"POST", "/dev/token", 404, ""},
		{"POST", "/c/x", 405, ""},
		{"GET", "/api", 404, ""},
		// Only the routes themselves: a client-side route that merely
		// starts with their names is the app's.
		{"GET", "/metricsboard", 200, "<!doctype html>app"},
		{"GET", "/devices", 200, "<!doctype html>app"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tt.method, "http://x"+tt.path, nil)
			mux.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.body != "" {
				require.Equal(t, tt.body, rec.Body.String())
			}
		})
	}

	// Nothing outside the directory is reachable, even past the mux's
	// own path cleaning.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "http://x/", nil)
	req.URL.Path = "/../secret.txt"
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusNotFound, rec.Code)
}

func TestNewNeedsIndex(t *testing.T) {
	_, err := webapp.New(t.TempDir())
	require.ErrorIs(t, err, webapp.ErrNoIndex)
}
