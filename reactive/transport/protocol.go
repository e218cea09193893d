package transport

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/reactive"
)

// The Convex sync protocol, apart from any transport. A transport owns a
// connection and its session (newSession); it hands each client message
// to handle, one at a time and in the order received; whenever the session
// wakes it, it passes what the session's Take returns to writeOutbox, from
// one goroutine at a time (which may run alongside handle); and it
// implements frameWriter. Everything the protocol decides (which message
// means what, what is sent, in which order, and when the connection ends)
// is decided here, once for every transport.

// frameWriter is how writeOutbox reaches a transport's client: the
// transport frames bytes and closes its connection, and decides nothing
// else. A transport's frameWriter is used by one writeOutbox at a time.
type frameWriter interface {
	// writeFrame sends b, one whole protocol message (a JSON object), as
	// one frame. b is valid only during the call: it may be a pooled
	// buffer that the next transition reuses, so writeFrame copies what it
	// keeps. An error means the connection is over: nothing more is
	// written to it.
	writeFrame(b []byte) error
	// closeWith closes the connection after the frames written before it,
	// telling the client reason. authFailed says the session ended on an
	// AuthError, which the client answers by reconnecting with a fresh
	// token; otherwise the session ended for good (a protocol violation
	// after its FatalError, or a client too slow to keep up). A transport
	// maps the two to its own codes. Nothing is written after it.
	closeWith(reason string, authFailed bool)
}

// pingMessage is the protocol's Ping, which a transport sends to keep an
// idle connection alive; the client only notes that the server is there.
var pingMessage = []byte(`{"type":"Ping"}`)

// transitionBuffers holds encoding buffers shared by every connection's
// writer: a buffer is needed only while one transition is written
// (writeFrame does not keep it; WebSocket's WriteMessage copies it into
// the connection's frame buffer), so an idle connection holds none.
var transitionBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer is the largest buffer kept for reuse; a rare huge
// transition is left to the garbage collector.
const maxPooledBuffer = 1 << 20

func putTransitionBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		transitionBuffers.Put(b)
	}
}

// statusQuery is the sync URL's query parameter by which a client opts in
// to ParleyStatus messages: ?parleyStatus=1. Parley's own client
// (@parley/client) sets it and removes those messages before the official
// Convex client, which it wraps, sees them; a client that does not set it
// never gets one.
const statusQuery = "parleyStatus"

// wantsStatus reports whether the client opening a session at r opted in
// to ParleyStatus messages.
func wantsStatus(r *http.Request) bool { return r.URL.Query().Get(statusQuery) == "1" }

// newSession opens the session of a new connection. onWake is its
// reactive.SessionConfig.OnWake: the session has something to send, and
// the transport should make sure its writer runs. status says the client
// opted in to ParleyStatus messages (wantsStatus).
func (s *Server) newSession(onWake func(), status bool) *reactive.Session {
	sess := s.cfg.Engine.NewSession(reactive.SessionConfig{MaxPendingBytes: s.cfg.MaxPendingBytes, Logger: s.log, OnWake: onWake, Status: status})
	if d := s.cfg.ConnectTimeout; d > 0 {
		// Not stopped on Connect: it finds the session connected (or
		// closed, where a FatalError goes nowhere) and does nothing.
		s.alarms.after(d, func() {
			if !sess.Connected() {
				s.metrics.sessionRefused(refusedConnectTimeout)
				sess.Fatal("no Connect within " + d.String() + " of opening the connection")
			}
		})
	}
	return sess
}

// handle handles one client message under ctx, which the transport
// cancels when the connection ends. False means a protocol violation: the
// session now holds a FatalError and will close after it, and the
// transport handles nothing more of this connection.
func (s *Server) handle(ctx context.Context, sess *reactive.Session, data []byte) bool {
	if err := s.dispatch(ctx, sess, data); err != nil {
		sess.Fatal(err.Error())
		return false
	}
	return true
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

// dispatch parses a client message and applies it to the session; an
// error is a protocol violation, which handle answers.
func (s *Server) dispatch(ctx context.Context, sess *reactive.Session, data []byte) error {
	m, err := parseMessage(data)
	if err != nil {
		return err
	}
	if needsConnect[m.Type] && !sess.Connected() {
		// The protocol opens with Connect, which names the session that
		// scopes mutation idempotency; nothing else comes first.
		return errors.New(m.Type + " before Connect: a session starts with a Connect message")
	}
	switch m.Type {
	case "Connect":
		sess.Connect(m.SessionID, m.ConnectionCount > 0)
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
		sess.QueueMutation(ctx, *m.RequestID, m.UDFPath, args)
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
			id, err := s.cfg.Verifier.Verify(ctx, *m.Value)
			if err != nil {
				sess.AuthFailed(*m.BaseVersion, "Could not verify token: "+err.Error())
				return nil
			}
			if err := s.caps.enterUser(sess, id); err != nil {
				// A FatalError, not an AuthError: a fresh token would
				// not help, and the client would reconnect at once.
				s.metrics.sessionRefused(refusedUserSessions)
				return err
			}
			if err := sess.Authenticate(ctx, *m.BaseVersion, id); err != nil && ctx.Err() == nil {
				return err
			}
			s.expiry(sess, *m.BaseVersion+1, id)
		case "None":
			s.caps.enterUser(sess, nil) //nolint:errcheck // nobody holds no place: never refused
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

// needsConnect are the client messages that may come only after Connect.
var needsConnect = map[string]bool{"ModifyQuerySet": true, "Mutation": true, "Action": true, "Authenticate": true}

// expiry arms the session's token expiry: once the token's exp passes, the
// session gets an AuthError and is closed, and the client reconnects with a
// fresh token. The alarm belongs to the session and is stopped with it.
func (s *Server) expiry(sess *reactive.Session, version uint32, id *functions.Identity) {
	if id.ExpiresAt.IsZero() {
		sess.SetExpiry(nil)
		return
	}
	sess.SetExpiry(s.alarms.after(time.Until(id.ExpiresAt), func() {
		sess.Expired(version, "token expired")
	}))
}

// writeOutbox writes an outbox through w, in the protocol's order: its
// messages, then its transition, then, when the session is ending, the
// close. False means the connection is over (a failed write, or the
// session closed it).
func (s *Server) writeOutbox(w frameWriter, out reactive.Outbox) bool {
	for _, m := range out.Messages {
		b, err := encodeMessage(m)
		if err != nil {
			s.log.Error("encode message", slog.Any("error", err))
			return false
		}
		if err := w.writeFrame(b); err != nil {
			return false
		}
	}
	if out.Transition != nil {
		buf := transitionBuffers.Get().(*[]byte)
		*buf = appendTransition((*buf)[:0], out.Transition)
		err := w.writeFrame(*buf)
		putTransitionBuffer(buf)
		if err != nil {
			return false
		}
	}
	if out.Close != "" {
		authFailed := out.Close == reactive.CloseAuthFailed
		if !authFailed {
			s.log.Info("closing session", slog.String("reason", out.Close))
		}
		w.closeWith(out.Close, authFailed)
		return false
	}
	return true
}
