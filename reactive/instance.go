package reactive

import (
	"crypto/sha256"
	"encoding/json"
	"hash/maphash"
	"iter"
	"sync/atomic"

	"github.com/parley-chat/parley/functions"
)

// Result is one computed value of a query: immutable once published and
// shared by every session subscribed to the instance.
type Result struct {
	Value   json.RawMessage  // the JSON value; nil when Err is set
	Err     *functions.Error // the query failed with this wire error
	Journal string           // the query's journal ("" : none), sent with it
	Hash    [32]byte         // of Value or Err and Journal: unchanged results are not sent
}

func newResult(v json.RawMessage, err *functions.Error, journal string) *Result {
	r := &Result{Value: v, Err: err, Journal: journal}
	h := sha256.New()
	h.Write([]byte(journal))
	h.Write([]byte{0})
	if err != nil {
		h.Write([]byte{1})
		b, _ := json.Marshal(err.ErrorData())
		h.Write(b)
	} else {
		h.Write([]byte{0})
		h.Write(v)
	}
	h.Sum(r.Hash[:0])
	return r
}

// nullResult is the result of every run that returned null and no
// journal, such as each access check that admits its caller: one shared
// Result instead of one per instance.
var nullResult = newResult(json.RawMessage("null"), nil, "")

// instanceKey identifies a shared query instance: the function, its
// canonical arguments and, unless the function is public, the caller. A
// shared query's body and access check share one copy of the arguments,
// and a session's access checks one of the caller's key.
type instanceKey struct {
	fn       *functions.Function
	args     string
	identity string // Identity.Key; "" when the part does not depend on the caller
	journal  string // the journal the client resubscribed with
	part     functions.Part
}

type subRef struct {
	s   *Session
	qid uint32
}

// instance is one live query shared by all its subscribers. Fields other
// than result are guarded by the engine's mutex; result is read lock-free.
// There is one per live query part, so its size counts (a session with
// three shared queries holds six).
type instance struct {
	key      instanceKey // its args are the run's arguments (decodeCanonical)
	identity *functions.Identity

	deps []depEntry // sorted by key (compileDeps)
	// subs are the subscribers. The last to leave removes the instance:
	// one without any is no longer live (removed).
	subs subSet

	// sameHash chains instances whose keys share a hash (instanceTable).
	sameHash *instance

	result atomic.Pointer[Result]
	// ready is closed when the first result is published, and then
	// replaced by the shared closed channel, so a live instance holds no
	// channel of its own.
	ready atomic.Pointer[chan struct{}]
}

// removed reports whether the instance has left the engine: its last
// subscriber has gone (an instance gets its first one as it is made).
// Guarded by the engine's mutex.
func (in *instance) removed() bool { return in.subs.len() == 0 }

// journal is the last run's journal, given to the next run: the one its
// result carries (failures keep the journal they ran with), or before the
// first result the one the client resubscribed with.
func (in *instance) journal() string {
	if r := in.result.Load(); r != nil {
		return r.Journal
	}
	return in.key.journal
}

// closedReady is the ready channel of every instance with a result.
var closedReady = func() *chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return &ch
}()

func newInstance(key instanceKey, id *functions.Identity) *instance {
	in := &instance{key: key, identity: id}
	ch := make(chan struct{})
	in.ready.Store(&ch)
	return in
}

// subSet is an instance's subscribers. Most instances (a caller's own
// queries, access checks) have one, kept inline; a map is made only for
// the second. Guarded by the engine's mutex.
type subSet struct {
	one  subRef // the only subscriber, when many is nil; one.s is nil when there is none
	many map[subRef]struct{}
}

// add subscribes r; false if it already was.
func (ss *subSet) add(r subRef) bool {
	switch {
	case ss.many != nil:
		if _, had := ss.many[r]; had {
			return false
		}
		ss.many[r] = struct{}{}
	case ss.one.s == nil:
		ss.one = r
	case ss.one == r:
		return false
	default:
		ss.many = map[subRef]struct{}{ss.one: {}, r: {}}
		ss.one = subRef{}
	}
	return true
}

// remove unsubscribes r; false if it was not subscribed.
func (ss *subSet) remove(r subRef) bool {
	if ss.many == nil {
		if ss.one.s == nil || ss.one != r {
			return false
		}
		ss.one = subRef{}
		return true
	}
	if _, had := ss.many[r]; !had {
		return false
	}
	delete(ss.many, r)
	if len(ss.many) == 1 {
		for last := range ss.many {
			ss.one, ss.many = last, nil
		}
	}
	return true
}

func (ss *subSet) len() int {
	if ss.many != nil {
		return len(ss.many)
	}
	if ss.one.s != nil {
		return 1
	}
	return 0
}

// all iterates the subscribers.
func (ss *subSet) all() iter.Seq[subRef] {
	return func(yield func(subRef) bool) {
		if ss.many == nil {
			if ss.one.s != nil {
				yield(ss.one)
			}
			return
		}
		for r := range ss.many {
			if !yield(r) {
				return
			}
		}
	}
}

// instanceTable finds instances by key. It is keyed by a hash of the key,
// so a slot holds 16 bytes instead of the 72 of the key and a pointer;
// instances whose keys share a hash (rare) are chained through
// instance.sameHash. Not safe for concurrent use: the engine's mutex
// guards it.
type instanceTable struct {
	hash   func(instanceKey) uint64
	byHash map[uint64]*instance
	n      int
}

func newInstanceTable() *instanceTable {
	seed := maphash.MakeSeed()
	return &instanceTable{byHash: map[uint64]*instance{},
		hash: func(k instanceKey) uint64 { return maphash.Comparable(seed, k) }}
}

func (t *instanceTable) get(k instanceKey) *instance {
	for in := t.byHash[t.hash(k)]; in != nil; in = in.sameHash {
		if in.key == k {
			return in
		}
	}
	return nil
}

// add inserts in, whose key is not in the table.
func (t *instanceTable) add(in *instance) {
	h := t.hash(in.key)
	in.sameHash = t.byHash[h]
	t.byHash[h] = in
	t.n++
}

// remove deletes in, if it is in the table.
func (t *instanceTable) remove(in *instance) {
	h := t.hash(in.key)
	if first := t.byHash[h]; first == in {
		if in.sameHash == nil {
			delete(t.byHash, h)
		} else {
			t.byHash[h] = in.sameHash
		}
	} else {
		p := first
		for p != nil && p.sameHash != in {
			p = p.sameHash
		}
		if p == nil {
			return // not in the table
		}
		p.sameHash = in.sameHash
	}
	in.sameHash = nil
	t.n--
}

func (t *instanceTable) len() int { return t.n }

// all iterates every instance.
func (t *instanceTable) all() iter.Seq[*instance] {
	return func(yield func(*instance) bool) {
		for _, first := range t.byHash {
			for in := first; in != nil; in = in.sameHash {
				if !yield(in) {
					return
				}
			}
		}
	}
}
