// Package slowbody bounds how long an HTTP request body may go without a
// byte: a client that declares a body and then sends it slowly, or not
// at all (slowloris), holds a connection and a file descriptor for as
// long as it likes otherwise. net/http's ReadTimeout bounds the whole
// request instead, which would cut an honest slow upload of a large
// image; the bound here restarts with every byte that arrives.
package slowbody

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"time"
)

// Handler wraps h: a Read of a request's body that waits idle for data
// fails (the connection's read deadline is moved to now, which ends the
// pending read), and the handler sees the error (and answers 408 or 413,
// as its reading code does). Time the handler spends between reads does
// not count, and a deadline the handler sets itself (media's bound on a
// whole upload) stays in force. A request with no body is untouched, and
// so is a hijacked connection (WebSocket). timeouts, when not nil, is
// called once per body cut.
//
// Paths in exempt are left alone: a handler that bounds its body itself
// (media's uploads, whose whole body has a deadline) and that closes it
// early keeps net/http's half-close before the connection ends, which a
// wrapped body would lose (net/http recognises only its own body type).
func Handler(h http.Handler, idle time.Duration, timeouts func(), exempt ...string) http.Handler {
	if idle <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && !slices.Contains(exempt, r.URL.Path) {
			r.Body = &body{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle, timeouts: timeouts}
		}
		h.ServeHTTP(w, r)
	})
}

type body struct {
	io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration
	timeouts func()
	timer    *time.Timer
	fired    atomic.Bool
}

// fire ends the pending read: the body has been idle too long.
func (b *body) fire() {
	if b.fired.CompareAndSwap(false, true) {
		// Counted first: the cut read lets the handler answer, and a
		// reader of the metric after that answer must see the cut.
		if b.timeouts != nil {
			b.timeouts()
		}
		// Unsupported by the writer (a test recorder): no bound, as before.
		_ = b.rc.SetReadDeadline(time.Now())
	}
}

func (b *body) Read(p []byte) (int, error) {
	if b.timer == nil {
		b.timer = time.AfterFunc(b.idle, b.fire)
	} else {
		b.timer.Reset(b.idle)
	}
	n, err := b.ReadCloser.Read(p)
	b.timer.Stop()
	if err != nil && b.fired.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, fmt.Errorf("request body: no data for %s: %w", b.idle, err)
	}
	return n, err
}
