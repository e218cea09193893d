package faultnet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// dialTimeout bounds one upstream dial.
	dialTimeout = 5 * time.Second
	// afterTrigger is how long a connection that fired CutAfter's trigger
	// still carries the client's bytes upstream.
	afterTrigger = 500 * time.Millisecond
)

// Link is a TCP proxy to one upstream address that can be cut and
// restored. Safe for concurrent use.
type Link struct {
	ln               net.Listener
	network, address string

	mu      sync.Mutex
	down    bool
	closed  bool
	trigger []byte // see CutAfter; nil when unarmed
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// New listens on 127.0.0.1:0 and proxies every connection to address on
// network ("tcp" or "unix").
func New(network, address string) (*Link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen: %w", err)
	}
	l := &Link{ln: ln, network: network, address: address, conns: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.accept()
	return l, nil
}

// Addr is the address clients connect to instead of the upstream's.
func (l *Link) Addr() *net.TCPAddr { return l.ln.Addr().(*net.TCPAddr) }

func (l *Link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.down || l.closed {
			l.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout(l.network, l.address, dialTimeout)
		if err != nil {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[c], l.conns[up] = struct{}{}, struct{}{}
		l.wg.Add(2)
		l.mu.Unlock()
		muted := new(atomic.Bool)
		go l.forward(up, c, muted)
		go l.backward(c, up, muted)
	}
}

// forward copies client bytes upstream and fires the
// trigger CutAfter armed. When a read holds its pattern, replies on this
// connection are dropped from then on (muted), every other connection is
// closed and new ones refused, and what the client still sends in the
// next moment (the rest of its batch) is let through before the
// connection is closed.
func (l *Link) forward(dst, src net.Conn, muted *atomic.Bool) {
	defer l.wg.Done()
	defer l.drop(dst, src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.mu.Lock()
			if l.trigger != nil && bytes.Contains(buf[:n], l.trigger) {
				muted.Store(true)
				l.trigger, l.down = nil, true
				for c := range l.conns {
					if c != dst && c != src {
						c.Close()
						delete(l.conns, c)
					}
				}
				_ = src.SetReadDeadline(time.Now().Add(afterTrigger))
			}
			l.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// backward copies upstream bytes to the client until the connection is
// muted; after that it reads and drops them.
func (l *Link) backward(dst, src net.Conn, muted *atomic.Bool) {
	defer l.wg.Done()
	defer l.drop(dst, src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !muted.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// drop closes both ends of a proxied connection and forgets them.
func (l *Link) drop(a, b net.Conn) {
	a.Close()
	b.Close()
	l.mu.Lock()
	delete(l.conns, a)
	delete(l.conns, b)
	l.mu.Unlock()
}

// CutAfter arms a one-shot cut: the first time a client sends bytes that
// contain pattern (within one read), the link is cut, except that those
// bytes still reach the upstream, over a connection closed right after
// them: a request that arrived whose reply was lost.
func (l *Link) CutAfter(pattern []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trigger = bytes.Clone(pattern)
}

// Cut closes every proxied connection and refuses new ones until Restore.
func (l *Link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = true
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

// Restore lets connections through again.
func (l *Link) Restore() {
	l.mu.Lock()
	l.down = false
	l.mu.Unlock()
}

// Down reports whether the link is cut.
func (l *Link) Down() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// Close stops the link and waits for its goroutines.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	err := l.ln.Close()
	l.Cut()
	l.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
