package syncclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Errors.
var (
	// ErrClosed is returned by calls on a Client whose connection has
	// ended; Err wraps it with the cause (a *websocket.CloseError when the
	// server closed the connection).
	ErrClosed = errors.New("syncclient: connection closed")
	// ErrProtocol wraps every violation of the protocol the client
	// observed; see ProtocolErrors.
	ErrProtocol = errors.New("syncclient: protocol violation")
)

// DefaultClientVersion is the client version in the sync URL, the one
// Parley's wire format follows.
const DefaultClientVersion = "1.48.0"

// maxRecorded bounds the protocol and auth errors a Client keeps.
const maxRecorded = 100

// Options configures Dial.
type Options struct {
	// Token is a JWT sent in Authenticate{tokenType:"User"} right after
	// Connect. Zero means the client stays anonymous.
	Token string
	// SessionID is sent in Connect; the server scopes mutation idempotency
	// by it. Zero means a random UUID v4.
	SessionID string
	// ClientVersion is the version in the sync URL. Zero means
	// DefaultClientVersion.
	ClientVersion string
	// InactivityTimeout closes the connection when no message (a Ping
	// counts) arrives for that long, as the official client does. Zero
	// means 60s; negative means never.
	InactivityTimeout time.Duration
	// Dialer opens the WebSocket. Nil means websocket.DefaultDialer.
	Dialer *websocket.Dialer
	// Header is sent with the upgrade request. Nil means none.
	Header http.Header
}

// Version is the client's protocol state as the server last reported it.
type Version struct {
	QuerySet uint32
	Identity uint32
	TS       uint64 // a WAL position on Parley
}

// Update is one result of a subscribed query.
type Update struct {
	// Value is the query's result (Convex JSON); nil when Failed.
	Value json.RawMessage
	// Failed reports a QueryFailed; ErrorMessage and ErrorData describe it.
	Failed       bool
	ErrorMessage string
	// ErrorData is the errorData object; nil when absent or not an object.
	ErrorData map[string]any
	// TS is the endVersion ts of the Transition that carried the result.
	TS uint64
	// FromTS is that Transition's startVersion ts: the client held the
	// previous result at least until FromTS.
	FromTS uint64
	// Journal is the journal sent with the result (QueryUpdated and
	// QueryFailed); nil when absent or null. Pass it to SubscribeJournal to
	// resubscribe the query as a reconnecting official client does.
	Journal *string
	// Received is when the reader read the message that carried the
	// result (the last part of a chunked Transition): the moment the
	// client first held it, before anyone consumed Updates.
	Received time.Time

	rawErrorData json.RawMessage
}

func (u Update) same(v Update) bool {
	if u.Failed != v.Failed || (u.Journal == nil) != (v.Journal == nil) ||
		(u.Journal != nil && *u.Journal != *v.Journal) {
		return false
	}
	if u.Failed {
		return u.ErrorMessage == v.ErrorMessage && bytes.Equal(u.rawErrorData, v.rawErrorData)
	}
	return bytes.Equal(u.Value, v.Value)
}

// FunctionError is a failed mutation: the server's message and errorData.
type FunctionError struct {
	UDFPath string
	Message string
	// Data is the errorData object; nil when absent.
	Data map[string]any
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("%s: %s", e.UDFPath, e.Message)
}

// Code returns errorData.code, or "" when there is none.
func (e *FunctionError) Code() string {
	c, _ := e.Data["code"].(string)
	return c
}

// AuthError is an AuthError message from the server.
type AuthError struct {
	Message             string
	BaseVersion         uint32
	AuthUpdateAttempted bool
}

func (e *AuthError) Error() string { return "syncclient: authentication failed: " + e.Message }

// SubStats counts what a Subscription received.
type SubStats struct {
	Updates   int // results received (QueryUpdated and QueryFailed)
	Unchanged int // results equal to the one before them
}

// Client is one connection speaking the sync protocol. Safe for concurrent
// use.
type Client struct {
	conn       *websocket.Conn
	sessionID  string
	inactivity time.Duration
	done       chan struct{} // closed when the reader has exited
	closeOnce  sync.Once

	wmu sync.Mutex // serialises writes; taken before mu

	mu            sync.Mutex // guards the fields below
	closing       bool
	err           error
	version       Version
	qsSent        uint32 // newVersion of the last ModifyQuerySet sent
	idSent        uint32 // identity version after the last Authenticate sent
	authErrsSeen  int    // len(authErrs) when the last Authenticate was sent
	nextQueryID   uint32
	nextRequestID uint32
	subs          map[uint32]*Subscription // live, and removed but not yet acknowledged
	unsettled     map[uint32]*Subscription // awaiting a first result or a QueryRemoved
	calls         map[uint32]*call
	protoErrs     []error
	authErrs      []AuthError
	chunks        []string
	chunkID       string
	changed       chan struct{} // closed and replaced after every message
	received      time.Time     // when the message being dispatched was read
}

type call struct {
	udfPath   string
	done      chan struct{}
	completed bool // success response received; waiting for a transition
	ts        uint64
	value     json.RawMessage
	err       error
}

// Dial connects to a Parley (or Convex) deployment at baseURL
// ("http://127.0.0.1:3210"; ws:// and https:// work too), sends Connect and,
// when opts.Token is set, Authenticate. ctx bounds the dial only. It does
// not wait for the token to be accepted; see WaitAuth.
func Dial(ctx context.Context, baseURL string, opts Options) (*Client, error) {
	version := opts.ClientVersion
	if version == "" {
		version = DefaultClientVersion
	}
	u, err := syncURL(baseURL, version)
	if err != nil {
		return nil, err
	}
	dialer := opts.Dialer
	if dialer == nil {
		dialer = websocket.DefaultDialer
	}
	conn, _, err := dialer.DialContext(ctx, u, opts.Header)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	c := &Client{
		conn: conn, sessionID: opts.SessionID, inactivity: opts.InactivityTimeout,
		done: make(chan struct{}), subs: map[uint32]*Subscription{}, unsettled: map[uint32]*Subscription{},
		calls: map[uint32]*call{}, changed: make(chan struct{}),
	}
	if c.sessionID == "" {
		c.sessionID = newUUID()
	}
	if c.inactivity == 0 {
		c.inactivity = 60 * time.Second
	}
	reason := "InitialConnect"
	if err := c.write(connectMsg{Type: "Connect", SessionID: c.sessionID, LastCloseReason: &reason,
		ClientTS: time.Now().UnixMilli()}); err != nil {
		conn.Close()
		return nil, err
	}
	if opts.Token != "" {
		tok := opts.Token
		c.idSent = 1
		if err := c.write(authenticateMsg{Type: "Authenticate", TokenType: "User", Value: &tok, BaseVersion: 0}); err != nil {
			conn.Close()
			return nil, err
		}
	}
	go c.read()
	return c, nil
}

func syncURL(baseURL, version string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("parse url %q: %w", baseURL, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("url %q: want http, https, ws or wss", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/api/" + version + "/sync"
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String(), nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// SessionID returns the session id sent in Connect.
func (c *Client) SessionID() string { return c.sessionID }

// write sends one message. The caller holds wmu, or is Dial (before the
// Client is shared).
func (c *Client) write(m any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("%w: write: %w", ErrClosed, err)
	}
	return nil
}

// Subscribe adds a query to the query set (one ModifyQuerySet). args is
// encoded as JSON (json.RawMessage is sent as is; nil means {}). It returns
// at once; results arrive on the Subscription.
func (c *Client) Subscribe(udfPath string, args any) (*Subscription, error) {
	return c.SubscribeJournal(udfPath, args, nil)
}

// SubscribeJournal is Subscribe with the journal of an earlier
// subscription of the same query (Update.Journal) in the Add, as the
// official client sends after a reconnect; nil sends none.
func (c *Client) SubscribeJournal(udfPath string, args any, journal *string) (*Subscription, error) {
	wargs, err := encodeArgs(args)
	if err != nil {
		return nil, err
	}
	if err := c.lockUsable(); err != nil {
		return nil, err
	}
	defer c.wmu.Unlock()
	s := &Subscription{c: c, id: c.nextQueryID, udfPath: udfPath, args: wargs[0],
		addVersion: c.qsSent + 1, updates: make(chan Update, 1), first: make(chan struct{})}
	c.nextQueryID++
	base := c.qsSent
	c.qsSent++
	c.subs[s.id] = s
	c.unsettled[s.id] = s
	c.mu.Unlock()
	err = c.write(modifyQuerySetMsg{Type: "ModifyQuerySet", BaseVersion: base, NewVersion: base + 1,
		Modifications: []queryModMsg{{Type: "Add", QueryID: s.id, UDFPath: udfPath, Args: wargs, Journal: journal}}})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Mutation calls a mutation and returns its result once a Transition that
// arrived after the MutationResponse has reached the mutation's ts, so
// every subscription already reflects the write. A failed mutation returns
// a *FunctionError at once.
func (c *Client) Mutation(ctx context.Context, udfPath string, args any) (json.RawMessage, error) {
	v, _, err := c.MutationTS(ctx, udfPath, args)
	return v, err
}

// MutationTS is Mutation that also returns the mutation's ts.
func (c *Client) MutationTS(ctx context.Context, udfPath string, args any) (json.RawMessage, uint64, error) {
	p, err := c.Send(udfPath, args)
	if err != nil {
		return nil, 0, err
	}
	return p.Wait(ctx)
}

// Pending is a mutation sent and not waited for (Send).
type Pending struct {
	rid uint32
	cl  *call
}

// Send sends a mutation without waiting for its answer, as a client
// replaying what it queued offline does: mutations go out in the order
// of the Send calls. Wait gives its outcome.
func (c *Client) Send(udfPath string, args any) (*Pending, error) {
	wargs, err := encodeArgs(args)
	if err != nil {
		return nil, err
	}
	if err := c.lockUsable(); err != nil {
		return nil, err
	}
	rid := c.nextRequestID
	c.nextRequestID++
	cl := &call{udfPath: udfPath, done: make(chan struct{})}
	c.calls[rid] = cl
	c.mu.Unlock()
	err = c.write(mutationMsg{Type: "Mutation", RequestID: rid, UDFPath: udfPath, Args: wargs})
	c.wmu.Unlock()
	if err != nil {
		return nil, err
	}
	return &Pending{rid: rid, cl: cl}, nil
}

// Done is closed once the mutation's answer is in (then Wait returns at
// once).
func (p *Pending) Done() <-chan struct{} { return p.cl.done }

// Wait returns the mutation's result and ts as MutationTS does.
func (p *Pending) Wait(ctx context.Context) (json.RawMessage, uint64, error) {
	select {
	case <-p.cl.done:
		return p.cl.value, p.cl.ts, p.cl.err
	case <-ctx.Done():
		// The call stays registered: its response, if it comes, is expected.
		return nil, 0, fmt.Errorf("mutation %s (request %d): %w", p.cl.udfPath, p.rid, ctx.Err())
	}
}

// Authenticate sends a new token (Authenticate{tokenType:"User"}), or logs
// out when token is "" (tokenType "None"). See WaitAuth.
func (c *Client) Authenticate(token string) error {
	if err := c.lockUsable(); err != nil {
		return err
	}
	defer c.wmu.Unlock()
	base := c.idSent
	c.idSent++
	c.authErrsSeen = len(c.authErrs)
	c.mu.Unlock()
	m := authenticateMsg{Type: "Authenticate", TokenType: "None", BaseVersion: base}
	if token != "" {
		m.TokenType, m.Value = "User", &token
	}
	return c.write(m)
}

// WaitAuth waits until a Transition confirms the last Authenticate (its
// identity version reaches the one sent). It returns an *AuthError if the
// server rejected the token instead, nil at once when no token was sent.
func (c *Client) WaitAuth(ctx context.Context) error {
	return c.wait(ctx, func() (bool, error) {
		if len(c.authErrs) > c.authErrsSeen {
			e := c.authErrs[len(c.authErrs)-1]
			return true, &e
		}
		return c.version.Identity >= c.idSent, nil
	})
}

// WaitTS waits until the client's ts reaches ts.
func (c *Client) WaitTS(ctx context.Context, ts uint64) error {
	return c.wait(ctx, func() (bool, error) { return c.version.TS >= ts, nil })
}

// wait re-evaluates cond (under mu) after every server message until it
// reports done, ctx ends or the connection does.
func (c *Client) wait(ctx context.Context, cond func() (bool, error)) error {
	for {
		c.mu.Lock()
		ok, err := cond()
		ch, cerr := c.changed, c.err
		c.mu.Unlock()
		if ok {
			return err
		}
		if cerr != nil {
			return cerr
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Version returns the version the client holds (the last Transition's end).
func (c *Client) Version() Version {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// TS returns the client's current ts.
func (c *Client) TS() uint64 { return c.Version().TS }

// ProtocolErrors returns the protocol violations observed so far (at most
// 100), each wrapping ErrProtocol.
func (c *Client) ProtocolErrors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.protoErrs...)
}

// AuthErrors returns the AuthError messages received so far.
func (c *Client) AuthErrors() []AuthError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]AuthError(nil), c.authErrs...)
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (wrapping ErrClosed), or nil while
// it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection and waits for the reader to exit.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
		_ = c.conn.Close()
	})
	<-c.done
	return nil
}

// lockUsable takes wmu and then mu, the lock order, and returns holding
// both if the client can still send. Otherwise it releases both and
// returns why not.
func (c *Client) lockUsable() error {
	c.wmu.Lock()
	c.mu.Lock()
	if err := c.usableLocked(); err != nil {
		c.mu.Unlock()
		c.wmu.Unlock()
		return err
	}
	return nil
}

func (c *Client) usableLocked() error {
	if c.err != nil {
		return c.err
	}
	if c.closing {
		return ErrClosed
	}
	return nil
}

// ---- the reader ----

func (c *Client) read() {
	var err error
	for {
		if c.inactivity > 0 {
			_ = c.conn.SetReadDeadline(time.Now().Add(c.inactivity))
		}
		var data []byte
		if _, data, err = c.conn.ReadMessage(); err != nil {
			break
		}
		now := time.Now()
		c.mu.Lock()
		c.received = now
		c.dispatch(data)
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
	c.finish(err)
}

func (c *Client) finish(cause error) {
	c.mu.Lock()
	switch {
	case c.closing:
		c.err = ErrClosed
	case cause == nil:
		c.err = ErrClosed
	default:
		c.err = fmt.Errorf("%w: %w", ErrClosed, cause)
	}
	for rid, cl := range c.calls {
		cl.err = fmt.Errorf("mutation %s (request %d): %w", cl.udfPath, rid, c.err)
		close(cl.done)
	}
	clear(c.calls)
	for _, s := range c.subs {
		close(s.updates)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	_ = c.conn.Close()
	close(c.done)
}

func (c *Client) violation(format string, args ...any) {
	if len(c.protoErrs) < maxRecorded {
		c.protoErrs = append(c.protoErrs, fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...))
	}
}

// dispatch applies one server message. The caller holds mu.
func (c *Client) dispatch(data []byte) {
	var m serverMsg
	if err := json.Unmarshal(data, &m); err != nil {
		c.violation("undecodable message %.200q: %v", data, err)
		return
	}
	if m.Type != "TransitionChunk" && len(c.chunks) > 0 {
		c.violation("%s in the middle of TransitionChunks of %s", m.Type, c.chunkID)
		c.chunks, c.chunkID = nil, ""
	}
	switch m.Type {
	case "Transition":
		c.transition(&m)
	case "TransitionChunk":
		if m.PartNumber == 0 {
			c.chunks, c.chunkID = nil, m.TransitionID
		}
		if m.TransitionID != c.chunkID || m.PartNumber != len(c.chunks) || m.TotalParts <= m.PartNumber {
			c.violation("TransitionChunk %d/%d of %s out of order", m.PartNumber, m.TotalParts, m.TransitionID)
			c.chunks, c.chunkID = nil, ""
			return
		}
		c.chunks = append(c.chunks, m.Chunk)
		if len(c.chunks) == m.TotalParts {
			whole := strings.Join(c.chunks, "")
			c.chunks, c.chunkID = nil, ""
			c.dispatch([]byte(whole))
		}
	case "MutationResponse":
		c.mutationResponse(&m)
	case "ActionResponse":
		c.violation("ActionResponse for request %v, which was never sent", m.RequestID)
	case "AuthError":
		e := AuthError{Message: m.Error, AuthUpdateAttempted: m.AuthUpdateAttempted}
		if m.BaseVersion != nil {
			e.BaseVersion = *m.BaseVersion
		}
		if len(c.authErrs) < maxRecorded {
			c.authErrs = append(c.authErrs, e)
		}
	case "FatalError":
		c.violation("server sent FatalError: %s", m.Error)
	case "Ping":
	default:
		c.violation("unknown message type %q", m.Type)
	}
}

func (c *Client) mutationResponse(m *serverMsg) {
	if m.RequestID == nil {
		c.violation("MutationResponse without requestId")
		return
	}
	rid := *m.RequestID
	cl := c.calls[rid]
	if cl == nil || cl.completed {
		c.violation("MutationResponse for request %d, which is not in flight", rid)
		return
	}
	if !m.Success {
		var msg string
		if err := json.Unmarshal(m.Result, &msg); err != nil {
			c.violation("failed MutationResponse %d: result is not a string: %s", rid, m.Result)
		}
		cl.err = &FunctionError{UDFPath: cl.udfPath, Message: msg, Data: decodeErrorData(m.ErrorData)}
		delete(c.calls, rid)
		close(cl.done)
		return
	}
	if m.TS == nil {
		c.violation("successful MutationResponse %d without ts", rid)
	} else if ts, err := decodeTS(*m.TS); err != nil {
		c.violation("MutationResponse %d: %v", rid, err)
	} else {
		cl.ts = ts
	}
	cl.completed = true
	cl.value = m.Result
	if len(cl.value) == 0 {
		c.violation("successful MutationResponse %d without result", rid)
		cl.value = json.RawMessage("null")
	}
}

func (c *Client) transition(m *serverMsg) {
	if m.StartVersion == nil || m.EndVersion == nil {
		c.violation("Transition without startVersion or endVersion")
		return
	}
	start, err1 := decodeVersion(m.StartVersion)
	end, err2 := decodeVersion(m.EndVersion)
	if err := errors.Join(err1, err2); err != nil {
		c.violation("Transition: %v", err)
		return
	}
	if start != c.version {
		c.violation("Transition startVersion %+v, but the client is at %+v", start, c.version)
	}
	if end.TS < start.TS || end.QuerySet < start.QuerySet || end.Identity < start.Identity {
		c.violation("Transition goes backwards: %+v -> %+v", start, end)
	}
	if end.QuerySet > c.qsSent {
		c.violation("Transition to querySet %d, but the client sent only up to %d", end.QuerySet, c.qsSent)
	}
	if end.Identity > c.idSent {
		c.violation("Transition to identity %d, but the client sent only up to %d", end.Identity, c.idSent)
	}
	for i := range m.Modifications {
		mod := &m.Modifications[i]
		switch mod.Type {
		case "QueryUpdated", "QueryFailed":
			s := c.subs[mod.QueryID]
			switch {
			case s == nil && mod.QueryID >= c.nextQueryID:
				c.violation("%s for query %d, which the client never added", mod.Type, mod.QueryID)
				continue
			case s == nil:
				c.violation("%s for query %d after its QueryRemoved", mod.Type, mod.QueryID)
				continue
			case s.addVersion > end.QuerySet:
				c.violation("%s for query %d in a transition to querySet %d, before its Add (querySet %d)",
					mod.Type, mod.QueryID, end.QuerySet, s.addVersion)
			case s.removeVersion != 0 && s.removeVersion <= end.QuerySet:
				c.violation("%s for query %d in a transition to querySet %d, after its Remove (querySet %d)",
					mod.Type, mod.QueryID, end.QuerySet, s.removeVersion)
				continue
			case s.removeVersion != 0:
				continue // a last result of a query the client is removing
			}
			u := Update{TS: end.TS, FromTS: start.TS, Journal: mod.Journal, Received: c.received}
			if mod.Type == "QueryUpdated" {
				u.Value = mod.Value
				if len(u.Value) == 0 {
					c.violation("QueryUpdated for query %d without value", mod.QueryID)
					u.Value = json.RawMessage("null")
				}
			} else {
				u.Failed, u.ErrorMessage = true, mod.ErrorMessage
				u.rawErrorData, u.ErrorData = mod.ErrorData, decodeErrorData(mod.ErrorData)
			}
			s.deliver(u)
			if s.removeVersion == 0 {
				delete(c.unsettled, s.id)
			}
		case "QueryRemoved":
			s := c.subs[mod.QueryID]
			switch {
			case s == nil || s.removeVersion == 0:
				c.violation("QueryRemoved for query %d, which the client did not remove", mod.QueryID)
			case s.removeVersion > end.QuerySet:
				c.violation("QueryRemoved for query %d in a transition to querySet %d, before its Remove (querySet %d)",
					mod.QueryID, end.QuerySet, s.removeVersion)
			default:
				delete(c.subs, s.id)
				delete(c.unsettled, s.id)
				close(s.updates)
			}
		default:
			c.violation("unknown query modification %q", mod.Type)
		}
	}
	c.version = end
	for id, s := range c.unsettled {
		switch {
		case s.removeVersion != 0 && s.removeVersion <= end.QuerySet:
			c.violation("no QueryRemoved for query %d although its Remove (querySet %d) is applied", id, s.removeVersion)
			delete(c.unsettled, id)
		case s.removeVersion == 0 && s.addVersion <= end.QuerySet && !s.has:
			c.violation("no result for query %d although its Add (querySet %d) is applied", id, s.addVersion)
			delete(c.unsettled, id)
		}
	}
	for rid, cl := range c.calls {
		if cl.completed && cl.ts <= end.TS {
			delete(c.calls, rid)
			close(cl.done)
		}
	}
}

// ---- subscriptions ----

// Subscription is one query in a Client's query set. Safe for concurrent
// use.
type Subscription struct {
	c          *Client
	id         uint32
	udfPath    string
	args       json.RawMessage
	addVersion uint32
	updates    chan Update
	first      chan struct{} // closed on the first result

	// guarded by c.mu
	removeVersion uint32 // querySet version of its Remove; 0 while live
	latest        Update
	has           bool
	stats         SubStats
}

// deliver records a result. The caller holds c.mu.
func (s *Subscription) deliver(u Update) {
	if s.has && s.latest.same(u) {
		s.stats.Unchanged++
	}
	s.stats.Updates++
	s.latest = u
	if !s.has {
		s.has = true
		close(s.first)
	}
	// The reader is the only sender, so after draining there is room.
	select {
	case s.updates <- u:
	default:
		select {
		case <-s.updates:
		default:
		}
		select {
		case s.updates <- u:
		default:
		}
	}
}

// ID returns the query id.
func (s *Subscription) ID() uint32 { return s.id }

// UDFPath returns the query's function path.
func (s *Subscription) UDFPath() string { return s.udfPath }

// Args returns the arguments object as sent.
func (s *Subscription) Args() json.RawMessage { return s.args }

// Latest returns the newest result: its value, or the errorData of a
// failure (value nil). ok is false until the first result arrives.
func (s *Subscription) Latest() (value json.RawMessage, errData map[string]any, ok bool) {
	u, ok := s.Current()
	return u.Value, u.ErrorData, ok
}

// Current returns the newest result; ok is false until the first arrives.
func (s *Subscription) Current() (Update, bool) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.latest, s.has
}

// Stats returns what the subscription has received so far.
func (s *Subscription) Stats() SubStats {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.stats
}

// Updates delivers results as they arrive. It holds one Update: a newer
// result replaces an unread one, so a reader sees the newest. It is closed
// when the query is removed or the connection ends.
func (s *Subscription) Updates() <-chan Update { return s.updates }

// Wait waits for the first result.
func (s *Subscription) Wait(ctx context.Context) (Update, error) {
	select {
	case <-s.first:
		u, _ := s.Current()
		return u, nil
	case <-ctx.Done():
		return Update{}, ctx.Err()
	case <-s.c.done:
		select {
		case <-s.first:
			u, _ := s.Current()
			return u, nil
		default:
		}
		return Update{}, s.c.Err()
	}
}

// Unsubscribe removes the query from the query set (one ModifyQuerySet).
// Results that were already on their way are dropped.
func (s *Subscription) Unsubscribe() error {
	c := s.c
	if err := c.lockUsable(); err != nil {
		return err
	}
	defer c.wmu.Unlock()
	if s.removeVersion != 0 {
		c.mu.Unlock()
		return nil
	}
	base := c.qsSent
	c.qsSent++
	s.removeVersion = base + 1
	c.unsettled[s.id] = s
	c.mu.Unlock()
	return c.write(modifyQuerySetMsg{Type: "ModifyQuerySet", BaseVersion: base, NewVersion: base + 1,
		Modifications: []queryModMsg{{Type: "Remove", QueryID: s.id}}})
}
