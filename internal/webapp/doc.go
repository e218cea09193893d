// Package webapp serves a built single-page web app (the Vite output of
// web/, an index.html and its assets) from a directory: files as they
// are, and index.html for any other path, so the app's client-side routes
// (/c/<conversationId>) survive a reload or a shared link.
//
// # Concurrency model
//
// The handler reads the directory on every request and holds no state;
// it is safe for concurrent use.
//
// # Lifecycle
//
// New checks once that the directory holds an index.html; rebuilding the
// app while the server runs is picked up by the next request.
//
// # Invariants
//
// The app never shadows the server's own routes: paths under /api/ and
// /dev/, and /healthz and /metrics, are never answered with index.html
// (a method or path the server does not serve there stays a 404). Paths
// that look like files (a dot in the last segment) and do not exist are
// 404s too, so a missing asset fails loudly instead of parsing HTML.
package webapp
