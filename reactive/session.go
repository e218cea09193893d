package reactive

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/parley-chat/parley/functions"
)

// SessionConfig configures a session.
type SessionConfig struct {
	// MaxPendingBytes bounds what the session queues for its client and
	// holds only for it: responses to its requests (mutations, errors) and
	// the ids of removed queries, not yet taken. A session whose client
	// sends more than it reads beyond that is closed "client too slow".
	// Query results do not count: a result waiting to be sent is the one
	// the engine holds for every subscriber anyway, and results coalesce
	// per query, so a client that reads slowly costs no more of them than
	// one that reads at once (see Session). Zero means 8 MiB.
	MaxPendingBytes int
	// MaxQueries bounds the queries one session may subscribe to; more is
	// a protocol error. Zero means 1,000.
	MaxQueries int
	// OnWake, when set, is called whenever Take has something to return,
	// instead of Wake being signalled, so a transport can start a writer
	// only when there is something to write. It must not block and
	// must not call back into the session; it may be called with the
	// session's or the engine's lock held.
	OnWake func()
	// Status asks for Status messages: one once the client has sent
	// Connect, then one whenever Engine.Stale changes. They are not part
	// of the Convex protocol, so only a client that opted in gets them.
	// False means none.
	Status bool
	Logger *slog.Logger
}

// Session is one client connection's protocol state: its query set,
// identity, the versions it has been sent, and what it must be sent next.
// Query updates are coalesced per query (the newest value wins): a query
// waiting to be sent is an id in dirty, and Take sends the instance's
// result of the moment, so however far the client falls behind its
// session holds no result the engine does not (only, per query, the one
// last sent, for its hash, until the next Take). What does grow with a
// client that does not read is the responses queued for it, which
// MaxPendingBytes bounds, and the outbox its transport is writing, which
// the transport's write timeout bounds in time.
//
// The transport calls ModifyQuerySet, Authenticate, QueueMutation (or
// Mutation) and Action from its one reader goroutine, and Take from its one
// writer goroutine whenever Wake fires. Queued mutations run on the
// session's lane goroutine, one at a time. Safe for concurrent use in that
// way.
type Session struct {
	e    *Engine
	cfg  SessionConfig // its Logger is set
	conn uint64        // the connection id, unique in the engine (functions.MutationCtx.Connection)
	// wake is signalled when Take has something to return.
	wake chan struct{}

	lane mutationLane // QueueMutation's calls, in order
	// life is done once the session is closed: the lane's calls run
	// under it, as they outlive the transport's handling of the message.
	life    context.Context
	endLife context.CancelFunc

	mu        sync.Mutex // guards the fields below; taken after Engine.mu
	sessionID string
	resumed   bool   // the client has connected before: mutations may be resends
	who       caller // the identity (nil: anonymous) and its key, made once per identity
	qsVersion uint32
	idVersion uint32
	queries   querySet
	dirty     idSet // queries whose result may differ from the one sent
	removed   []uint32
	pending   int // bytes of queued responses and removals (charge)
	sent      Version
	messages  []any
	awaiting  []*MutationResponse
	closing   string
	expiry    Expiry // fires when the identity's token expires
	connected bool   // Connect has been received
	stale     *bool  // the Stale last sent in a Status; nil: none sent yet
}

// NewSession opens a session. Close it when the connection ends.
func (e *Engine) NewSession(cfg SessionConfig) *Session {
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = 8 << 20
	}
	if cfg.MaxQueries <= 0 {
		cfg.MaxQueries = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = e.log
	}
	s := &Session{e: e, cfg: cfg, conn: e.conns.Add(1)}
	s.life, s.endLife = context.WithCancel(context.Background())
	if cfg.OnWake == nil {
		s.wake = make(chan struct{}, 1)
	}
	e.addSession(s)
	return s
}

// Wake is signalled when Take has something to send. It is nil when the
// session was opened with an OnWake hook, which replaces it.
func (s *Session) Wake() <-chan struct{} { return s.wake }

func (s *Session) signal() {
	if s.cfg.OnWake != nil {
		s.cfg.OnWake()
		return
	}
	signal(s.wake)
}

// Connect records the client's session id, which scopes mutation
// idempotency: a mutation resent after a reconnect runs once. resumed says
// the client has connected before (Convex's connectionCount > 0): only
// then can its mutations be resends, which are looked up before they run.
func (s *Session) Connect(sessionID string, resumed bool) {
	s.mu.Lock()
	s.sessionID = sessionID
	s.resumed = resumed
	s.connected = true
	s.mu.Unlock()
	if s.cfg.Status {
		s.signal() // the first Status
	}
}

// Connected reports whether Connect has been received.
func (s *Session) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Identity returns the session's current identity.
func (s *Session) Identity() *functions.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.who.id
}

// charge counts n bytes queued for the client against MaxPendingBytes
// (s.mu held): a client that sends requests without reading the answers
// would otherwise grow its queue for as long as it sends.
func (s *Session) charge(n int) {
	s.pending += n
	if s.pending > s.cfg.MaxPendingBytes && s.closing == "" {
		s.closing = fmt.Sprintf("client too slow: more than %d bytes of responses waiting", s.cfg.MaxPendingBytes)
		s.e.closedSlow()
	}
}

// What a queued item is charged: a response's value or error message and
// a few fields; a removal's id in s.removed.
const (
	responseSize = 64
	removalSize  = 8
)

func (r *MutationResponse) size() int {
	if r.Err != nil {
		return responseSize + len(r.Err.Message)
	}
	return responseSize + len(r.Value)
}

// StoppedReading tells the engine that the transport closes the session
// because its client stopped reading (a write outlasted the transport's
// timeout): it counts with the sessions closed for being too slow
// (parley_sessions_closed_slow_total, /healthz sessionsClosedSlow).
func (s *Session) StoppedReading() { s.e.closedSlow() }

// queryChanged is called by the engine (under Engine.mu) when an instance
// the session subscribes to has a new result. It charges nothing: the
// result is the instance's, and the query is dirty once however often it
// changes before Take.
func (s *Session) queryChanged(qid uint32) {
	s.mu.Lock()
	s.dirty.add(qid)
	s.mu.Unlock()
	s.signal()
}

// attach resolves one Add to a subscribed query; its first result may
// still be running.
func (s *Session) attach(add QueryAdd, who caller) (*sessQuery, error) {
	fn, err := s.e.lookup(add.UDFPath, functions.KindQuery)
	if err != nil {
		we, _ := functions.AsError(err)
		return &sessQuery{static: newResult(nil, we, "")}, nil
	}
	args, err := fn.DecodeArgs(add.Args)
	if err != nil {
		we, _ := functions.AsError(err)
		return &sessQuery{static: newResult(nil, we, "")}, nil
	}
	canon, err := canonicalArgs(args)
	if err != nil {
		return nil, err
	}
	// Every run decodes canon again: arguments it cannot give back would
	// fail each run, so they fail here, once.
	if _, err := decodeCanonical(fn, canon); err != nil {
		s.cfg.Logger.Error("query arguments do not survive their canonical form", slog.Any("error", err))
		return &sessQuery{static: newResult(nil, functions.ErrInternal, "")}, nil
	}
	return s.attachQuery(add.QueryID, fn, canon, who, add.Journal), nil
}

// attachQuery subscribes qid to fn(args) as who, args canonical: one
// instance, or a shared query's body and the caller's access check.
func (s *Session) attachQuery(qid uint32, fn *functions.Function, args string, who caller, journal string) *sessQuery {
	q := &sessQuery{fn: fn, journal: journal}
	if !fn.Shared() {
		q.inst = s.e.attach(s, qid, fn, args, who, journal, functions.Whole)
	} else {
		q.inst = s.e.attach(s, qid, fn, args, who, journal, functions.Body)
		q.access = s.e.attach(s, qid, fn, args, who, "", functions.Access)
	}
	q.args = q.inst.key.args // the instance's copy: a hot query's subscribers share one
	return q
}

// drop unsubscribes q's instances, except those keep still uses.
func (s *Session) drop(qid uint32, q, keep *sessQuery) {
	if q == nil {
		return
	}
	for _, in := range q.instances() {
		if keep == nil || (in != keep.inst && in != keep.access) {
			s.e.unsubscribe(s, qid, in)
		}
	}
}

// ModifyQuerySet applies a query set change. It returns once every added
// query has a result; the next transition carries them and the new version.
func (s *Session) ModifyQuerySet(ctx context.Context, base, next uint32, adds []QueryAdd, removes []uint32) error {
	s.mu.Lock()
	if base != s.qsVersion {
		s.mu.Unlock()
		return fmt.Errorf("%w: ModifyQuerySet base version %d, expected %d", ErrProtocol, base, s.qsVersion)
	}
	if next <= base {
		s.mu.Unlock()
		return fmt.Errorf("%w: ModifyQuerySet new version %d is not after %d", ErrProtocol, next, base)
	}
	who := s.who
	seen := make(map[uint32]bool, len(adds))
	for _, a := range adds {
		if s.queries.get(a.QueryID) != nil || seen[a.QueryID] {
			s.mu.Unlock()
			return fmt.Errorf("%w: query %d is already in the query set", ErrProtocol, a.QueryID)
		}
		seen[a.QueryID] = true
	}
	if len(s.queries)+len(adds) > s.cfg.MaxQueries {
		s.mu.Unlock()
		return fmt.Errorf("%w: more than %d queries in one session", ErrProtocol, s.cfg.MaxQueries)
	}
	s.mu.Unlock()

	// Attach every query first, then wait: their first runs share a batch.
	added := make(map[uint32]*sessQuery, len(adds))
	fail := func(err error) error {
		for qid, q := range added {
			s.drop(qid, q, nil)
		}
		return err
	}
	for _, a := range adds {
		q, err := s.attach(a, who)
		if err != nil {
			return fail(err)
		}
		added[a.QueryID] = q
	}
	for _, q := range added {
		if err := waitReady(ctx, q); err != nil {
			return fail(err)
		}
	}

	s.mu.Lock()
	gone := map[uint32]*sessQuery{}
	for _, qid := range removes {
		if q := s.queries.remove(qid); q != nil {
			gone[qid] = q
			s.dirty.remove(qid)
			s.removed = append(s.removed, qid)
			s.charge(removalSize)
		}
	}
	for qid, q := range added {
		s.queries.put(qid, q)
		s.dirty.add(qid)
	}
	s.qsVersion = next
	s.mu.Unlock()
	for qid, q := range gone {
		s.drop(qid, q, nil)
	}
	s.signal()
	return nil
}

// Authenticate switches the session to identity id (nil: anonymous) and
// re-runs its queries under it. The next transition carries the new
// identity version and every result that changed.
func (s *Session) Authenticate(ctx context.Context, base uint32, id *functions.Identity) error {
	s.mu.Lock()
	if base != s.idVersion {
		s.mu.Unlock()
		return fmt.Errorf("%w: Authenticate base version %d, expected %d", ErrProtocol, base, s.idVersion)
	}
	old := make(map[uint32]*sessQuery, len(s.queries))
	for _, e := range s.queries {
		old[e.qid] = e.q
	}
	s.mu.Unlock()

	fresh := make(map[uint32]*sessQuery, len(old))
	fail := func(err error) error {
		for qid, q := range fresh {
			s.drop(qid, q, old[qid])
		}
		return err
	}
	who := callerOf(id)
	for qid, q := range old {
		if q.inst == nil || q.fn.Public {
			continue
		}
		fresh[qid] = s.attachQuery(qid, q.fn, q.args, who, q.journal)
	}
	for _, q := range fresh {
		if err := waitReady(ctx, q); err != nil {
			return fail(err)
		}
	}

	s.mu.Lock()
	prev := s.who
	s.who = who
	s.idVersion = base + 1
	var stale []uint32
	for qid, nq := range fresh {
		if cur := s.queries.get(qid); cur != nil && cur == old[qid] {
			nq.sent = cur.sent
			s.queries.put(qid, nq)
			s.dirty.add(qid)
			stale = append(stale, qid)
		}
	}
	s.mu.Unlock()
	for _, qid := range stale {
		s.drop(qid, old[qid], fresh[qid])
	}
	if a := s.e.cfg.Activity; a != nil && prev.key != who.key {
		a.Close(prev.id) // a refreshed token (the same key) is the same user staying
		a.Open(id)
	}
	if f := s.e.cfg.IdentityLeft; f != nil && prev.key != who.key && prev.id != nil {
		f(s.conn)
	}
	s.signal()
	return nil
}

// Expiry is a scheduled end of an identity, such as a *time.Timer.
type Expiry interface{ Stop() bool }

// SetExpiry replaces the timer that ends the current identity (nil: none).
func (s *Session) SetExpiry(t Expiry) {
	s.mu.Lock()
	old := s.expiry
	s.expiry = t
	s.mu.Unlock()
	if old != nil {
		old.Stop()
	}
}

// Expired ends an identity whose token has expired, if it is still the
// session's identity version: an AuthError, then the connection closes.
func (s *Session) Expired(version uint32, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idVersion != version || s.who.id == nil {
		return
	}
	// The client treats an AuthError with authUpdateAttempted=false and the
	// previous identity version as its current token being rejected: it
	// fetches a fresh token and reconnects.
	s.messages = append(s.messages, &AuthError{Message: msg, BaseVersion: version - 1})
	if s.closing == "" {
		s.closing = CloseAuthFailed
	}
	s.signal()
}

// AuthFailed queues an AuthError for a token that did not verify and closes
// the connection after it; the identity stays as it was. The client then
// fetches a fresh token and reconnects.
func (s *Session) AuthFailed(base uint32, msg string) {
	s.mu.Lock()
	s.messages = append(s.messages, &AuthError{Message: msg, BaseVersion: base, AuthUpdateAttempted: true})
	if s.closing == "" {
		s.closing = CloseAuthFailed
	}
	s.mu.Unlock()
	s.signal()
}

// Mutation runs a mutation and queues its response. A successful response
// is held until the session's ts covers the mutation's commit, so the
// client sees its own write in its queries when the promise resolves.
func (s *Session) Mutation(ctx context.Context, requestID uint32, udfPath string, args json.RawMessage) {
	s.mutationLater(requestID, udfPath, args)(ctx)
}

// QueueMutation runs a mutation call as Mutation does, but in the
// session's mutation lane: calls run one at a time in the order they were
// queued, each as the identity the session had when it was queued, while
// the transport's reader goes on. A call that waits (for its rate-limit
// token, or for a serialization retry) then holds up only the mutations
// after it, not the client's query changes, as Convex's server does. When
// lane holds maxQueuedMutations calls or maxQueuedBytes of arguments,
// QueueMutation blocks until one starts (or ctx is done: the call is
// dropped with the connection). The call runs until the session is
// closed, whatever becomes of ctx; Close drops the calls still queued.
//
// Once a call is refused for a rate limit, the calls of the same function
// queued behind it are refused alike, without running, until the lane
// empties: a call behind a refused one must not get the token that
// refill brings and land before it, so a client that sends the refused
// ones again, in order, keeps its order.
//
// In-memory mutations (presence heartbeats) skip the lane: they wait for
// nothing, and one held behind a waiting send would miss its TTL.
func (s *Session) QueueMutation(ctx context.Context, requestID uint32, udfPath string, args json.RawMessage) {
	if fn, err := s.e.lookup(udfPath, functions.KindMutation); err == nil && fn.InMemory() {
		s.Mutation(ctx, requestID, udfPath, args)
		return
	}
	run := s.mutationLater(requestID, udfPath, args)
	s.lane.push(ctx, laneCall{udfPath: udfPath, size: len(args), run: func(refused *functions.Error) *functions.Error {
		if refused != nil {
			s.answerFailed(requestID, refused)
			return refused
		}
		return run(s.life)
	}})
}

// The bounds of a session's mutation lane: past either, the transport
// stops reading the client (back-pressure), as when handling ran inline.
const (
	maxQueuedMutations = 256
	maxQueuedBytes     = 4 << 20 // of arguments; one call bigger still goes in an empty lane
)

// mutationLater captures what a mutation call runs with (the identity, the
// idempotency key) and returns the run, which returns the error answered
// (nil: a success, or no answer: the connection is gone).
func (s *Session) mutationLater(requestID uint32, udfPath string, args json.RawMessage) func(context.Context) *functions.Error {
	s.mu.Lock()
	id, sid, resumed := s.who.id, s.sessionID, s.resumed
	s.mu.Unlock()
	return func(ctx context.Context) *functions.Error {
		return s.mutation(ctx, id, sid, resumed, requestID, udfPath, args)
	}
}

// answerFailed queues a failed MutationResponse.
func (s *Session) answerFailed(requestID uint32, we *functions.Error) {
	resp := &MutationResponse{RequestID: requestID, Err: we}
	s.mu.Lock()
	s.messages = append(s.messages, resp)
	s.charge(resp.size())
	s.mu.Unlock()
	s.signal()
}

func (s *Session) mutation(ctx context.Context, id *functions.Identity, sid string, resumed bool, requestID uint32, udfPath string, args json.RawMessage) *functions.Error {
	key := functions.RequestKey{}
	if sid != "" {
		key = functions.RequestKey{SessionID: sid, RequestID: int64(requestID), Resumed: resumed}
	}
	res, err := s.e.Mutate(functions.WithConnection(ctx, s.conn), udfPath, args, id, key)
	if err != nil {
		we, internal := functions.AsError(err)
		if internal {
			if ctx.Err() != nil {
				return nil // the connection is gone
			}
			s.cfg.Logger.Log(ctx, functions.LogLevel(we), "mutation failed", slog.String("function", udfPath), slog.Any("error", err))
		}
		s.answerFailed(requestID, we)
		return we
	}
	resp := &MutationResponse{RequestID: requestID}
	resp.Success, resp.Value, resp.TS = true, res.Value, LSN(res.LSN)
	s.mu.Lock()
	s.awaiting = append(s.awaiting, resp)
	s.charge(resp.size())
	s.mu.Unlock()
	if resp.TS > s.e.Applied() {
		s.e.awaitApplied(s)
	}
	s.signal()
	return nil
}

// Action answers an action call. Parley has no actions yet.
func (s *Session) Action(requestID uint32, udfPath string) {
	msg := fmt.Sprintf("Could not find function %q", udfPath)
	s.mu.Lock()
	s.messages = append(s.messages, &ActionResponse{RequestID: requestID,
		Err: &functions.Error{Status: 404, Code: functions.CodeFunctionNotFound, Message: msg}})
	s.charge(responseSize + len(msg))
	s.mu.Unlock()
	s.signal()
}

// Fatal queues a FatalError and closes the session after it is sent.
func (s *Session) Fatal(msg string) {
	s.mu.Lock()
	s.messages = append(s.messages, &FatalError{Message: msg})
	if s.closing == "" {
		s.closing = msg
	}
	s.mu.Unlock()
	s.signal()
}

// Take returns what to send next. It is called by the writer whenever Wake
// fires; an empty Outbox means nothing to send.
func (s *Session) Take() Outbox {
	applied := s.e.Applied()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Outbox
	// Removals first: a query removed and then added again under the same
	// id since the last transition is in the set, and a client applies
	// the modifications in order.
	mods := make([]Modification, 0, len(s.removed)+len(s.dirty))
	for _, qid := range s.removed {
		mods = append(mods, Modification{Type: QueryRemoved, QueryID: qid})
	}
	s.removed = s.removed[:0]
	for _, qid := range s.dirty {
		q := s.queries.get(qid)
		if q == nil {
			continue
		}
		r := q.result()
		if r == nil {
			continue
		}
		sent := q.sent != nil && q.sent.Hash == r.Hash
		q.sent = r // the same value or the one sent now; older results are released
		if sent {
			continue
		}
		if r.Err != nil {
			mods = append(mods, Modification{Type: QueryFailed, QueryID: qid, Err: r.Err, Journal: r.Journal})
		} else {
			mods = append(mods, Modification{Type: QueryUpdated, QueryID: qid, Value: r.Value, Journal: r.Journal})
		}
	}
	s.dirty = s.dirty[:0]

	target := Version{QuerySet: s.qsVersion, Identity: s.idVersion, TS: max(s.sent.TS, applied)}
	out.Messages = s.messages
	s.messages = nil
	if s.cfg.Status && s.connected {
		if stale := s.e.Stale(); s.stale == nil || *s.stale != stale {
			s.stale = &stale
			out.Messages = append([]any{&Status{Stale: stale}}, out.Messages...)
		}
	}
	still := s.awaiting[:0]
	ready := 0
	for _, r := range s.awaiting {
		if r.TS <= target.TS {
			out.Messages = append(out.Messages, r)
			ready++
		} else {
			still = append(still, r)
		}
	}
	clear(s.awaiting[len(still):])
	s.awaiting = still
	s.pending = 0 // what is left queued: the responses still held
	for _, r := range still {
		s.pending += r.size()
	}
	// The client resolves a mutation when a transition that follows its
	// response reaches the mutation's ts, so a response is always followed
	// by one, even an empty one.
	if len(mods) > 0 || ready > 0 || target.QuerySet != s.sent.QuerySet || target.Identity != s.sent.Identity {
		out.Transition = &Transition{Start: s.sent, End: target, Modifications: mods}
		s.sent = target
	}
	out.Close = s.closing
	if len(s.awaiting) > 0 {
		s.e.awaitApplied(s)
		// The applied position may have passed a held response between
		// the read above and the registration; then no one would wake us.
		if now := s.e.Applied(); now > applied {
			for _, r := range s.awaiting {
				if r.TS <= now {
					s.signal()
					break
				}
			}
		}
	}
	return out
}

// Close ends the session and releases its subscriptions.
func (s *Session) Close() {
	s.endLife()
	s.lane.close() // nothing of this session runs after it
	s.SetExpiry(nil)
	s.mu.Lock()
	qs := s.queries
	s.queries = nil
	who := s.who.id
	s.who = caller{}
	s.mu.Unlock()
	if a := s.e.cfg.Activity; a != nil {
		a.Close(who)
	}
	if f := s.e.cfg.IdentityLeft; f != nil {
		f(s.conn)
	}
	for _, e := range qs {
		s.drop(e.qid, e.q, nil)
	}
	s.e.removeSession(s)
}

// mutationLane runs a session's queued mutations one at a time, in order,
// on a goroutine that exists only while there are some. The zero value is
// an empty lane.
type mutationLane struct {
	mu      sync.Mutex
	queue   []laneCall
	bytes   int // of the queued calls' arguments
	running bool
	closed  bool
	changed *sync.Cond // signalled when a call leaves the queue or the lane stops; on mu
	// limited holds, per function, the rate-limit refusal that the calls
	// queued behind it share until the lane empties (QueueMutation).
	limited map[string]*functions.Error
}

// laneCall is one queued call: run answers it, or answers it with
// refused when that is set, and returns the error it answered.
type laneCall struct {
	udfPath string
	size    int
	run     func(refused *functions.Error) *functions.Error
}

// push queues c, waiting while the lane is full (until ctx is done: then
// c is dropped). A closed lane drops c.
func (l *mutationLane) push(ctx context.Context, c laneCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = sync.NewCond(&l.mu)
	}
	full := func() bool {
		return len(l.queue) >= maxQueuedMutations || (len(l.queue) > 0 && l.bytes+c.size > maxQueuedBytes)
	}
	if full() {
		stop := context.AfterFunc(ctx, func() {
			l.mu.Lock()
			l.changed.Broadcast()
			l.mu.Unlock()
		})
		defer stop()
		for full() && ctx.Err() == nil && !l.closed {
			l.changed.Wait()
		}
	}
	if ctx.Err() != nil || l.closed {
		return
	}
	l.queue = append(l.queue, c)
	l.bytes += c.size
	if !l.running {
		l.running = true
		go l.run()
	}
}

func (l *mutationLane) run() {
	for {
		l.mu.Lock()
		if len(l.queue) == 0 || l.closed {
			l.running = false
			l.queue, l.bytes, l.limited = nil, 0, nil // the backing array goes with the burst
			l.changed.Broadcast()
			l.mu.Unlock()
			return
		}
		c := l.queue[0]
		l.queue[0] = laneCall{}
		l.queue = l.queue[1:]
		l.bytes -= c.size
		refused := l.limited[c.udfPath]
		l.changed.Broadcast()
		l.mu.Unlock()
		if err := c.run(refused); err != nil && err.Code == functions.CodeRateLimited {
			l.mu.Lock()
			if len(l.queue) > 0 {
				if l.limited == nil {
					l.limited = map[string]*functions.Error{}
				}
				l.limited[c.udfPath] = err
			}
			l.mu.Unlock()
		}
	}
}

// close drops the queued calls, lets no more in, and waits for the
// running one, whose context (the session's life) is done by then.
func (l *mutationLane) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.queue, l.bytes = nil, 0
	if l.changed != nil {
		l.changed.Broadcast() // a push waiting for room gives up
	}
	for l.running {
		l.changed.Wait()
	}
}
