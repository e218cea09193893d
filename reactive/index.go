package reactive

import (
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
	// byKey holds, per key, each instance's watched columns: watchAny, or
	// a comma-separated list for dependencies narrowed with Dep.Watch.
	byKey map[depKey]map[*instance]string
	// tables counts dependencies per table, so a change to a table that no
	// query read is dismissed without looking at its columns.
	tables map[string]int
}

func newDepIndex() *depIndex {
	return &depIndex{byKey: map[depKey]map[*instance]string{}, tables: map[string]int{}}
}

func keyOf(d schema.Dep) depKey { return depKey{d.Table, d.Column, d.Value} }

// merged folds deps into one watch list per key: any unnarrowed read of a
// key makes the whole key unnarrowed.
func merged(deps []schema.Dep) map[depKey]string {
	out := make(map[depKey]string, len(deps))
	for _, d := range deps {
		k := keyOf(d)
		w, seen := out[k]
		switch {
		case !seen:
			out[k] = d.Watch
		case w == watchAny || d.Watch == watchAny:
			out[k] = watchAny
		case !strings.Contains(","+w+",", ","+d.Watch+","):
			out[k] = w + "," + d.Watch
		}
	}
	return out
}

// replace swaps an instance's dependencies from old to new.
func (x *depIndex) replace(in *instance, old, new []schema.Dep) {
	next := merged(new)
	for k := range merged(old) {
		if _, keep := next[k]; !keep {
			x.remove(in, k)
		}
	}
	for k, watch := range next {
		set := x.byKey[k]
		if set == nil {
			set = make(map[*instance]string, 1)
			x.byKey[k] = set
		}
		if _, had := set[in]; !had {
			x.tables[k.table]++
		}
		set[in] = watch
	}
}

func (x *depIndex) remove(in *instance, k depKey) {
	set := x.byKey[k]
	if _, ok := set[in]; !ok {
		return
	}
	delete(set, in)
	if len(set) == 0 {
		delete(x.byKey, k)
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
	for in, watch := range x.byKey[k] {
		if watch == watchAny || c.Op != OpUpdate || changedAny(c, watch) {
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
			for in := range set {
				out[in] = struct{}{}
			}
		}
	}
}
