package reactive

import (
	"slices"
	"strings"

	"github.com/parley-chat/parley/schema"
)

// depKey is what a changed row's column value is looked up by.
type depKey struct {
	table, column, value string
}

// watchAny marks a dependency on any change of the matching rows.
const watchAny = ""

// depIndex maps read dependencies to the query instances that recorded
// them. Matching a changed row costs one map lookup per column value (old
// and new) plus one for the whole-table key: proportional to the row's
// width and the instances it touches, never to the number of instances.
// Not safe for concurrent use; the engine guards it with its mutex.
type depIndex struct {
	// byKey holds, per key, the instances that depend on it with their
	// watched columns: watchAny, or a comma-separated list for
	// dependencies narrowed with Dep.Watch.
	byKey map[depKey]keySet
	// tables counts dependencies per table, so a change to a table that no
	// query read is dismissed without looking at its columns.
	tables map[string]int
}

// keySet is the instances of one key. Most keys (a caller's own rows) have
// one instance, kept inline; a map is made only for the second.
type keySet struct {
	one   *instance // the only instance, when many is nil
	watch watchList // one's watched columns
	many  map[*instance]watchList
}

// watchList is the columns whose updates matter to an instance
// (comma-separated), or watchAny.
type watchList string

// matches reports whether change c of a row with the key matters.
func (w watchList) matches(c *Change) bool {
	return w == watchAny || c.Op != OpUpdate || changedAny(c, string(w))
}

// each calls f for every instance of the set.
func (k keySet) each(f func(in *instance)) {
	if k.many == nil {
		if k.one != nil {
			f(k.one)
		}
		return
	}
	for in := range k.many {
		f(in)
	}
}

func newDepIndex() *depIndex {
	return &depIndex{byKey: map[depKey]keySet{}, tables: map[string]int{}}
}

func keyOf(d schema.Dep) depKey { return depKey{d.Table, d.Column, d.Value} }

// depEntry is one key an instance depends on, with its watched columns.
type depEntry struct {
	key   depKey
	watch watchList
}

func compareKeys(a, b depKey) int {
	if c := strings.Compare(a.table, b.table); c != 0 {
		return c
	}
	if c := strings.Compare(a.column, b.column); c != 0 {
		return c
	}
	return strings.Compare(a.value, b.value)
}

// compileDeps folds a run's dependencies into one entry per key, sorted by
// key: any unnarrowed read of a key makes the whole key unnarrowed. It runs
// on the batch's workers, outside the engine's lock.
func compileDeps(deps []schema.Dep) []depEntry {
	if len(deps) == 0 {
		return nil
	}
	out := make([]depEntry, len(deps))
	for i, d := range deps {
		out[i] = depEntry{keyOf(d), watchList(d.Watch)}
	}
	slices.SortFunc(out, func(a, b depEntry) int { return compareKeys(a.key, b.key) })
	n := 0
	for _, e := range out {
		if n > 0 && out[n-1].key == e.key {
			prev := &out[n-1].watch
			switch {
			case *prev == watchAny || e.watch == watchAny:
				*prev = watchAny
			case !strings.Contains(","+string(*prev)+",", ","+string(e.watch)+","):
				*prev += "," + e.watch
			}
			continue
		}
		out[n] = e
		n++
	}
	return slices.Clip(out[:n])
}

// replace swaps an instance's dependencies from old to new (both from
// compileDeps): a walk of the two sorted lists, allocating nothing but
// the index's own entries.
func (x *depIndex) replace(in *instance, old, new []depEntry) {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		c := 0
		switch {
		case j == len(new):
			c = -1
		case i == len(old):
			c = 1
		default:
			c = compareKeys(old[i].key, new[j].key)
		}
		switch {
		case c < 0:
			x.remove(in, old[i].key)
			i++
		case c > 0:
			x.add(in, new[j])
			j++
		default:
			if old[i].watch != new[j].watch {
				x.add(in, new[j])
			}
			i++
			j++
		}
	}
}

// add records (or updates) in's dependency on e.key.
func (x *depIndex) add(in *instance, e depEntry) {
	set, ok := x.byKey[e.key]
	switch {
	case !ok:
		x.byKey[e.key] = keySet{one: in, watch: e.watch}
	case set.many == nil && set.one == in:
		set.watch = e.watch
		x.byKey[e.key] = set
		return
	case set.many == nil:
		set.many = map[*instance]watchList{set.one: set.watch, in: e.watch}
		set.one, set.watch = nil, watchAny
		x.byKey[e.key] = set
	default:
		if _, had := set.many[in]; had {
			set.many[in] = e.watch
			return
		}
		set.many[in] = e.watch
	}
	x.tables[e.key.table]++
}

func (x *depIndex) remove(in *instance, k depKey) {
	set, ok := x.byKey[k]
	if !ok {
		return
	}
	if set.many == nil {
		if set.one != in {
			return
		}
		delete(x.byKey, k)
	} else {
		if _, ok := set.many[in]; !ok {
			return
		}
		delete(set.many, in)
		if len(set.many) == 1 {
			for last, d := range set.many {
				x.byKey[k] = keySet{one: last, watch: d}
			}
		}
	}
	if x.tables[k.table]--; x.tables[k.table] == 0 {
		delete(x.tables, k.table)
	}
}

// match adds to out every instance whose dependencies the change touches:
// any old or new column value equal to a recorded key, or the whole table,
// unless the dependency watches columns the update did not change.
func (x *depIndex) match(c *Change, out map[*instance]struct{}) {
	if x.tables[c.Table] == 0 {
		return
	}
	x.collect(c, depKey{c.Table, schema.WholeTable, ""}, out)
	for _, row := range [2][]Column{c.Old, c.New} {
		for i := range row {
			if row[i].Null {
				continue
			}
			x.collect(c, depKey{c.Table, row[i].Name, row[i].Value}, out)
		}
	}
}

func (x *depIndex) collect(c *Change, k depKey, out map[*instance]struct{}) {
	set, ok := x.byKey[k]
	if !ok {
		return
	}
	if set.many == nil {
		if set.watch.matches(c) {
			out[set.one] = struct{}{}
		}
		return
	}
	for in, d := range set.many {
		if d.matches(c) {
			out[in] = struct{}{}
		}
	}
}

// changedAny reports whether an update changed one of the comma-separated
// columns (or cannot tell, which counts as changed).
func changedAny(c *Change, columns string) bool {
	for col := range strings.SplitSeq(columns, ",") {
		o, okOld := find(c.Old, col)
		n, okNew := find(c.New, col)
		if !okOld || !okNew || o != n {
			return true
		}
	}
	return false
}

func find(row []Column, name string) (Column, bool) {
	for _, c := range row {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// matchTable adds every instance that read table at all.
func (x *depIndex) matchTable(table string, out map[*instance]struct{}) {
	if x.tables[table] == 0 {
		return
	}
	for k, set := range x.byKey {
		if k.table == table {
			set.each(func(in *instance) { out[in] = struct{}{} })
		}
	}
}
