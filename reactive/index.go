package reactive

import (
	"slices"
	"strings"
	"unique"

	"github.com/parley-chat/parley/schema"
)

// column names a column of a table (or schema.WholeTable).
type column struct{ table, name string }

// depKey is what a changed row's column value is looked up by. The column
// is interned: the index holds an entry per key and every instance a copy
// of each of its keys, so a key costs 24 bytes rather than 48.
type depKey struct {
	col   unique.Handle[column]
	value string
}

func makeKey(table, col, value string) depKey {
	return depKey{unique.Make(column{table, col}), value}
}

func (k depKey) table() string { return k.col.Value().table }

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
	// columns counts dependencies per column, with the column's handle: a
	// changed row's column that no query depends on is passed over with
	// one lookup, and the others are looked up without interning.
	columns map[column]columnDeps
}

type columnDeps struct {
	handle unique.Handle[column]
	n      int
}

// keySet is the instances of one key. Most keys (a caller's own rows) have
// one instance, kept inline; a map is made only for the second.
type keySet struct {
	one   *instance // the only instance, when many is nil
	watch watchList // one's watched columns
	many  map[*instance]watchList
}

// watchList is the columns whose updates matter to an instance
// (comma-separated), or watchAny. Interned, like depKey's column: the few
// lists are constants of the schema's read helpers.
type watchList unique.Handle[string]

func watchOf(columns string) watchList { return watchList(unique.Make(columns)) }

// watchAny marks a dependency on any change of the matching rows.
var watchAny = watchOf("")

func (w watchList) columns() string { return unique.Handle[string](w).Value() }

// matches reports whether change c of a row with the key matters.
func (w watchList) matches(c *Change) bool {
	return w == watchAny || c.Op != OpUpdate || changedAny(c, w.columns())
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
	return &depIndex{byKey: map[depKey]keySet{}, tables: map[string]int{}, columns: map[column]columnDeps{}}
}

func keyOf(d schema.Dep) depKey { return makeKey(d.Table, d.Column, d.Value) }

// depEntry is one key an instance depends on, with its watched columns.
type depEntry struct {
	key   depKey
	watch watchList
}

// compareKeys orders keys by table, column and value, as compareDeps
// orders the dependencies they are made of.
func compareKeys(a, b depKey) int {
	ac, bc := a.col.Value(), b.col.Value()
	if c := strings.Compare(ac.table, bc.table); c != 0 {
		return c
	}
	if c := strings.Compare(ac.name, bc.name); c != 0 {
		return c
	}
	return strings.Compare(a.value, b.value)
}

func compareDeps(a, b schema.Dep) int {
	if c := strings.Compare(a.Table, b.Table); c != 0 {
		return c
	}
	if c := strings.Compare(a.Column, b.Column); c != 0 {
		return c
	}
	return strings.Compare(a.Value, b.Value)
}

// compileDeps folds a run's dependencies into one entry per key, sorted by
// key: any unnarrowed read of a key makes the whole key unnarrowed. It
// sorts deps in place. It runs on the batch's workers, outside the
// engine's lock.
func compileDeps(deps []schema.Dep) []depEntry {
	if len(deps) == 0 {
		return nil
	}
	slices.SortFunc(deps, compareDeps)
	keys := 1
	for i := 1; i < len(deps); i++ {
		if compareDeps(deps[i-1], deps[i]) != 0 {
			keys++
		}
	}
	out := make([]depEntry, 0, keys) // instances keep it: no spare room
	for i := 0; i < len(deps); {
		d, watch := deps[i], deps[i].Watch
		for i++; i < len(deps) && compareDeps(d, deps[i]) == 0; i++ {
			watch = widen(watch, deps[i].Watch)
		}
		out = append(out, depEntry{keyOf(d), watchOf(watch)})
	}
	return out
}

// widen merges two watch lists of one key: an unnarrowed read ("")
// makes the key unnarrowed.
func widen(list, more string) string {
	switch {
	case list == "" || more == "":
		return ""
	case strings.Contains(","+list+",", ","+more+","):
		return list
	}
	return list + "," + more
}

// replace swaps an instance's dependencies from old to new (both from
// compileDeps): a walk of the two sorted lists, allocating nothing but
// the index's own entries. Keys new shares with old take old's strings,
// so a re-run's copies of them are left to the collector rather than
// kept beside the ones the index holds.
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
			new[j].key = old[i].key
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
	x.count(e.key, 1)
}

// count adds delta to the dependencies counted on k's table and column.
func (x *depIndex) count(k depKey, delta int) {
	col := k.col.Value()
	if x.tables[col.table] += delta; x.tables[col.table] == 0 {
		delete(x.tables, col.table)
	}
	cd := x.columns[col]
	if cd.n += delta; cd.n == 0 {
		delete(x.columns, col)
	} else {
		cd.handle = k.col
		x.columns[col] = cd
	}
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
	x.count(k, -1)
}

// match adds to out every instance whose dependencies the change touches:
// any old or new column value equal to a recorded key, or the whole table,
// unless the dependency watches columns the update did not change.
func (x *depIndex) match(c *Change, out map[*instance]struct{}) {
	if x.tables[c.Table] == 0 {
		return
	}
	x.collect(c, schema.WholeTable, "", out)
	for _, row := range [2][]Column{c.Old, c.New} {
		for i := range row {
			if row[i].Null {
				continue
			}
			x.collect(c, row[i].Name, row[i].Value, out)
		}
	}
}

// collect adds the instances of the key (c.Table, col, value) that c
// matters to.
func (x *depIndex) collect(c *Change, col, value string, out map[*instance]struct{}) {
	cd, ok := x.columns[column{c.Table, col}]
	if !ok {
		return
	}
	set, ok := x.byKey[depKey{cd.handle, value}]
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
		if k.table() == table {
			set.each(func(in *instance) { out[in] = struct{}{} })
		}
	}
}
