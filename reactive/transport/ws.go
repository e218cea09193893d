package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/reactive"
)

// The Convex sync protocol over WebSocket: GET /api/{version}/sync is
// upgraded, and the connection's goroutines read client messages into the
// protocol core (handle) and write what the session has through wsConn,
// the protocol's frameWriter (writeOutbox). Everything here is about the
// WebSocket: the upgrade, the reader, handler and writer goroutines, the
// ping, the write timeout and the Close frame.

var _ frameWriter = (*wsConn)(nil)

// newUpgrader returns the server's WebSocket upgrader.
func newUpgrader() websocket.Upgrader {
	return websocket.Upgrader{
		// Idle connections hold no write buffer (writes borrow one from
		// the pool) and a small read buffer of their own: ReadBufferSize
		// zero makes gorilla read through the reader that serveSync's
		// hijacker hands it.
		ReadBufferSize: 0, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{},
		// Browsers from any origin may connect: every request is
		// authorised by its token, never by cookies.
		CheckOrigin: func(*http.Request) bool { return true },
	}
}

// wsConn is one WebSocket connection. Its goroutine (run) owns it and
// waits for everything else it started. A writer goroutine runs only while
// there is something to send (a result, a response, a ping): an idle
// connection costs one goroutine, not two, and holds no write buffer. Nor
// does it hold a context of its own (one with its cancel hook costs half a
// KiB): a handler's context lives while the handler runs, and end cancels
// it.
type wsConn struct {
	s    *Server
	conn *websocket.Conn
	br   *bufio.Reader // gorilla's read buffer (see hijacker)
	sess *reactive.Session
	// dropped is done when the server shuts down or drops its sessions.
	dropped context.Context
	place   ipPlace // under the per-IP cap (sessionCaps)

	inbox chan []byte // client messages read, not yet handled

	mu        sync.Mutex // guards the fields below
	handling  bool       // a handler goroutine is running
	writing   bool       // a writer goroutine is running
	signalled bool       // something to send arrived since the writer last looked
	pingDue   bool
	// writeStart is when the write under way began; zero when none.
	writeStart time.Time
	writeArmed bool // writeDue is scheduled
	timedOut   bool // a write outlasted WriteTimeout: the socket is closed
	done       bool // the connection is ending: start no writer, no ping
	ended      bool // end has run
	// cancelHandling cancels the running handler's context; nil when no
	// handler runs.
	cancelHandling context.CancelFunc
	// endedCh is closed by end. It is made on demand: only a reader
	// waiting for room in the inbox needs it (endedChan).
	endedCh   chan struct{}
	ping      *alarm         // the next ping
	writeDue  *alarm         // checks the write under way (see writeFrame)
	workers   sync.WaitGroup // the handler, the writer and the shutdown hook
	closeSent atomic.Bool    // a Close frame went out
	// closeCode is the Close code a refused frame asks for (1007, 1009)
	// instead of 1008; zero for none. refused: the reader's own, reads
	// after it are discarded.
	closeCode atomic.Int32
	refused   bool
}

// readBufferSize is the size of a connection's read buffer. Client
// messages are a few hundred bytes; larger ones are read through it in
// pieces. gorilla reads through the reader hijacked from the HTTP server
// only if it is larger than 256 bytes; 288 is the next allocation size.
const readBufferSize = 288

// hijacker gives gorilla a read buffer of the connection's own: with
// Upgrader.ReadBufferSize zero, gorilla reads through the reader Hijack
// returns, so the connection can see whether gorilla holds unread data
// (awaitData must not wait for the socket then). The HTTP server's own
// 4 KiB reader is released with its request. That gorilla adopts this
// reader is its behaviour (v1.5.3), not its promise:
// TestMessagesArrivingTogetherAreHandled fails if an upgrade changes it.
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader // set by a successful Hijack
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return conn, brw, err // gorilla rejects data sent before the handshake's end
	}
	h.br = bufio.NewReaderSize(conn, readBufferSize)
	return conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// closeGrace is how long a connection waits for the client's reply to its
// Close frame.
const closeGrace = time.Second

// serveSync upgrades the request and hands the connection to a goroutine
// of its own, so the HTTP server's per-request state (its goroutine and
// buffers) is released while the connection lives on.
func (s *Server) serveSync(w http.ResponseWriter, r *http.Request) {
	// Counted before the upgrade, while http.Server still tracks the
	// request: once hijacked, only this WaitGroup keeps Close waiting.
	s.mu.Lock()
	if s.root.Err() != nil {
		s.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if err := s.refusal(); err != nil {
		s.mu.Unlock()
		writeHTTPError(w, err)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	place, err := s.enterSession(r)
	if err != nil {
		s.wg.Done()
		writeHTTPError(w, err)
		return
	}
	h := &hijacker{ResponseWriter: w}
	conn, err := s.upgrader.Upgrade(h, r, nil)
	if err != nil {
		s.caps.leaveIP(place)
		s.wg.Done()
		return // the upgrader has answered
	}
	// No gorilla read limit: it would answer an oversize message with a
	// bare Close 1009 and nothing the client can show; readBurst bounds
	// every message and says why (refuse).
	c := &wsConn{s: s, conn: conn, br: h.br, inbox: make(chan []byte, inboxSize), dropped: s.sessionsCtx(), place: place}
	c.writeDue = s.alarms.unset(c.checkWrite)
	c.sess = s.newSession(c.kick, wantsStatus(r))
	s.metrics.sessionOpened(transportWebSocket)
	go c.run()
}

// run reads the connection until it ends, then waits for the writer and
// releases the session.
func (c *wsConn) run() {
	defer c.s.wg.Done()
	// Server shutdown ends the connection.
	c.workers.Add(1)
	stop := context.AfterFunc(c.dropped, func() {
		defer c.workers.Done()
		c.end()
	})
	c.mu.Lock()
	c.ping = c.s.alarms.after(c.s.cfg.PingInterval, c.pingDueNow)
	c.mu.Unlock()

	c.readLoop()
	if stop() {
		c.workers.Done() // the hook will not run
	}
	c.end()

	c.mu.Lock()
	c.done = true
	c.ping.Stop()
	c.mu.Unlock()
	c.workers.Wait()
	c.writeDue.Stop() // the writer has exited: nothing to check
	c.sess.Close()
	c.s.leaveSession(c.sess, c.place)
	c.s.metrics.sessionClosed(transportWebSocket)
	c.conn.Close()
}

// end ends the connection, once: it cancels the running handler's work,
// releases a reader waiting for room in the inbox and closes the
// connection, on server shutdown with a Close frame saying so.
func (c *wsConn) end() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	cancel := c.cancelHandling
	if c.endedCh != nil {
		close(c.endedCh)
	}
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.shutdown()
}

// endedChan returns a channel that is closed when the connection ends.
func (c *wsConn) endedChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endedCh == nil {
		c.endedCh = make(chan struct{})
		if c.ended {
			close(c.endedCh)
		}
	}
	return c.endedCh
}

// shutdown closes the connection as it ends: on server shutdown with a
// Close frame saying so, which unblocks the reader.
func (c *wsConn) shutdown() {
	if c.s.root.Err() != nil {
		c.sendClose(websocket.CloseGoingAway, "server shutting down")
	} else if c.dropped.Err() != nil {
		c.sendClose(websocket.CloseServiceRestart, *c.s.dropReason.Load())
	}
	if c.closeSent.Load() {
		// The closing handshake: the reader waits (a short while) for the
		// client's Close reply, and run closes the connection after it.
		// Closing at once could reset the connection while the client
		// still has our last messages to read.
		c.conn.SetReadDeadline(time.Now().Add(closeGrace)) //nolint:errcheck
		return
	}
	c.conn.Close()
}

// kick makes sure a writer runs: the session has something to send.
func (c *wsConn) kick() {
	c.mu.Lock()
	c.signalled = true
	start := c.claimLocked(&c.writing)
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// claimLocked reports whether the caller should start the worker that
// *running tracks: none runs and the connection is not ending. It marks
// the worker running and counts it. c.mu must be held.
func (c *wsConn) claimLocked(running *bool) bool {
	if *running || c.done {
		return false
	}
	*running = true
	c.workers.Add(1)
	return true
}

// pingDueNow runs on the ping alarm: the writer sends a Ping, and the
// alarm is set again.
func (c *wsConn) pingDueNow() {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.pingDue = true
	c.ping.reset(c.s.cfg.PingInterval)
	c.mu.Unlock()
	c.kick()
}

// fail ends the connection after a failed or final write.
func (c *wsConn) fail() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	c.end()
}

// inboxSize bounds the client messages read but not yet handled: the reader
// stops reading (and TCP pushes back) while that many wait.
const inboxSize = 4

// readLoop reads client messages until the connection ends. It runs on
// the connection's own goroutine, which waits for data without reading
// (awaitData) and hands the reading to a goroutine started for each burst
// of messages (readBurst): gorilla's read path is deep, and a goroutine
// parked in it would keep a 4 KiB stack for all of a connection's idle
// life, where the shallow wait keeps the minimum 2 KiB.
func (c *wsConn) readLoop() {
	raw := c.waiter()
	if raw == nil { // no shallow wait here: read on this goroutine
		for c.readBurst() {
		}
		return
	}
	for {
		c.awaitData(raw)
		var more bool
		var burst sync.WaitGroup
		burst.Go(func() { more = c.readBurst() })
		burst.Wait()
		if !more {
			return
		}
	}
}

// waiter returns the connection's socket for awaitData, or nil where the
// wait cannot be shallow: no peek on this platform, gorilla not reading
// through the connection's own buffer (then what it holds is not known),
// or a connection that is not a plain socket. A wrapper (TLS, a proxy
// protocol) may buffer bytes of its own while still exposing its socket,
// and a wait on the socket would then leave them unread.
func (c *wsConn) waiter() syscall.RawConn {
	if !canPeek || c.br == nil {
		return nil
	}
	var sc syscall.Conn
	nc := c.conn.NetConn()
	// A listener's wrapper that buffers nothing of its own says so
	// (internal/connlimit); TLS, which does buffer, does not.
	if u, ok := nc.(interface{ UnbufferedConn() net.Conn }); ok {
		if inner := u.UnbufferedConn(); inner != nil {
			nc = inner
		}
	}
	switch nc := nc.(type) {
	case *net.TCPConn:
		sc = nc
	case *net.UnixConn:
		sc = nc
	default:
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// readBurst reads client messages and hands them, in order, to a handler
// goroutine that runs only while messages wait, until gorilla holds no
// unread data. Handling runs queries and mutations, whose deep stacks would
// otherwise stay with the reader. False means the connection is over.
func (c *wsConn) readBurst() bool {
	limit := c.s.cfg.MaxMessageBytes
	for {
		kind, r, err := c.conn.NextReader()
		if err != nil {
			return false
		}
		if c.refused {
			continue // NextReader discards what the last one left
		}
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return false
		}
		switch {
		case int64(len(data)) > limit:
			c.s.metrics.sessionRefused(refusedTooBig)
			c.refuse(websocket.CloseMessageTooBig, fmt.Sprintf("message too large: a client message may be at most %d bytes", limit))
			continue
		case kind == websocket.TextMessage && !utf8.Valid(data):
			c.s.metrics.sessionRefused(refusedInvalidUTF8)
			c.refuse(websocket.CloseInvalidFramePayloadData, "invalid UTF-8 in a text frame")
			continue
		}
		if !c.deliver(data) {
			return false
		}
		c.mu.Lock()
		start := c.claimLocked(&c.handling)
		c.mu.Unlock()
		if start {
			go c.handleLoop()
		}
		if c.br == nil || c.br.Buffered() == 0 {
			return true
		}
	}
}

// refuse ends the session over a frame it cannot take: FatalError with
// msg, then Close with code (the writer sends both, after what it has
// queued). What the client sends after it is read and discarded, for
// closeGrace, so that closing does not reset the connection before the
// client has read why.
func (c *wsConn) refuse(code int, msg string) {
	c.refused = true
	c.closeCode.Store(int32(code))
	c.sess.Fatal(msg)
	c.conn.SetReadDeadline(time.Now().Add(closeGrace)) //nolint:errcheck
	c.s.log.Info("closing session: refused a client frame", slog.String("why", msg), slog.String("remote", c.conn.RemoteAddr().String()))
}

// deliver queues a client message for the handler, waiting while the inbox
// is full; false when the connection ends first.
func (c *wsConn) deliver(data []byte) bool {
	select {
	case c.inbox <- data:
		return true
	default:
	}
	select {
	case c.inbox <- data:
		return true
	case <-c.endedChan():
		return false
	}
}

// awaitData blocks until the socket has something to read: data, EOF or
// an error, which the read that follows reports. It returns at once when
// gorilla's buffer already holds data (which no socket event announces).
func (c *wsConn) awaitData(raw syscall.RawConn) {
	if c.br.Buffered() > 0 {
		return
	}
	// The runtime's poller parks the goroutine until the socket is
	// readable; socketReadable peeks, so nothing is consumed.
	raw.Read(socketReadable) //nolint:errcheck // the read that follows reports errors
}

// handleLoop hands waiting client messages to the protocol (handle) until
// none is left, under a context that end cancels.
func (c *wsConn) handleLoop() {
	defer c.workers.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.cancelHandling = cancel
	c.mu.Unlock()
	for {
		var data []byte
		select {
		case data = <-c.inbox:
		default:
			c.mu.Lock()
			if len(c.inbox) == 0 { // the reader kicks again after its next send
				c.handling = false
				c.cancelHandling = nil
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if !c.s.handle(ctx, c.sess, data) {
			// A protocol violation: the writer sends FatalError and
			// closes; nothing after it is handled.
			c.mu.Lock()
			c.done = true
			c.mu.Unlock()
			return
		}
	}
}

// writeLoop sends a due ping and what the session has (writeOutbox) until
// there is nothing left, then exits; kick starts it again when there is
// more.
func (c *wsConn) writeLoop() {
	defer c.workers.Done()
	for {
		c.mu.Lock()
		c.signalled = false
		ping := c.pingDue
		c.pingDue = false
		c.mu.Unlock()
		if ping {
			if err := c.writeFrame(pingMessage); err != nil {
				c.fail()
				return
			}
		}
		if !c.s.writeOutbox(c, c.sess.Take()) {
			c.fail()
			return
		}
		c.mu.Lock()
		if !c.signalled && !c.pingDue {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// errWriteTimeout fails a write that did not finish within WriteTimeout.
var errWriteTimeout = errors.New("write timed out: the client stopped reading")

// writeFrame sends one text message within the write timeout. The
// timeout is an alarm rather than the socket's write deadline: a deadline
// stays in the runtime's timer heap for WriteTimeout after the write, so
// every connection pinged within the last WriteTimeout would hold one (see
// alarms). The alarm is not set for every write either, which would take
// the alarms' lock twice per message sent: it is set when a write starts
// and none is set, and when it runs it looks at the write under way then
// (checkWrite).
func (c *wsConn) writeFrame(b []byte) error {
	c.mu.Lock()
	c.writeStart = time.Now()
	if !c.writeArmed {
		c.writeArmed = true
		c.writeDue.reset(c.s.cfg.WriteTimeout)
	}
	c.mu.Unlock()
	err := c.conn.WriteMessage(websocket.TextMessage, b)
	c.mu.Lock()
	c.writeStart = time.Time{}
	if c.timedOut && err == nil {
		err = errWriteTimeout // it ran as the write finished: the socket is closed
	}
	c.mu.Unlock()
	return err
}

// checkWrite runs on the write alarm. A write under way for WriteTimeout
// means the client stopped reading: closing the socket ends the write,
// and with it the connection. A younger write sets the alarm for its own
// time; with none under way the alarm rests until the next write.
func (c *wsConn) checkWrite() {
	c.mu.Lock()
	if c.writeStart.IsZero() {
		c.writeArmed = false
		c.mu.Unlock()
		return
	}
	if left := c.s.cfg.WriteTimeout - time.Since(c.writeStart); left > 0 {
		c.writeDue.reset(left)
		c.mu.Unlock()
		return
	}
	c.timedOut = true
	c.mu.Unlock()
	if c.sess != nil {
		c.sess.StoppedReading()
	}
	c.s.log.Info("closing session", slog.String("reason", "client too slow: it stopped reading"),
		slog.Duration("write_timeout", c.s.cfg.WriteTimeout), slog.String("remote", c.conn.RemoteAddr().String()))
	c.conn.Close()
}

// closeWith closes the connection as the protocol ends a session: with
// code 1000 (normal closure) after an AuthError, which the client answers
// by reconnecting with a fresh token, and 1008 (policy violation)
// otherwise.
func (c *wsConn) closeWith(reason string, authFailed bool) {
	code := websocket.ClosePolicyViolation
	switch {
	case authFailed:
		code = websocket.CloseNormalClosure
	case c.closeCode.Load() != 0:
		code = int(c.closeCode.Load())
	}
	c.sendClose(code, reason)
}

// sendClose sends a Close frame (safe alongside a running writer). The
// reason is cut to fit: a control frame carries at most 125 bytes.
func (c *wsConn) sendClose(code int, reason string) {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	if c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second)) == nil {
		c.closeSent.Store(true)
	}
}
