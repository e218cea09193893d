package functions

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/parley-chat/parley/schema"
)

// Memo holds values computed once per database snapshot and shared by
// every query run in it (Memoized). The engine gives each re-run batch
// one: the batch's runs all read the same snapshot, so a value one of
// them computed from it is exactly what any other would compute. It is
// safe for concurrent use (a batch's workers share it).
type Memo struct {
	mu sync.Mutex
	m  map[string]*memoEntry
}

type memoEntry struct {
	done      chan struct{}
	ok        bool
	val       any
	deps      []schema.Dep
	refreshAt time.Time
}

// NewMemo returns an empty memo.
func NewMemo() *Memo { return &Memo{m: map[string]*memoEntry{}} }

type memoKey struct{}

// WithMemo returns ctx carrying m: queries run with it share what they
// memoize. Only give one memo to runs that read one snapshot.
func WithMemo(ctx context.Context, m *Memo) context.Context {
	return context.WithValue(ctx, memoKey{}, m)
}

// Memoized returns what compute returns for key, computing it once per
// snapshot when the run has a memo (WithMemo) and on every call
// otherwise. compute reads through its own QueryCtx (no identity: the
// value is shared by every caller, so it must not depend on who asks);
// whatever it records (dependencies, RefreshAt) is recorded for every
// caller that uses the value, so each re-runs when what the value was
// computed from changes. key names the computation and its inputs, with
// the caller's package as a prefix ("support/org:" + org); one key always
// holds one type. A failed computation is not kept: each caller that
// needs it then computes it on its own.
//
// A queue of 5,000 waiting customers is the use: each one's position
// comes from one shared read of the queue instead of a count per
// customer.
func Memoized[T any](c *QueryCtx, key string, compute func(*QueryCtx) (T, error)) (T, error) {
	m, _ := c.Ctx.Value(memoKey{}).(*Memo)
	if m == nil {
		return runMemo(c, compute, nil)
	}
	m.mu.Lock()
	e, found := m.m[key]
	if !found {
		e = &memoEntry{done: make(chan struct{})}
		m.m[key] = e
	}
	m.mu.Unlock()
	if !found {
		// Deferred: a compute that panics must not leave its waiters
		// waiting. (compute must not memoize key itself, nor a key whose
		// computation memoizes key: that waits forever.)
		defer close(e.done)
		v, err := runMemo(c, compute, e)
		if err != nil {
			m.mu.Lock()
			delete(m.m, key)
			m.mu.Unlock()
		}
		return v, err
	}
	select {
	case <-e.done:
	case <-c.Ctx.Done():
		var zero T
		return zero, c.Ctx.Err()
	}
	if !e.ok {
		return runMemo(c, compute, nil)
	}
	v, ok := e.val.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("memo %q holds a %T, not a %T", key, e.val, zero)
	}
	e.replay(c)
	return v, nil
}

// runMemo runs compute in a context of its own over c's snapshot, records
// what it read into c, and keeps the value in e (when not nil).
func runMemo[T any](c *QueryCtx, compute func(*QueryCtx) (T, error), e *memoEntry) (T, error) {
	deps := &schema.Deps{}
	sub := &QueryCtx{Ctx: c.Ctx, DB: schema.NewDB(c.DB.Querier(), deps), now: c.now}
	v, err := compute(sub)
	r := memoEntry{deps: deps.List(), refreshAt: sub.refreshAt}
	r.replay(c)
	if e != nil && err == nil {
		e.ok, e.val, e.deps, e.refreshAt = true, v, r.deps, r.refreshAt
	}
	return v, err
}

// replay records e's dependencies and refresh time into c.
func (e *memoEntry) replay(c *QueryCtx) {
	for _, d := range e.deps {
		c.DB.Record(d)
	}
	if !e.refreshAt.IsZero() {
		c.RefreshAt(e.refreshAt)
	}
}
