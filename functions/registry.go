package functions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/schema"
)

// Kind says whether a function reads (query) or writes (mutation).
type Kind uint8

// Function kinds.
const (
	KindQuery Kind = iota + 1
	KindMutation
)

func (k Kind) String() string {
	if k == KindMutation {
		return "mutation"
	}
	return "query"
}

// Function is one registered named function, e.g. "shared/chat:getMessages".
type Function struct {
	Name   string
	Kind   Kind
	Args   reflect.Type // a struct type
	Result reflect.Type
	// Public functions never see the caller's identity, so one instance of
	// a public query serves every user with the same arguments.
	Public bool

	query    func(*QueryCtx, reflect.Value) (any, error)
	access   func(*QueryCtx, reflect.Value) error // shared queries only
	mutation func(*MutationCtx, reflect.Value) (any, error)
	admit    func(*Identity) error
	scope    func(*Identity) *Identity
	inMemory bool // a mutation that touches no database (InMemory)
	outbox   *outboxRef
}

// Caller is the identity a query's instances see for caller id: nil for
// public queries, id narrowed by the query's ScopeIdentity, else id.
// Callers with the same Caller share instances.
func (f *Function) Caller(id *Identity) *Identity {
	switch {
	case f.Public || id == nil:
		return nil
	case f.scope != nil:
		return f.scope(id)
	}
	return id
}

// Shared reports whether the query is split into a per-caller access check
// and an identity-free body (see QueryShared).
func (f *Function) Shared() bool { return f.access != nil }

// Part names which part of a query a run computes.
type Part uint8

// Query parts.
const (
	// Whole is the query as its caller sees it: for a shared query, the
	// access check and then the body.
	Whole Part = iota
	// Access is a shared query's per-caller access check; its value is null.
	Access
	// Body is a shared query's identity-free body.
	Body
)

// Registry holds the named functions. Registration happens at start-up;
// afterwards it is read-only and safe for concurrent use.
type Registry struct {
	funcs  map[string]*Function
	outbox *outboxRef
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{funcs: map[string]*Function{}, outbox: &outboxRef{}} }

// Lookup finds a function by name.
func (r *Registry) Lookup(name string) (*Function, error) {
	f, ok := r.funcs[name]
	if !ok {
		return nil, &Error{Status: http.StatusNotFound, Code: CodeFunctionNotFound,
			Message: fmt.Sprintf("Could not find function %q", name)}
	}
	return f, nil
}

// Functions returns every registered function, sorted by name.
func (r *Registry) Functions() []*Function {
	out := make([]*Function, 0, len(r.funcs))
	for _, f := range r.funcs {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// newFunction starts the registration of a function with arguments A and
// result R; add completes it.
func newFunction[A, R any](name string, kind Kind) *Function {
	return &Function{Name: name, Kind: kind, Args: reflect.TypeFor[A](), Result: reflect.TypeFor[R]()}
}

// add applies opts to f and registers it.
func (r *Registry) add(f *Function, opts []Option) {
	for _, o := range opts {
		o(f)
	}
	if _, dup := r.funcs[f.Name]; dup {
		panic("functions: duplicate function " + f.Name)
	}
	if f.Args.Kind() != reflect.Struct {
		panic("functions: arguments of " + f.Name + " must be a struct")
	}
	f.outbox = r.outbox
	r.funcs[f.Name] = f
}

// Option configures a registration.
type Option func(*Function)

// Public marks a query that never reads the caller's identity: its context
// has none, and its instances are shared by every caller.
func Public() Option { return func(f *Function) { f.Public = true } }

// ScopeIdentity narrows the identity a query sees to what its answer
// depends on (a store's staff share their store's inbox): the query runs
// with the narrowed identity, so it cannot depend on more, and everyone with
// the same narrowed identity shares one instance.
func ScopeIdentity(scope func(*Identity) *Identity) Option {
	return func(f *Function) { f.scope = scope }
}

// Admit runs check once per call, before the handler's first attempt (a
// serialization retry does not count twice) and after the idempotency check
// (a resent mutation that already ran returns its result): rate limits.
// check may admit a call after a wait (AdmitAfter): the call then waits,
// holding no database connection, and runs.
func Admit(check func(*Identity) error) Option { return func(f *Function) { f.admit = check } }

// AdmitAfter is what an Admit check returns for a call it admits once d
// has passed: a rate limit's short overage (a client replaying the calls
// it queued offline) waits for its token instead of being refused.
func AdmitAfter(d time.Duration) error { return &admitDelay{d: d} }

// admitDelay is AdmitAfter's answer: not an error the caller sees.
type admitDelay struct{ d time.Duration }

func (a *admitDelay) Error() string { return fmt.Sprintf("admitted after %s", a.d) }

// admitWait is the wait err asks for when it is AdmitAfter's answer.
func admitWait(err error) (time.Duration, bool) {
	var a *admitDelay
	if errors.As(err, &a) {
		return a.d, true
	}
	return 0, false
}

// sleep waits d, or until ctx is done (its error then).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InMemory marks a mutation that changes only state kept in memory
// (presence heartbeats), so that calling it writes no row: it runs without
// a transaction (its MutationCtx has neither DB nor Tx) and leaves no
// mutation_log record, so a resent call runs again and the handler must be
// idempotent; it emits no events; its result's ts (LSN) is 0, there being
// no commit to wait for. Queries that read such state are made live by
// the engine's Invalidate, not by the WAL.
func InMemory() Option { return func(f *Function) { f.inMemory = true } }

// InMemory reports whether the mutation touches no database (InMemory).
func (f *Function) InMemory() bool { return f.inMemory }

// connectionKey is the context key of WithConnection.
type connectionKey struct{}

// WithConnection returns ctx carrying the id of the sync connection a call
// came over (reactive.Session), which MutationCtx.Connection reports.
func WithConnection(ctx context.Context, conn uint64) context.Context {
	return context.WithValue(ctx, connectionKey{}, conn)
}

// Query registers a query.
func Query[A, R any](r *Registry, name string, h func(*QueryCtx, A) (R, error), opts ...Option) {
	f := newFunction[A, R](name, KindQuery)
	f.query = func(c *QueryCtx, v reflect.Value) (any, error) { return h(c, v.Interface().(A)) }
	r.add(f, opts)
}

// QueryShared registers a query whose answer is the same for every caller
// allowed to ask: access decides, per caller, whether they may (it returns
// the error they get otherwise); body computes the answer without seeing
// the caller. The engine runs body once for all callers with the same
// arguments and caches each caller's access check separately, so a
// conversation watched by a thousand people costs one run per write.
// body must not depend on who asks: its context has no identity.
func QueryShared[A, R any](r *Registry, name string, access func(*QueryCtx, A) error, body func(*QueryCtx, A) (R, error), opts ...Option) {
	f := newFunction[A, R](name, KindQuery)
	f.query = func(c *QueryCtx, v reflect.Value) (any, error) { return body(c, v.Interface().(A)) }
	f.access = func(c *QueryCtx, v reflect.Value) error { return access(c, v.Interface().(A)) }
	r.add(f, opts)
}

// Mutation registers a mutation.
func Mutation[A, R any](r *Registry, name string, h func(*MutationCtx, A) (R, error), opts ...Option) {
	f := newFunction[A, R](name, KindMutation)
	f.mutation = func(c *MutationCtx, v reflect.Value) (any, error) { return h(c, v.Interface().(A)) }
	r.add(f, opts)
}

// DecodeArgs validates raw arguments against the function's argument type.
// The error is a 400 *Error naming the offending field.
func (f *Function) DecodeArgs(raw json.RawMessage) (reflect.Value, error) {
	return decodeArgs(f.Args, raw)
}

// QueryCtx is what a query handler gets. Not safe for concurrent use.
type QueryCtx struct {
	Ctx context.Context
	// DB reads through the access helpers, which record dependencies.
	DB        *schema.DB
	identity  *Identity
	now       time.Time
	refreshAt time.Time
	journal   string
}

// Identity returns the verified caller, or nil.
func (c *QueryCtx) Identity() *Identity { return c.identity }

// Journal returns the state an earlier run of this subscription left with
// SetJournal ("" on the first run). Paginated queries keep their end cursor
// there, so a page grows or shrinks as rows arrive instead of sliding.
func (c *QueryCtx) Journal() string { return c.journal }

// SetJournal records state for this subscription's next run. The client
// keeps it and sends it back when it resubscribes after a reconnect.
func (c *QueryCtx) SetJournal(j string) { c.journal = j }

// Now is the time the query runs at; clock-dependent results use it.
func (c *QueryCtx) Now() time.Time { return c.now }

// RefreshAt asks the engine to re-run the query at t even if nothing it read
// changes (typing indicators expire). The earliest request wins.
func (c *QueryCtx) RefreshAt(t time.Time) {
	if c.refreshAt.IsZero() || t.Before(c.refreshAt) {
		c.refreshAt = t
	}
}

// QueryOutput is the outcome of one query run.
type QueryOutput struct {
	Value     any
	Deps      *schema.Deps
	RefreshAt time.Time // zero: none
	Journal   string    // "" : none
}

// RunQuery runs a query, whole, over q (a transaction in the engine's
// snapshot). Arguments must already be decoded by DecodeArgs, or be equal
// to arguments that were (the engine decodes their JSON again).
func (f *Function) RunQuery(ctx context.Context, q schema.Querier, id *Identity, args reflect.Value, now time.Time, journal string) (QueryOutput, error) {
	return f.RunPart(ctx, q, id, args, now, journal, Whole)
}

// RunPart runs one part of a query. Dependencies are recorded even when it
// fails, so a failing query is re-run when what it read changes.
func (f *Function) RunPart(ctx context.Context, q schema.Querier, id *Identity, args reflect.Value, now time.Time, journal string, part Part) (QueryOutput, error) {
	if f.Kind != KindQuery {
		return QueryOutput{}, Invalid("%s is a mutation, not a query", f.Name)
	}
	if part != Access {
		id = f.Caller(id)
	}
	deps := &schema.Deps{}
	c := &QueryCtx{Ctx: ctx, DB: schema.NewDB(q, deps), identity: id, now: now, journal: journal}
	out := func(v any, err error) (QueryOutput, error) {
		return QueryOutput{Value: v, Deps: deps, RefreshAt: c.refreshAt, Journal: c.journal}, err
	}
	if f.access != nil && part != Body {
		if err := f.access(c, args); err != nil || part == Access {
			return out(nil, err)
		}
	}
	if f.access != nil {
		c.identity = nil // the body is the same for everyone allowed to ask
	}
	return out(f.query(c, args))
}

// MutationCtx is what a mutation handler gets: one SERIALIZABLE transaction.
type MutationCtx struct {
	Ctx context.Context
	// DB reads and writes inside the mutation's transaction.
	DB       *schema.DB
	Tx       pgx.Tx
	identity *Identity
	now      time.Time
	events   []Event
	conn     uint64
	// afterCommit run once the transaction has committed (AfterCommit).
	afterCommit []func()
}

// AfterCommit has f run once this run of the mutation has committed, and
// never if it rolls back (an error, or a serialization failure whose
// retry is a new run with a context of its own): what acts outside the
// database on the mutation's decision (stopping an assistant's stream)
// must not act on a decision that did not stand. f runs on the caller's
// goroutine before the mutation's response; it must not block.
func (c *MutationCtx) AfterCommit(f func()) { c.afterCommit = append(c.afterCommit, f) }

// Identity returns the verified caller, or nil.
func (c *MutationCtx) Identity() *Identity { return c.identity }

// Now is the time the mutation runs at.
func (c *MutationCtx) Now() time.Time { return c.now }

// Connection is the id of the sync connection (WebSocket session) the call
// came over, unique among the node's connections, or 0 for a call that
// came over none (HTTP): state kept per connection is keyed by it, and the
// engine reports when it stops speaking for the caller
// (reactive.Config.IdentityLeft).
func (c *MutationCtx) Connection() uint64 { return c.conn }

// RequestKey makes a mutation idempotent: a mutation resent with the same
// session and request id returns the first run's result. A zero SessionID
// disables the check (HTTP calls).
type RequestKey struct {
	SessionID string
	RequestID int64
	// Resumed says the session has connected before, so the request may
	// be a resend of one that committed: it is looked up before it runs
	// (and before admission: a resend costs no rate-limit token). A
	// request of a first connection cannot be a resend and skips the
	// lookup; the log's primary key still stops any replay from
	// committing twice.
	Resumed bool
}

// MutationResult is a committed mutation's outcome.
type MutationResult struct {
	Value json.RawMessage // JSON of the handler's result
	// LSN is the WAL position after the commit (pg_current_wal_lsn): once
	// the engine has applied it, every query reflects the write.
	LSN uint64
	// Replayed is true when the result came from the mutation log.
	Replayed bool
	Attempts int
}

// maxAttempts bounds serialization-failure retries. Concurrent messages to
// one conversation conflict by design (each updates its last message), so
// a burst needs several.
const maxAttempts = 24

// RunMutation runs a mutation in a SERIALIZABLE transaction, retrying on
// serialization failures and deadlocks, recording (and honouring) its
// request key, and returns its result with the post-commit WAL position.
func (f *Function) RunMutation(ctx context.Context, pool *pgxpool.Pool, id *Identity, args reflect.Value, key RequestKey) (MutationResult, error) {
	return f.RunMutationAdmitted(ctx, pool, id, args, key, new(Admission))
}

// Admission is a call's admission (rate limits, Admit) carried across
// runs of it: a call run again after the database went away
// (reactive.Engine.Mutate) was admitted once and spends no second token.
// The zero value is a call not admitted yet.
type Admission struct{ admitted bool }

// RunMutationAdmitted is RunMutation for one run of a call whose admission
// adm records.
func (f *Function) RunMutationAdmitted(ctx context.Context, pool *pgxpool.Pool, id *Identity, args reflect.Value, key RequestKey, adm *Admission) (MutationResult, error) {
	if f.Kind != KindMutation {
		return MutationResult{}, Invalid("%s is a query, not a mutation", f.Name)
	}
	if f.inMemory {
		return f.runInMemory(ctx, id, args, adm)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return MutationResult{}, fmt.Errorf("run mutation: acquire: %w", err)
	}
	defer func() {
		if conn != nil {
			conn.Release()
		}
	}()
	// Admission (rate limits) runs once per call, after the replay check
	// where there is one (Resumed): a resent mutation that already
	// committed gets its stored result without spending a token.
	admit := func() error {
		if f.admit == nil || adm.admitted {
			return nil
		}
		adm.admitted = true
		return f.admit(id)
	}
	for attempt := 1; ; attempt++ {
		// A first connection's first attempt does not look the request up
		// in the mutation log: it cannot be a resend, and even if a client
		// resent one anyway, the log's primary key fails its insert (a
		// unique violation, retried) and the retry looks it up. A first
		// attempt that fails otherwise (a rate limit, an error the first
		// run did not have) also looks before answering.
		lookedUp := attempt > 1 || key.Resumed
		res, err := f.tryMutation(ctx, conn.Conn(), id, args, key, admit, lookedUp)
		if wait, ok := admitWait(err); ok {
			// Admitted once wait has passed: the connection goes back
			// to the pool meanwhile, and the call starts over (its
			// lookup too, which a resend needs; no token twice).
			conn.Release()
			conn = nil
			if err := sleep(ctx, wait); err != nil {
				return MutationResult{}, err
			}
			if conn, err = pool.Acquire(ctx); err != nil {
				conn = nil
				return MutationResult{}, fmt.Errorf("run mutation: acquire: %w", err)
			}
			attempt--
			continue
		}
		if err != nil && !lookedUp && key.SessionID != "" && !retryable(err) && ctx.Err() == nil {
			// A failed lookup leaves the first attempt's error standing.
			if stored, found, lerr := f.replay(ctx, conn.Conn(), id, key); lerr == nil && found {
				res, err = stored, nil
			}
		}
		if err == nil && res.Replayed {
			// It committed earlier: any position from now on is after it.
			var lsnText string
			if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsnText); err != nil {
				return MutationResult{}, fmt.Errorf("run mutation: read wal position: %w", err)
			}
			res.LSN, err = ParseLSN(lsnText)
		}
		if err == nil {
			res.Attempts = attempt
			return res, nil
		}
		if !retryable(err) || attempt >= maxAttempts {
			return MutationResult{}, err
		}
		// Jittered backoff: 0.5–1.5 ms, doubling, capped at ~50 ms.
		d := time.Duration(float64(time.Millisecond) * (0.5 + rand.Float64()) * float64(int(1)<<min(attempt-1, 6)))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return MutationResult{}, ctx.Err()
		}
	}
}

// runInMemory runs an InMemory mutation: admitted once, no transaction,
// no log, ts 0.
func (f *Function) runInMemory(ctx context.Context, id *Identity, args reflect.Value, adm *Admission) (MutationResult, error) {
	if err := ctx.Err(); err != nil {
		return MutationResult{}, err // the caller is gone: no heartbeat after it left
	}
	if f.admit != nil && !adm.admitted {
		adm.admitted = true
		err := f.admit(id)
		if wait, ok := admitWait(err); ok {
			err = sleep(ctx, wait)
		}
		if err != nil {
			return MutationResult{}, err
		}
	}
	conn, _ := ctx.Value(connectionKey{}).(uint64)
	c := &MutationCtx{Ctx: ctx, identity: id, now: time.Now(), conn: conn}
	v, err := f.mutation(c, args)
	if err != nil {
		return MutationResult{}, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return MutationResult{}, fmt.Errorf("encode mutation result: %w", err)
	}
	for _, f := range c.afterCommit {
		f() // nothing to commit: it stands
	}
	return MutationResult{Value: out, Attempts: 1}, nil
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	case "23505": // unique_violation: a concurrent twin committed first; re-read
		return true
	}
	return false
}

func (f *Function) tryMutation(ctx context.Context, conn *pgx.Conn, id *Identity, args reflect.Value, key RequestKey, admit func() error, lookup bool) (MutationResult, error) {
	if key.SessionID != "" && lookup {
		if res, found, err := f.replay(ctx, conn, id, key); err != nil || found {
			return res, err
		}
	}
	if err := admit(); err != nil {
		return MutationResult{}, err
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		return MutationResult{}, fmt.Errorf("begin mutation: %w", err)
	}
	ended := false
	defer func() {
		if !ended {
			tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
		}
	}()
	connID, _ := ctx.Value(connectionKey{}).(uint64)
	c := &MutationCtx{Ctx: ctx, DB: schema.NewDB(tx, nil), Tx: tx, identity: id, now: time.Now(), conn: connID}
	v, err := f.mutation(c, args)
	if err != nil {
		return MutationResult{}, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return MutationResult{}, fmt.Errorf("encode mutation result: %w", err)
	}
	// The log record, the commit and the WAL position after it, in one
	// round trip. An error stops the pipeline before COMMIT, leaving the
	// transaction for the deferred rollback.
	var b pgx.Batch
	var outbox Outbox
	if len(c.events) > 0 && f.outbox != nil && f.outbox.o != nil {
		outbox = f.outbox.o
		if err := outbox.Write(ctx, tx, &b, id, c.now, c.events); err != nil {
			return MutationResult{}, fmt.Errorf("write events: %w", err)
		}
	}
	n := b.Len() // the outbox's statements, answered before the log's
	if key.SessionID != "" {
		b.Queue(`INSERT INTO mutation_log (session_id, identity, request_id, udf_path, result) VALUES ($1, $2, $3, $4, $5)`,
			key.SessionID, id.Key(), key.RequestID, f.Name, out)
	}
	b.Queue(`COMMIT`)
	b.Queue(`SELECT pg_current_wal_lsn()::text`)
	br := conn.SendBatch(ctx, &b)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			outbox.Failed(err)
			return MutationResult{}, fmt.Errorf("write events: %w", outcome(err))
		}
	}
	if key.SessionID != "" {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return MutationResult{}, fmt.Errorf("write mutation log: %w", outcome(err))
		}
	}
	tag, err := br.Exec()
	if err == nil {
		ended = true // committed, or rolled back by the server
		if tag.String() != "COMMIT" {
			err = fmt.Errorf("transaction ended with %s", tag)
		}
	}
	if err != nil {
		br.Close()
		return MutationResult{}, fmt.Errorf("commit mutation: %w", outcome(err))
	}
	for _, f := range c.afterCommit {
		f()
	}
	var lsnText string
	err = br.QueryRow().Scan(&lsnText)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return MutationResult{}, fmt.Errorf("read wal position: %w", outcome(err))
	}
	lsn, err := ParseLSN(lsnText)
	if err != nil {
		return MutationResult{}, err
	}
	return MutationResult{Value: out, LSN: lsn}, nil
}

// ErrOutcomeUnknown marks a mutation whose connection was lost after its
// COMMIT was sent: it may have committed. Only a rerun that looks its
// request key up in mutation_log may run it again.
var ErrOutcomeUnknown = errors.New("functions: the connection was lost after COMMIT was sent; the mutation may have committed")

// outcome marks an error of the statements sent with COMMIT: one that
// lost the connection leaves the outcome unknown.
func outcome(err error) error {
	if Unreachable(err) {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	return err
}

// replay looks a request up in the mutation log: found is true when it
// already committed, with its stored result. Looked up outside the
// serializable transaction: a read of the log inside it would take
// predicate locks that make every concurrent mutation conflict.
func (f *Function) replay(ctx context.Context, conn *pgx.Conn, id *Identity, key RequestKey) (res MutationResult, found bool, err error) {
	var (
		stored json.RawMessage
		path   string
	)
	err = conn.QueryRow(ctx, `SELECT result, udf_path FROM mutation_log WHERE session_id = $1 AND identity = $2 AND request_id = $3`,
		key.SessionID, id.Key(), key.RequestID).Scan(&stored, &path)
	switch {
	case err == nil && path != f.Name:
		return MutationResult{}, false, Invalid("Request %d of this session already ran %s", key.RequestID, path)
	case err == nil:
		return MutationResult{Value: stored, Replayed: true}, true, nil
	case errors.Is(err, pgx.ErrNoRows):
		return MutationResult{}, false, nil
	}
	return MutationResult{}, false, fmt.Errorf("read mutation log: %w", err)
}

// MutationLogRetention is how long a mutation's result is kept for replay.
// A client resends an unanswered mutation when it reconnects, within
// seconds or minutes.
const MutationLogRetention = 24 * time.Hour

// PruneMutationLog deletes replay records older than MutationLogRetention
// and returns how many it deleted.
func PruneMutationLog(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	tag, err := pool.Exec(ctx, `DELETE FROM mutation_log WHERE created_at < now() - $1::interval`,
		fmt.Sprintf("%d seconds", int(MutationLogRetention.Seconds())))
	if err != nil {
		return 0, fmt.Errorf("prune mutation log: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ParseLSN parses Postgres' X/X text form of a WAL position.
func ParseLSN(s string) (uint64, error) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0, fmt.Errorf("parse lsn %q: %w", s, err)
	}
	return uint64(hi)<<32 | uint64(lo), nil
}
