package reactive

import (
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Result is one computed value of a query: immutable once published and
// shared by every session subscribed to the instance.
type Result struct {
	Value json.RawMessage  // the JSON value; nil when Err is set
	Err   *functions.Error // the query failed with this wire error
	Hash  [32]byte         // of Value or Err: unchanged results are not sent
}

func newResult(v json.RawMessage, err *functions.Error) *Result {
	r := &Result{Value: v, Err: err}
	h := sha256.New()
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

// size approximates the bytes a result costs in a session's queue.
func (r *Result) size() int {
	if r.Err != nil {
		return 64 + len(r.Err.Message)
	}
	return len(r.Value)
}

// instanceKey identifies a shared query instance: the function, its
// canonical arguments and, unless the function is public, the caller.
type instanceKey struct {
	fn       string
	args     string
	identity string
}

type subRef struct {
	s   *Session
	qid uint32
}

// instance is one live query shared by all its subscribers. Fields other
// than result are guarded by the engine's mutex; result is read lock-free.
type instance struct {
	key      instanceKey
	fn       *functions.Function
	args     reflect.Value
	identity *functions.Identity

	deps      []schema.Dep
	refreshAt time.Time
	subs      map[subRef]struct{}
	removed   bool

	result atomic.Pointer[Result]
	ready  chan struct{} // closed when the first result is published
}

func newInstance(key instanceKey, fn *functions.Function, args reflect.Value, id *functions.Identity) *instance {
	return &instance{key: key, fn: fn, args: args, identity: id, subs: map[subRef]struct{}{}, ready: make(chan struct{})}
}
