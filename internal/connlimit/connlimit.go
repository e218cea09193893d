// Package connlimit caps the connections an HTTP server holds open, so
// that a flood of sockets that never finish a request cannot take the
// process to its file limit, where accept fails and every client (and
// the load balancer's health check) times out.
//
// Past Max-Reserve a new connection gets a fast 503 and is closed, unless
// its request line (read within probeWait, the connection holding no
// place meanwhile) asks for one of the reserved paths (/healthz,
// /metrics): those take the last Reserve places, so an attack that holds
// every other place still leaves the node observable.
package connlimit

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reasons a connection was refused, for Config.Refused.
const (
	ReasonFull     = "full"     // only the reserve is left, and it is not a health check
	ReasonReserved = "reserved" // a health check, and the reserve is taken too
)

// Config configures Listen.
type Config struct {
	// Max is the most connections open at once. Required (FromFileLimit
	// derives one).
	Max int
	// Reserve is how many of Max only requests for ReservedPaths may take.
	Reserve int
	// ReservedPaths are the paths the reserve admits.
	ReservedPaths []string
	// Refused is called for every connection refused, with its reason.
	// Nil: not counted.
	Refused func(reason string)
}

// FromFileLimit is a Max for this process: its open-file limit less
// headroom for everything else that takes a descriptor (database pools,
// the replication stream, media files, NATS): a tenth, at least 64.
func FromFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1 << 16
	}
	cur := int(min(rl.Cur, 1<<30))
	return max(cur-max(cur/10, 64), 16)
}

// Listener is a net.Listener that holds at most Config.Max connections.
type Listener struct {
	inner net.Listener
	cfg   Config
	open  atomic.Int64

	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	start sync.Once
	once  sync.Once
}

// Listen wraps ln. It accepts from the first Accept on; Close stops it.
func Listen(ln net.Listener, cfg Config) *Listener {
	return &Listener{inner: ln, cfg: cfg, conns: make(chan net.Conn), errs: make(chan error, 1), done: make(chan struct{})}
}

// Open is how many connections are open.
func (l *Listener) Open() int { return int(l.open.Load()) }

func (l *Listener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			// EMFILE and its kin pass (the descriptors the headroom
			// keeps run out, for a moment): wait and accept again, as
			// net/http does, instead of ending the server's accepting.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
				continue
			case <-l.done:
				return
			}
		}
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
			}
			return
		}
		backoff = 0
		tc := &conn{Conn: c, l: l}
		if l.open.Load() < int64(l.cfg.Max-l.cfg.Reserve) {
			tc.counted = true
			l.open.Add(1)
			l.hand(tc)
			continue
		}
		go l.probe(tc) // holds no place while it is looked at
	}
}

// hand gives c to Accept's caller.
func (l *Listener) hand(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// probeWait is how long a connection past the reserve's threshold may take
// to send its request line: a health checker sends it at once.
const probeWait = 250 * time.Millisecond

// probe reads the request line of a connection that came when only the
// reserve is left, and lets it in only for a reserved path and while the
// reserve has room.
func (l *Listener) probe(c *conn) {
	c.SetReadDeadline(time.Now().Add(probeWait)) //nolint:errcheck
	c.probed = true
	br := bufio.NewReaderSize(c.Conn, 1024)
	line, err := br.ReadSlice('\n')
	if err != nil || !l.reserved(line) {
		l.refuse(c, ReasonFull)
		return
	}
	if l.open.Add(1) > int64(l.cfg.Max) {
		l.open.Add(-1)
		l.refuse(c, ReasonReserved)
		return
	}
	c.counted = true
	c.SetReadDeadline(time.Time{}) //nolint:errcheck
	c.r = io.MultiReader(bytes.NewReader(bytes.Clone(line)), br)
	l.hand(c)
}

func (l *Listener) reserved(line []byte) bool {
	f := strings.Fields(string(line))
	if len(f) < 2 || f[0] != "GET" {
		return false
	}
	path, _, _ := strings.Cut(f[1], "?")
	for _, p := range l.cfg.ReservedPaths {
		if path == p {
			return true
		}
	}
	return false
}

// fullBody and full are the answer past the limit.
const fullBody = "this server is at its limit of open connections\n"

var full = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n" +
	"Connection: close\r\nContent-Length: " + strconv.Itoa(len(fullBody)) + "\r\n\r\n" + fullBody

// refuse answers 503 and closes c: what the client sent (a request line
// and headers, up to 4 KiB in 200 ms) is read first, so that closing does
// not reset the connection before the client reads the answer.
func (l *Listener) refuse(c *conn, reason string) {
	if l.cfg.Refused != nil {
		l.cfg.Refused(reason)
	}
	if !c.probed {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond)) //nolint:errcheck
		buf := make([]byte, 4096)
		c.Conn.Read(buf) //nolint:errcheck // whatever came
	}
	c.SetWriteDeadline(time.Now().Add(time.Second)) //nolint:errcheck
	io.WriteString(c.Conn, full)                    //nolint:errcheck
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		tc.CloseWrite() //nolint:errcheck
	}
	c.Close()
}

// Accept returns the next connection let in.
func (l *Listener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.inner.Close()
}

// Addr is the inner listener's.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// conn counts itself out once closed; r, when set, is read first (a
// probed request line).
type conn struct {
	net.Conn
	l       *Listener
	r       io.Reader
	probed  bool // its request line was read (probe)
	counted bool // it holds a place
	closed  atomic.Bool
}

func (c *conn) Read(p []byte) (int, error) {
	if c.r != nil {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *conn) Close() error {
	if c.closed.CompareAndSwap(false, true) && c.counted {
		c.l.open.Add(-1)
	}
	return c.Conn.Close()
}

// UnbufferedConn is the socket under c when c holds no bytes of its own
// (nil for a probed health check, whose request line it holds): a
// transport may wait on it directly (reactive/transport's shallow
// wait of idle WebSocket sessions).
func (c *conn) UnbufferedConn() net.Conn {
	if c.r != nil {
		return nil
	}
	return c.Conn
}

// CloseWrite half-closes the socket, as net/http does after an answer to
// a request whose body it did not read (so the client reads the answer
// instead of a reset).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// ReadFrom lets net/http send a file with sendfile, as on a bare socket.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
