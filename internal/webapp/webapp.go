package webapp

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrNoIndex means the directory has no index.html (the app is not built).
var ErrNoIndex = errors.New("webapp: no index.html")

// reserved are the server's own routes: a trailing slash reserves what is
// below it.
var reserved = []string{"/api/", "/dev/", "/healthz", "/metrics"}

// Handler serves the app in a directory.
type Handler struct {
	dir   string
	files http.Handler
}

// New returns a handler for the app built in dir.
func New(dir string) (*Handler, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(abs, "index.html")); err != nil || st.IsDir() {
		return nil, fmt.Errorf("%w in %s", ErrNoIndex, abs)
	}
	return &Handler{dir: abs, files: http.FileServer(http.Dir(abs))}, nil
}

// Dir is the absolute directory the handler serves.
func (h *Handler) Dir() string { return h.dir }

// Register routes / (every request no other pattern takes) to h. It
// takes every method, so that a request for a route the server does not
// have is a 404 rather than a 405 for not being a GET.
func (h *Handler) Register(mux *http.ServeMux) { mux.Handle("/", h) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := path.Clean("/" + r.URL.Path)
	for _, route := range reserved {
		// "/api/" reserves what is below it (and "/api"); "/healthz" itself.
		if p == strings.TrimSuffix(route, "/") || (strings.HasSuffix(route, "/") && strings.HasPrefix(p, route)) {
			http.NotFound(w, r)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if p != "/" {
		st, err := os.Stat(filepath.Join(h.dir, filepath.FromSlash(p)))
		switch {
		case err == nil && !st.IsDir():
			if strings.HasPrefix(p, "/assets/") { // Vite's content-hashed names
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
			h.files.ServeHTTP(w, r)
			return
		case err == nil && st.IsDir():
			// Another page of the app (a directory with an index.html
			// of its own, like the convex-app example), or a route.
			if page := filepath.Join(h.dir, filepath.FromSlash(p), "index.html"); isFile(page) {
				serveIndex(w, r, page)
				return
			}
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			http.Error(w, "read app", http.StatusInternalServerError)
			return
		case strings.Contains(path.Base(p), "."):
			http.NotFound(w, r)
			return
		}
	}
	// A client-side route: the app decides what it shows.
	serveIndex(w, r, filepath.Join(h.dir, "index.html"))
}

func isFile(name string) bool {
	st, err := os.Stat(name)
	return err == nil && !st.IsDir()
}

// serveIndex serves an index.html, never cached: it names the current
// build's assets.
func serveIndex(w http.ResponseWriter, r *http.Request, name string) {
	f, err := os.Open(name)
	if err != nil {
		http.Error(w, "the web app is not built", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, "read app", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "index.html", st.ModTime(), f)
}
