package reactive

import (
	"cmp"
	"context"
	"slices"

	"github.com/parley-chat/parley/functions"
)

// sessQuery is one query of a session: a whole query's instance, or a
// shared query's body and the caller's access check.
type sessQuery struct {
	fn      *functions.Function
	args    string // canonical (canonicalArgs)
	journal string
	inst    *instance // the query or its shared body; nil when the query failed before running
	access  *instance // the caller's access check of a shared query, else nil
	static  *Result   // the failure of a query that could not run
	// sent is the result the client holds (nil: none yet), or one with the
	// same hash: Take sends only a result with another.
	sent *Result
}

// queryEntry is a query of a session's query set.
type queryEntry struct {
	qid uint32
	q   *sessQuery
}

// querySet is a session's queries, ordered by id. Sessions hold a few (at
// most MaxQueries), which a sorted slice keeps at a fraction of a map's
// size.
type querySet []queryEntry

func (qs querySet) find(qid uint32) (int, bool) {
	return slices.BinarySearchFunc(qs, qid, func(e queryEntry, qid uint32) int { return cmp.Compare(e.qid, qid) })
}

// get returns query qid, or nil.
func (qs querySet) get(qid uint32) *sessQuery {
	if i, ok := qs.find(qid); ok {
		return qs[i].q
	}
	return nil
}

// put adds or replaces query qid.
func (qs *querySet) put(qid uint32, q *sessQuery) {
	if i, ok := qs.find(qid); ok {
		(*qs)[i].q = q
	} else {
		*qs = slices.Insert(*qs, i, queryEntry{qid, q})
	}
}

// remove removes query qid and returns it, or nil.
func (qs *querySet) remove(qid uint32) *sessQuery {
	i, ok := qs.find(qid)
	if !ok {
		return nil
	}
	q := (*qs)[i].q
	*qs = slices.Delete(*qs, i, i+1)
	return q
}

// idSet is a set of query ids, ascending.
type idSet []uint32

// add adds id; false if it was there.
func (ids *idSet) add(id uint32) bool {
	i, ok := slices.BinarySearch(*ids, id)
	if !ok {
		*ids = slices.Insert(*ids, i, id)
	}
	return !ok
}

func (ids *idSet) remove(id uint32) {
	if i, ok := slices.BinarySearch(*ids, id); ok {
		*ids = slices.Delete(*ids, i, i+1)
	}
}

// result is what the client should hold: the access check's error when
// it fails, else the query's result; nil until both have run.
func (q *sessQuery) result() *Result {
	if q.inst == nil {
		return q.static
	}
	if q.access != nil {
		if r := q.access.result.Load(); r == nil || r.Err != nil {
			return r
		}
	}
	return q.inst.result.Load()
}

// instances are the engine instances the query is subscribed to.
func (q *sessQuery) instances() []*instance {
	switch {
	case q.inst == nil:
		return nil
	case q.access == nil:
		return []*instance{q.inst}
	}
	return []*instance{q.inst, q.access}
}

// waitReady waits until every instance of q has its first result.
func waitReady(ctx context.Context, q *sessQuery) error {
	for _, in := range q.instances() {
		if err := ready(ctx, in); err != nil {
			return err
		}
	}
	return nil
}
