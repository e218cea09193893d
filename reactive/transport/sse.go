package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// The sync protocol over Server-Sent Events, for clients that cannot hold
// a WebSocket (a proxy that refuses the Upgrade): GET
// /api/{version}/sse-sync opens a connection and streams the server's
// protocol messages, exactly the frames a WebSocket carries, one per
// "message" event; the client POSTs its messages to the URL the stream's
// first event names (serveSend). The stream's handler goroutine is the
// connection's writer.
//
// The stream:
//
//	event: connection
//	data: {"connectionId":"…","send":"/api/1.48.0/sse-sync?connection=…"}
//
//	data: {"type":"Transition",…}
//
//	data: {"type":"Ping"}
//
//	event: close
//	data: {"code":1000,"reason":"authentication failed"}
//
// A close event ends the stream with the code and reason a WebSocket's
// Close frame would carry; a stream that ends without one is a dropped
// connection (1006). Pings go every PingInterval, as on a WebSocket, and
// keep proxies from timing the stream out.

// sseWriter writes Server-Sent Events to a response and flushes each. It
// keeps no buffer of its own: the pieces go into the response's. Each
// write is bounded by the write timeout, through the connection's write
// deadline, which is cleared after it (a deadline left set would keep a
// runtime timer per idle stream).
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func newSSEWriter(w http.ResponseWriter, timeout time.Duration) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w), timeout: timeout}
}

// start sends the stream's headers.
func (e *sseWriter) start() error {
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	e.w.WriteHeader(http.StatusOK)
	return e.flush()
}

// event sends one event: its name (empty: "message"), id (empty: none)
// and data, a line per line of data.
func (e *sseWriter) event(name, id string, data []byte) error {
	e.arm()
	if name != "" {
		e.w.Write([]byte("event: " + name + "\n")) //nolint:errcheck // the flush reports it
	}
	if id != "" {
		e.w.Write([]byte("id: " + id + "\n")) //nolint:errcheck
	}
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		e.w.Write(dataPrefix)                 //nolint:errcheck
		e.w.Write(bytes.TrimSuffix(line, cr)) //nolint:errcheck
		e.w.Write(newline)                    //nolint:errcheck
		if !more {
			break
		}
		data = rest
	}
	e.w.Write(newline) //nolint:errcheck
	return e.flush()
}

var (
	dataPrefix = []byte("data: ")
	newline    = []byte("\n")
	cr         = []byte("\r")
)

// comment sends a comment line, which clients ignore: a heartbeat.
func (e *sseWriter) comment(text string) error {
	e.arm()
	e.w.Write([]byte(": " + text + "\n\n")) //nolint:errcheck
	return e.flush()
}

// arm sets the write deadline for the write that follows.
func (e *sseWriter) arm() {
	e.rc.SetWriteDeadline(time.Now().Add(e.timeout)) //nolint:errcheck // unsupported: no deadline
}

func (e *sseWriter) flush() error {
	err := e.rc.Flush()
	e.rc.SetWriteDeadline(time.Time{}) //nolint:errcheck
	return err
}

// sseFrames is the frameWriter of an SSE sync connection.
type sseFrames struct{ e *sseWriter }

var _ frameWriter = sseFrames{}

func (f sseFrames) writeFrame(b []byte) error { return f.e.event("", "", b) }

func (f sseFrames) closeWith(reason string, authFailed bool) {
	f.e.closeEvent(closeCode(authFailed), reason)
}

// closeEvent sends the close event that ends a sync stream.
func (e *sseWriter) closeEvent(code int, reason string) {
	b, _ := json.Marshal(closeInfo{Code: code, Reason: reason})
	e.event("close", "", b) //nolint:errcheck // the stream ends either way
}

// connectionEvent is the first event of a sync stream.
type connectionEvent struct {
	ConnectionID string `json:"connectionId"`
	Send         string `json:"send"` // the path the client POSTs its messages to
}

// serveSSESync serves GET /api/{version}/sse-sync: the stream of a new
// sync connection, until the client goes away, the protocol closes it or
// the server shuts down.
func (s *Server) serveSSESync(w http.ResponseWriter, r *http.Request) {
	c, err := s.openConn(r, transportSSE)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	defer c.release()
	stop := context.AfterFunc(r.Context(), c.cancel) // the client went away
	defer stop()
	w.Header().Set(ConnectionHeader, c.id)
	e := newSSEWriter(w, s.cfg.WriteTimeout)
	if e.start() != nil {
		return
	}
	first, _ := json.Marshal(connectionEvent{ConnectionID: c.id, Send: connURL(r.PathValue("version"), "sse-sync", c.id)})
	if e.event("connection", "", first) != nil {
		return
	}
	pings, stopPings := s.ticker(s.cfg.PingInterval)
	defer stopPings()
	frames := sseFrames{e}
	for {
		select {
		case <-c.wake:
		case <-pings:
			if frames.writeFrame(pingMessage) != nil {
				return
			}
			continue
		case <-c.ctx.Done():
			if s.root.Err() != nil && r.Context().Err() == nil {
				e.closeEvent(closeGoingAway, "server shutting down")
			}
			return
		}
		if !s.writeOutbox(frames, c.sess.Take()) {
			return
		}
	}
}
