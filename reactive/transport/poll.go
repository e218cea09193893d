package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/parley-chat/parley/functions"
)

// The sync protocol over long polling, for clients behind proxies that
// hold back a stream as well as the Upgrade: POST /api/{version}/poll-sync
// opens a connection; GET /api/{version}/poll-sync?connection=…&after=N returns
// the server's protocol messages (exactly the frames a WebSocket carries)
// numbered after N, at once when there are some, else when there are, or
// after PollTimeout with a Ping; the client POSTs its messages to the
// connection's URL, /api/{version}/poll-sync?connection=… (serveSend), and
// DELETEs it to close.
//
// Frames are numbered from 1. A poll's answer,
//
//	{"frames":[{"type":"Transition",…}],"last":7}
//	{"frames":[…],"last":9,"close":{"code":1000,"reason":"authentication failed"}}
//
// carries the frames after N up to last; the next poll asks for after=last,
// which also tells the server the client has them. Frames not yet
// acknowledged stay with the connection, so a poll whose answer was lost
// is repeated with the same after and gets them again. A close ends the
// connection with the code and reason a WebSocket's Close frame would
// carry; a poll for a connection that is gone answers 404.
//
// Between polls the session coalesces results as for a WebSocket client
// that is slow to read (the newest value per query), and bounds the
// responses it queues by MaxPendingBytes. A poll takes the session's next
// outbox only once the client has acknowledged every frame before it, so
// a connection keeps the frames of one outbox at most, however large
// (a first transition of many large pages is one frame): they are what a
// WebSocket's writer holds while it writes them, kept until the next poll
// instead. A connection with no poll under way for PollIdleTimeout ends.
//
// One poll at a time owns the connection and is its writer: a poll that
// arrives while another waits makes that one answer at once with what it
// has (usually nothing), then takes over.

// pollConn is one long-polling sync connection. Safe for concurrent use.
type pollConn struct {
	*httpConn
	idle *alarm // ends the connection after PollIdleTimeout with no poll
	// slot is held by the poll under way, and by release at the end.
	slot chan struct{}
	// yield asks the poll under way to answer now: another has come.
	yield chan struct{}

	mu      sync.Mutex // guards the fields below
	frames  [][]byte   // frames not yet acknowledged, numbered from first
	first   uint64
	close   *closeInfo // the connection's end, once the protocol closed it
	polling int        // polls under way (waiting for the slot or holding it)
}

var _ frameWriter = (*pollConn)(nil)

// pollOpened is POST /api/{version}/poll-sync's answer.
type pollOpened struct {
	ConnectionID string `json:"connectionId"`
	// URL is where the client polls (GET), sends (POST) and closes
	// (DELETE).
	URL string `json:"url"`
}

// pollAnswer is a poll's answer.
type pollAnswer struct {
	Frames []json.RawMessage `json:"frames"`
	Last   uint64            `json:"last"`
	Close  *closeInfo        `json:"close,omitempty"`
}

// servePollPost serves POST /api/{version}/poll-sync: with ?connection=,
// client messages (serveSend); without, a new connection.
func (s *Server) servePollPost(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has(connQuery) {
		s.serveSend(transportPoll)(w, r)
		return
	}
	s.servePollOpen(w, r)
}

// servePollOpen opens a long-polling connection.
func (s *Server) servePollOpen(w http.ResponseWriter, r *http.Request) {
	hc, err := s.openConn(r, transportPoll)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	c := &pollConn{httpConn: hc, slot: make(chan struct{}, 1), yield: make(chan struct{}, 1), first: 1}
	c.idle = s.alarms.unset(c.idleNow)
	s.connMu.Lock()
	hc.poll = c
	s.connMu.Unlock()
	c.idle.reset(s.cfg.PollIdleTimeout)
	context.AfterFunc(c.ctx, c.release)
	w.Header().Set(ConnectionHeader, c.id)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(pollOpened{ConnectionID: c.id, URL: connURL(r.PathValue("version"), "poll-sync", c.id)}) //nolint:errcheck
}

// idleNow runs on the idle alarm: with no poll under way, the client has
// gone away.
func (c *pollConn) idleNow() {
	c.mu.Lock()
	idle := c.polling == 0
	c.mu.Unlock()
	if idle {
		c.cancel()
	}
}

// release runs once the connection has ended: it waits for the poll under
// way (which its context cuts short) and releases the connection.
func (c *pollConn) release() {
	c.idle.Stop()
	c.slot <- struct{}{} // kept: no poll runs after this
	c.httpConn.release()
}

// lookupPoll returns the live long-polling connection with id, or nil.
func (s *Server) lookupPoll(id string) *pollConn {
	hc := s.lookupConn(id, transportPoll)
	if hc == nil {
		return nil
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return hc.poll
}

// servePollSync serves GET /api/{version}/poll-sync?connection=…&after=N.
func (s *Server) servePollSync(w http.ResponseWriter, r *http.Request) {
	c := s.lookupPoll(r.URL.Query().Get(connQuery))
	if c == nil {
		writeHTTPError(w, errNoConn)
		return
	}
	var after uint64
	if a := r.URL.Query().Get("after"); a != "" {
		var err error
		if after, err = strconv.ParseUint(a, 10, 64); err != nil {
			writeHTTPError(w, errBadAfter)
			return
		}
	}
	c.beginPoll()
	defer c.endPoll()
	notify(c.yield)
	select {
	case c.slot <- struct{}{}:
	case <-c.ctx.Done():
		writeHTTPError(w, errNoConn)
		return
	case <-r.Context().Done():
		return
	}
	ans, ok := c.poll(r.Context(), after)
	<-c.slot
	if !ok {
		writeHTTPError(w, errBadAfter)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(ans) //nolint:errcheck // a lost answer is asked for again
	if ans.Close != nil {
		c.cancel()
	}
}

// errBadAfter answers a poll whose after is not a frame number the client
// can have seen.
var errBadAfter = functions.Invalid("after must be the last frame number a poll answered")

// poll waits, holding the slot, until there are frames after after, the
// connection ends, the poll times out (a Ping then) or another poll comes.
// False means after is ahead of the frames sent.
func (c *pollConn) poll(ctx context.Context, after uint64) (pollAnswer, bool) {
	select {
	case <-c.yield: // our own, or an earlier poll's: they are answered
	default:
	}
	if !c.ack(after) {
		return pollAnswer{}, false
	}
	timeout, stopTimeout := c.s.ticker(c.s.cfg.PollTimeout)
	defer stopTimeout()
	for {
		if c.pending() {
			break
		}
		if !c.closed() {
			c.s.writeOutbox(c, c.sess.Take())
			if c.pending() || c.closed() {
				break
			}
		}
		select {
		case <-c.wake:
			continue
		case <-timeout:
			c.writeFrame(pingMessage) //nolint:errcheck // a full connection closes itself
		case <-c.yield:
		case <-ctx.Done():
		case <-c.ctx.Done():
			if c.s.root.Err() != nil {
				c.closeAs(closeGoingAway, "server shutting down")
			}
		}
		break
	}
	return c.answer(), true
}

func (c *pollConn) beginPoll() {
	c.mu.Lock()
	c.polling++
	c.mu.Unlock()
	c.idle.Stop()
}

func (c *pollConn) endPoll() {
	c.mu.Lock()
	c.polling--
	idle := c.polling == 0
	c.mu.Unlock()
	if idle {
		c.idle.reset(c.s.cfg.PollIdleTimeout)
	}
}

// ack drops the frames numbered up to after: the client has them. False
// means after is past the frames sent.
func (c *pollConn) ack(after uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.first + uint64(len(c.frames))
	if after >= next {
		return after == next-1
	}
	for c.first <= after {
		c.frames[0] = nil
		c.frames = c.frames[1:]
		c.first++
	}
	if len(c.frames) == 0 {
		c.frames = nil // release the array
	}
	return true
}

// pending reports whether frames wait for the client.
func (c *pollConn) pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames) > 0
}

// closed reports whether the protocol has closed the connection.
func (c *pollConn) closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.close != nil
}

// answer is a poll's answer: every frame not yet acknowledged.
func (c *pollConn) answer() pollAnswer {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := pollAnswer{Frames: make([]json.RawMessage, len(c.frames)), Last: c.first + uint64(len(c.frames)) - 1, Close: c.close}
	for i, f := range c.frames {
		a.Frames[i] = f
	}
	return a
}

// writeFrame keeps a copy of b for the client's next poll. poll writes
// only when no frame waits for acknowledgement, so the frames kept are
// one outbox's (or a Ping).
func (c *pollConn) writeFrame(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.close != nil {
		return errPollClosed
	}
	c.frames = append(c.frames, append([]byte(nil), b...))
	return nil
}

func (c *pollConn) closeWith(reason string, authFailed bool) {
	c.closeAs(closeCode(authFailed), reason)
}

// closeAs records the connection's end, which the poll under way answers.
func (c *pollConn) closeAs(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.close == nil {
		c.close = &closeInfo{Code: code, Reason: reason}
	}
}

// errPollClosed fails a frame written after the connection closed.
var errPollClosed = errors.New("connection closed")
