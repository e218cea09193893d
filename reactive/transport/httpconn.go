package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/reactive"
)

// The part the SSE and long-polling sync transports share: a connection
// that outlives any one HTTP request, known by an unguessable id, whose
// client messages arrive in POSTs (serveSend) and are handed to the
// protocol core (handle) one POST at a time. How its frames reach the
// client is each transport's own (sse.go, poll.go).
//
// The id is a capability: whoever has it can send messages to the
// connection's session, which speaks as the identity its client
// authenticated. It is 256 random bits, sent to the client only in the
// stream's first event or the poll connection's opening response, lives
// as long as the connection (an SSE stream, a long-polling connection
// until it idles out) and is never logged here. It does appear in the URL
// path of the client's requests, where a proxy that logs URLs would see
// it; unlike a JWT it is worthless once the connection ends.

// httpConn is one SSE or long-polling sync connection. Safe for
// concurrent use.
type httpConn struct {
	s         *Server
	id        string
	transport string // transportSSE or transportPoll
	sess      *reactive.Session
	// ctx ends with the connection: cancel ends it (the stream closed, the
	// client said goodbye, it idled out, the server shuts down). Handling
	// runs under it.
	ctx    context.Context
	cancel context.CancelFunc
	// wake is signalled when the session has something to send (OnWake).
	wake  chan struct{}
	place ipPlace // under the per-IP cap (sessionCaps)
	// poll is the long-polling connection this is part of (nil for SSE).
	// Set once, under Server.connMu, before its id is given out.
	poll *pollConn

	handleMu sync.Mutex // one POST's messages are handled at a time; guards the fields below
	closed   bool       // the session is closed: handle nothing
	fatal    bool       // a protocol violation: handle nothing more
}

// errShuttingDown refuses a connection while the server shuts down.
var errShuttingDown = &functions.Error{Status: http.StatusServiceUnavailable, Code: functions.CodeUnavailable, Message: "server shutting down"}

// notify signals a wake-up channel (capacity 1) without blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// openConn opens a connection of transport t for request r and registers
// it under a new id. The caller ends it with cancel and then calls
// release once, after its last writeOutbox.
func (s *Server) openConn(r *http.Request, t string) (*httpConn, error) {
	if err := s.refusal(); err != nil {
		return nil, err
	}
	place, err := s.enterSession(r)
	if err != nil {
		return nil, err
	}
	if !s.track() {
		s.caps.leaveIP(place)
		return nil, errShuttingDown
	}
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand)
	c := &httpConn{s: s, id: base64.RawURLEncoding.EncodeToString(raw[:]), transport: t, wake: make(chan struct{}, 1), place: place}
	c.ctx, c.cancel = context.WithCancel(s.sessionsCtx())
	c.sess = s.newSession(func() { notify(c.wake) }, wantsStatus(r))
	s.connMu.Lock()
	s.conns[c.id] = c
	s.connMu.Unlock()
	s.metrics.sessionOpened(t)
	return c, nil
}

// lookupConn returns the live connection of transport t with id, or nil.
func (s *Server) lookupConn(id, t string) *httpConn {
	s.connMu.Lock()
	c := s.conns[id]
	s.connMu.Unlock()
	if c == nil || c.transport != t || c.ctx.Err() != nil {
		return nil
	}
	return c
}

// release releases an ended connection: it forgets its id, waits for
// handling under way (which its cancelled context cuts short) and closes
// its session.
func (c *httpConn) release() {
	c.cancel()
	c.s.connMu.Lock()
	delete(c.s.conns, c.id)
	c.s.connMu.Unlock()
	c.handleMu.Lock()
	c.closed = true
	c.handleMu.Unlock()
	c.sess.Close()
	c.s.leaveSession(c.sess, c.place)
	c.s.metrics.sessionClosed(c.transport)
	c.s.wg.Done()
}

// errNoConn answers a request for a connection that does not exist (any
// more): the client's connection is over, and it reconnects.
var errNoConn = &functions.Error{Status: http.StatusNotFound, Code: functions.CodeNotFound, Message: "no such connection: it has ended"}

// maxBatchMessages bounds the client messages one POST may carry.
const maxBatchMessages = 64

// clientMessages splits a POST's body: one client message (a JSON object)
// or an array of them, handled in order.
func clientMessages(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		return []json.RawMessage{body}, nil
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(body, &msgs); err != nil {
		return nil, errors.New("body must be a client message (a JSON object) or an array of them")
	}
	if len(msgs) > maxBatchMessages {
		return nil, errors.New("too many messages in one request")
	}
	return msgs, nil
}

// ConnectionHeader names, in the response that opens an SSE or
// long-polling connection, the connection's id: a proxy in front of
// several nodes (`parley dev --nodes N`) keeps the connection's later
// requests, which carry ?connection=id, on the node that holds it.
const ConnectionHeader = "Parley-Connection"

// connQuery is the query parameter that names an SSE or long-polling
// connection in its client's requests.
const connQuery = "connection"

// connURL is the URL path of connection id of transport endpoint
// ("sse-sync", "poll-sync") at protocol version.
func connURL(version, endpoint, id string) string {
	return "/api/" + url.PathEscape(version) + "/" + endpoint + "?" + connQuery + "=" + id
}

// serveSend serves POST /api/{version}/{sse,poll}-sync?connection=…: the body's
// client messages are handed to the protocol, in order; the answer (204)
// comes once they are handled, and what they cause reaches the client
// through its stream or its polls, as on a WebSocket. A client sends its
// next POST after this one's answer: concurrent POSTs are handled one at
// a time, in no promised order.
func (s *Server) serveSend(t string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := s.lookupConn(r.URL.Query().Get(connQuery), t)
		if c == nil {
			writeHTTPError(w, errNoConn)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4*s.cfg.MaxMessageBytes))
		if err != nil {
			writeHTTPError(w, &functions.Error{Status: http.StatusRequestEntityTooLarge, Code: functions.CodeInvalidArgument, Message: "request too large"})
			return
		}
		msgs, err := clientMessages(body)
		if err != nil {
			writeHTTPError(w, functions.Invalid("%s", err.Error()))
			return
		}
		c.handleMu.Lock()
		defer c.handleMu.Unlock()
		if c.closed || c.ctx.Err() != nil {
			writeHTTPError(w, errNoConn)
			return
		}
		for _, m := range msgs {
			if c.fatal {
				break
			}
			if int64(len(m)) > s.cfg.MaxMessageBytes {
				c.sess.Fatal("message too large")
				c.fatal = true
				break
			}
			if !s.handle(c.ctx, c.sess, m) {
				c.fatal = true // the session sends FatalError and closes
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// serveEnd serves DELETE /api/{version}/{sse,poll}-sync?connection=…: the
// client closes its connection.
func (s *Server) serveEnd(t string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c := s.lookupConn(r.URL.Query().Get(connQuery), t); c != nil {
			c.cancel()
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// closeCode is the WebSocket close code a sync transport reports when the
// protocol ends a session (see frameWriter.closeWith): 1000 after an
// AuthError (the client reconnects with a fresh token), 1008 otherwise.
func closeCode(authFailed bool) int {
	if authFailed {
		return 1000
	}
	return 1008
}

// closeGoingAway is the close code of a connection the server ends as it
// shuts down.
const closeGoingAway = 1001

// closeInfo is how an SSE or long-polling connection tells its client it
// is over: the code and reason a WebSocket's Close frame would carry.
type closeInfo struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}
