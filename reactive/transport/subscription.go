package transport

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/reactive"
)

// One subscription over plain HTTP, for clients that want one query's
// results and no sync protocol (a storefront's EventSource, a script):
//
//	GET /api/sse?path=shared/chat:getMessages&args={"conversationId":"…"}
//	GET /api/poll?path=…&args=…&since=TOKEN
//
// Both open a reactive.Session, as a WebSocket connection does, and
// subscribe it to the one query: the engine's subscription, sharing and
// access checks, and the session's MaxPendingBytes bound, are the sync
// protocol's. The caller is anonymous, or the identity of the request's
// Authorization: Bearer token, or of a ticket (?ticket=, see tickets.go;
// an EventSource cannot send headers). A token's expiry ends the stream
// as it ends a WebSocket's authentication.
//
// Each result has a token: 128 bits of the SHA-256 of its value (or of
// its error), so equal results have equal tokens, on any server.
//
// The SSE stream sends each new result as one event,
//
//	id: <token>
//	data: <the value in Convex JSON encoding, as POST /api/query returns it>
//
// and a failed query (an error, or access refused) as
//
//	event: error
//	id: <token>
//	data: {"code":"forbidden","message":"…","status":403}
//
// with the code and message a WebSocket client gets in errorData; the
// stream stays open (the result may change). A heartbeat comment goes
// every PingInterval. After a drop, the client reconnects with the last id
// in the Last-Event-ID header (EventSource does this itself) or the
// lastEventId query parameter (a new EventSource with a new ticket): when
// the current result is the one that id names it is not sent again. The
// stream ends when the token expires, after an event: error with code
// "unauthenticated".
//
// The long poll answers 200 with {"value":…,"token":…,"changed":true} (or
// {"error":{…},"token":…,"changed":true} for a failed query) at once when
// the current result's token differs from since (no since: at once), else
// as soon as the result changes, else after PollTimeout with
// {"token":since,"changed":false}.
//
// Requests that name no function, or whose args are not a JSON object,
// answer 400; a token or ticket that does not verify, 401; all with
// {"code","message","status"}.

// subscription is a parsed single-subscription request.
type subscription struct {
	path string
	args json.RawMessage
	id   *functions.Identity
}

// parseSubscription reads a single-subscription request's function,
// arguments and caller.
func (s *Server) parseSubscription(r *http.Request) (subscription, error) {
	q := r.URL.Query()
	sub := subscription{path: q.Get("path"), args: json.RawMessage(`{}`)}
	if sub.path == "" {
		return sub, functions.Invalid("path is required: the query's name, e.g. path=shared/chat:getMessages")
	}
	if a := q.Get("args"); a != "" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(a), &obj); err != nil || obj == nil {
			return sub, functions.Invalid("args must be a JSON object")
		}
		sub.args = json.RawMessage(a)
	}
	id, err := s.streamIdentity(r)
	if err != nil {
		return sub, err
	}
	sub.id = id
	return sub, nil
}

// subscribe opens a session subscribed to sub's query as sub's caller and
// returns it with its wake-up channel, once the query has a first result.
func (s *Server) subscribe(ctx context.Context, sub subscription) (*reactive.Session, chan struct{}, error) {
	wake := make(chan struct{}, 1)
	sess := s.newSession(func() { notify(wake) }, false)
	if sub.id != nil {
		if err := sess.Authenticate(ctx, 0, sub.id); err != nil {
			sess.Close()
			return nil, nil, err
		}
		s.expiry(sess, 1, sub.id)
	}
	if err := sess.ModifyQuerySet(ctx, 0, 1, []reactive.QueryAdd{{QueryID: 0, UDFPath: sub.path, Args: sub.args}}, nil); err != nil {
		sess.Close()
		return nil, nil, err
	}
	return sess, wake, nil
}

// subResult is one result of a single subscription: its value or error,
// and its token.
type subResult struct {
	value json.RawMessage
	err   *functions.Error
	token string
}

// resultToken names a result: equal results, equal tokens.
func resultToken(value json.RawMessage, err *functions.Error) string {
	h := sha256.New()
	if err != nil {
		h.Write([]byte("e\x00" + err.Code + "\x00" + err.Message))
	} else {
		h.Write([]byte("v\x00"))
		h.Write(value)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// errorBody is a failed result as the endpoints send it.
func errorBody(e *functions.Error) json.RawMessage {
	b, _ := json.Marshal(httpErrorBody{Code: e.Code, Message: e.Message, Status: e.Status})
	return b
}

// subUpdate reads an outbox of a single subscription's session: its query's
// new result (nil: none) and, when the session ends, why (a token that
// expired: an unauthenticated error), or ended alone.
func subUpdate(out reactive.Outbox) (res *subResult, authErr *functions.Error, ended bool) {
	for _, m := range out.Transition.GetModifications() {
		switch {
		case m.QueryID != 0:
		case m.Type == reactive.QueryUpdated:
			v := m.Value
			if len(v) == 0 {
				v = json.RawMessage("null")
			}
			res = &subResult{value: v, token: resultToken(v, nil)}
		case m.Type == reactive.QueryFailed:
			res = &subResult{err: m.Err, token: resultToken(nil, m.Err)}
		}
	}
	for _, m := range out.Messages {
		if a, ok := m.(*reactive.AuthError); ok {
			authErr = &functions.Error{Status: http.StatusUnauthorized, Code: functions.CodeUnauthenticated, Message: a.Message}
		}
	}
	return res, authErr, out.Close != ""
}

// lastEventIDQuery is the query parameter that stands in for the
// Last-Event-ID header (a new EventSource cannot set it).
const lastEventIDQuery = "lastEventId"

// serveSubscriptionSSE serves GET /api/sse.
func (s *Server) serveSubscriptionSSE(w http.ResponseWriter, r *http.Request) {
	sub, err := s.parseSubscription(r)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get(lastEventIDQuery)
	}
	events := r.URL.Query().Get(eventsQuery) == "1"
	if events && last != "" {
		if sub.args, err = withAfter(sub.args, last); err != nil {
			writeHTTPError(w, functions.Invalid("args must be a JSON object"))
			return
		}
	}
	ctx, sess, wake, done, ok := s.openSubscription(w, r, sub, transportSubSSE)
	if !ok {
		return
	}
	defer done()
	e := newSSEWriter(w, s.cfg.WriteTimeout)
	if e.start() != nil {
		return
	}
	pings, stopPings := s.ticker(s.cfg.PingInterval)
	defer stopPings()
	for {
		res, authErr, ended := subUpdate(sess.Take())
		switch {
		case res == nil:
		case events && res.err == nil:
			if err := s.sendEvents(e, res.value, &last, sub.path); err != nil {
				return
			}
		case res.token != last:
			last = res.token
			if res.err != nil {
				err = e.event("error", res.token, errorBody(res.err))
			} else {
				err = e.event("", res.token, res.value)
			}
			if err != nil {
				return
			}
		}
		if authErr != nil {
			e.event("error", "", errorBody(authErr)) //nolint:errcheck // the stream ends
		}
		if ended {
			return
		}
		select {
		case <-wake:
		case <-pings:
			if e.comment("ping") != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// sendEvents sends the items of an events result that follow *last as
// events of their own (see events.go) and moves *last to the newest. A
// result that is not a list of events is an internal error event, logged.
func (s *Server) sendEvents(e *sseWriter, value json.RawMessage, last *string, path string) error {
	items, newest, err := newEvents(value, *last)
	if err != nil {
		s.log.Error("events=1 on a query whose result is not {events: [...]}", slog.String("function", path), slog.Any("error", err))
		return e.event("error", "", errorBody(functions.ErrInternal))
	}
	for _, it := range items {
		if err := e.event(it.typ, it.id, it.raw); err != nil {
			return err
		}
	}
	*last = newest
	return nil
}

// pollResult is GET /api/poll's answer.
type pollResult struct {
	Value   json.RawMessage `json:"value,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
	Token   string          `json:"token"`
	Changed bool            `json:"changed"`
}

// openSubscription opens sub's session for a request of transport tr,
// which ends with the request or the server (ctx); it answers the request
// itself when it cannot (ok false). done closes what it opened.
func (s *Server) openSubscription(w http.ResponseWriter, r *http.Request, sub subscription, tr string) (
	ctx context.Context, sess *reactive.Session, wake chan struct{}, done func(), ok bool) {
	if err := s.refusal(); err != nil {
		writeHTTPError(w, err)
		return nil, nil, nil, nil, false
	}
	if !s.track() {
		writeHTTPError(w, errShuttingDown)
		return nil, nil, nil, nil, false
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.sessionsCtx(), cancel)
	sess, wake, err := s.subscribe(ctx, sub)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("open subscription", slog.Any("error", err))
		}
		writeHTTPError(w, functions.ErrInternal)
		stop()
		cancel()
		s.wg.Done()
		return nil, nil, nil, nil, false
	}
	s.metrics.sessionOpened(tr)
	return ctx, sess, wake, func() {
		s.metrics.sessionClosed(tr)
		sess.Close()
		stop()
		cancel()
		s.wg.Done()
	}, true
}

// serveSubscriptionPoll serves GET /api/poll.
func (s *Server) serveSubscriptionPoll(w http.ResponseWriter, r *http.Request) {
	sub, err := s.parseSubscription(r)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	since := r.URL.Query().Get("since")
	ctx, sess, wake, done, ok := s.openSubscription(w, r, sub, transportSubPoll)
	if !ok {
		return
	}
	defer done()
	timeout, stopTimeout := s.ticker(s.cfg.PollTimeout)
	defer stopTimeout()
	answer := func(p pollResult) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(p) //nolint:errcheck
	}
	for {
		res, authErr, ended := subUpdate(sess.Take())
		if res != nil && res.token != since {
			p := pollResult{Value: res.value, Token: res.token, Changed: true}
			if res.err != nil {
				p.Value, p.Error = nil, errorBody(res.err)
			}
			answer(p)
			return
		}
		if authErr != nil {
			writeHTTPError(w, authErr)
			return
		}
		if ended {
			writeHTTPError(w, &functions.Error{Status: http.StatusServiceUnavailable, Code: functions.CodeUnavailable, Message: "subscription ended"})
			return
		}
		select {
		case <-wake:
		case <-timeout:
			answer(pollResult{Token: since})
			return
		case <-ctx.Done():
			if s.root.Err() != nil && r.Context().Err() == nil {
				answer(pollResult{Token: since})
			}
			return
		}
	}
}
