package transport

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/reactive"
)

var pingMessage = []byte(`{"type":"Ping"}`)

// transitionBuffers holds encoding buffers shared by every connection's
// writer: a buffer is needed only while one transition is written
// (WriteMessage copies it into the connection's frame buffer), so an idle
// connection holds none.
var transitionBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer is the largest buffer kept for reuse; a rare huge
// transition is left to the garbage collector.
const maxPooledBuffer = 1 << 20

func putTransitionBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		transitionBuffers.Put(b)
	}
}

// serveSync runs one WebSocket connection: this goroutine reads, one
// writer goroutine writes. It returns after both are done.
func (s *Server) serveSync(w http.ResponseWriter, r *http.Request) {
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	s.wg.Add(1)
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(s.root)
	defer cancel()
	sess := s.cfg.Engine.NewSession(reactive.SessionConfig{MaxPendingBytes: s.cfg.MaxPendingBytes, Logger: s.log})
	defer sess.Close()
	conn.SetReadLimit(s.cfg.MaxMessageBytes)

	done := make(chan struct{})
	go func() {
		defer close(done)
		defer conn.Close()
		defer cancel()
		s.writeLoop(ctx, conn, sess)
	}()
	s.readLoop(ctx, conn, sess)
	cancel()
	<-done
}

func (s *Server) readLoop(ctx context.Context, conn *websocket.Conn, sess *reactive.Session) {
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := s.handle(ctx, sess, data); err != nil {
			// A protocol violation: the writer sends FatalError and closes.
			sess.Fatal(err.Error())
			<-ctx.Done()
			return
		}
	}
}

// parseMessage decodes one client message; errors are protocol violations.
func parseMessage(data []byte) (clientMessage, error) {
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return m, errors.New("invalid message: " + err.Error())
	}
	return m, nil
}

// querySetChanges converts a ModifyQuerySet's modifications.
func querySetChanges(m clientMessage) (adds []reactive.QueryAdd, removes []uint32, err error) {
	if m.BaseVersion == nil {
		return nil, nil, errors.New("ModifyQuerySet without baseVersion")
	}
	for _, mod := range m.Modifications {
		switch mod.Type {
		case "Add":
			args, err := singleArg(mod.Args)
			if err != nil {
				args = json.RawMessage(`null`) // reported as the query's failure
			}
			add := reactive.QueryAdd{QueryID: mod.QueryID, UDFPath: mod.UDFPath, Args: args}
			if mod.Journal != nil {
				add.Journal = *mod.Journal
			}
			adds = append(adds, add)
		case "Remove":
			removes = append(removes, mod.QueryID)
		default:
			return nil, nil, errors.New("unknown query set modification " + mod.Type)
		}
	}
	return adds, removes, nil
}

func (s *Server) handle(ctx context.Context, sess *reactive.Session, data []byte) error {
	m, err := parseMessage(data)
	if err != nil {
		return err
	}
	switch m.Type {
	case "Connect":
		sess.Connect(m.SessionID)
	case "ModifyQuerySet":
		adds, removes, err := querySetChanges(m)
		if err != nil {
			return err
		}
		if err := sess.ModifyQuerySet(ctx, *m.BaseVersion, m.NewVersion, adds, removes); err != nil && ctx.Err() == nil {
			return err
		}
	case "Mutation":
		if m.RequestID == nil {
			return errors.New("Mutation without requestId")
		}
		args, err := singleArg(m.Args)
		if err != nil {
			args = json.RawMessage(`null`)
		}
		sess.Mutation(ctx, *m.RequestID, m.UDFPath, args)
	case "Action":
		if m.RequestID == nil {
			return errors.New("Action without requestId")
		}
		sess.Action(*m.RequestID, m.UDFPath)
	case "Authenticate":
		if m.BaseVersion == nil {
			return errors.New("Authenticate without baseVersion")
		}
		switch m.TokenType {
		case "User":
			if m.Value == nil {
				sess.AuthFailed(*m.BaseVersion, "Authenticate without a token")
				return nil
			}
			id, err := s.cfg.Verifier.Verify(*m.Value)
			if err != nil {
				sess.AuthFailed(*m.BaseVersion, "Could not verify token: "+err.Error())
				return nil
			}
			if err := sess.Authenticate(ctx, *m.BaseVersion, id); err != nil && ctx.Err() == nil {
				return err
			}
			s.expiry(sess, *m.BaseVersion+1, id)
		case "None":
			if err := sess.Authenticate(ctx, *m.BaseVersion, nil); err != nil && ctx.Err() == nil {
				return err
			}
			sess.SetExpiry(nil)
		default:
			sess.AuthFailed(*m.BaseVersion, "Token type "+m.TokenType+" is not supported")
		}
	case "Event":
		s.log.Debug("client event", slog.String("event", string(data)))
	default:
		return errors.New("unknown message type " + m.Type)
	}
	return nil
}

// expiry arms the session's token expiry: once the token's exp passes, the
// session gets an AuthError and is closed, and the client reconnects with a
// fresh token. The timer belongs to the session and is stopped with it.
func (s *Server) expiry(sess *reactive.Session, version uint32, id *functions.Identity) {
	if id.ExpiresAt.IsZero() {
		sess.SetExpiry(nil)
		return
	}
	sess.SetExpiry(time.AfterFunc(time.Until(id.ExpiresAt), func() {
		sess.Expired(version, "token expired")
	}))
}

func (s *Server) writeLoop(ctx context.Context, conn *websocket.Conn, sess *reactive.Session) {
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	write := func(b []byte) error {
		conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)) //nolint:errcheck
		err := conn.WriteMessage(websocket.TextMessage, b)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.log.Info("closing session: client stopped reading",
				slog.Duration("write_timeout", s.cfg.WriteTimeout), slog.String("remote", conn.RemoteAddr().String()))
		}
		return err
	}
	closeWith := func(code int, reason string) {
		if len(reason) > 120 {
			reason = reason[:120]
		}
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second)) //nolint:errcheck
	}
	for {
		select {
		case <-ctx.Done():
			closeWith(websocket.CloseGoingAway, "server shutting down")
			return
		case <-ping.C:
			if err := write(pingMessage); err != nil {
				return
			}
		case <-sess.Wake():
			out := sess.Take()
			for _, m := range out.Messages {
				b, err := encodeMessage(m)
				if err != nil {
					s.log.Error("encode message", slog.Any("error", err))
					return
				}
				if err := write(b); err != nil {
					return
				}
			}
			if out.Transition != nil {
				buf := transitionBuffers.Get().(*[]byte)
				*buf = appendTransition((*buf)[:0], out.Transition)
				err := write(*buf)
				putTransitionBuffer(buf)
				if err != nil {
					return
				}
			}
			if out.Close != "" {
				code := websocket.ClosePolicyViolation
				if out.Close == reactive.CloseAuthFailed {
					code = websocket.CloseNormalClosure
				} else {
					s.log.Info("closing session", slog.String("reason", out.Close))
				}
				closeWith(code, out.Close)
				return
			}
		}
	}
}
