// Package slowbody bounds how long an HTTP request body may go without a
// byte: a client that declares a body and then sends it slowly, or not
// at all (slowloris), holds a connection and a file descriptor for as
// long as it likes otherwise. net/http's ReadTimeout bounds the whole
// request instead, which would cut an honest slow upload of a large
// image; the bound here restarts with every byte that arrives.
package slowbody

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// Handler wraps h: every Read of a request's body must get data within
// idle, or it fails and the handler sees the error (and answers 408 or
// 413, as its reading code does). A request with no body is untouched,
// and so is a hijacked connection once it is (WebSocket).
func Handler(h http.Handler, idle time.Duration, timeouts func()) http.Handler {
	if idle <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
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
	counted  bool
}

func (b *body) Read(p []byte) (int, error) {
	// Unsupported by the writer (a test recorder): no bound, as before.
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	// Once the body is done, net/http clears the deadline as it starts
	// reading the socket to notice a client that goes away: what the
	// handler does after the body is not bound (TestHandlerOutlivesTheBound).
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !b.counted {
		b.counted = true
		if b.timeouts != nil {
			b.timeouts()
		}
	}
	return n, err
}
