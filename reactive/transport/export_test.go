package transport

import (
	"context"

	"github.com/parley-chat/parley/reactive"
)

// The protocol core, exported for protocol_test.go, which drives it
// through a transport of the test's own.

// FrameWriter is frameWriter with exported methods, for a test's
// transport to implement.
type FrameWriter interface {
	WriteFrame(b []byte) error
	CloseWith(reason string, authFailed bool)
}

// exportedFrameWriter adapts a FrameWriter to frameWriter.
type exportedFrameWriter struct{ w FrameWriter }

func (e exportedFrameWriter) writeFrame(b []byte) error { return e.w.WriteFrame(b) }

func (e exportedFrameWriter) closeWith(reason string, authFailed bool) {
	e.w.CloseWith(reason, authFailed)
}

// NewSession is newSession.
func (s *Server) NewSession(onWake func()) *reactive.Session { return s.newSession(onWake, false) }

// Handle is handle.
func (s *Server) Handle(ctx context.Context, sess *reactive.Session, data []byte) bool {
	return s.handle(ctx, sess, data)
}

// WriteOutbox is writeOutbox through w.
func (s *Server) WriteOutbox(w FrameWriter, out reactive.Outbox) bool {
	return s.writeOutbox(exportedFrameWriter{w}, out)
}
