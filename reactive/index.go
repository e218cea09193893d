package reactive

import "github.com/parley-chat/parley/schema"

// depIndex maps read dependencies to the query instances that recorded
// them. Matching a changed row costs one map lookup per column value (old
// and new) plus one for the whole-table key: proportional to the row's
// width and the instances it touches, never to the number of instances.
// Not safe for concurrent use; the engine guards it with its mutex.
type depIndex struct {
	byDep map[schema.Dep]map[*instance]struct{}
	// tables counts dependencies per table, so a change to a table that no
	// query read is dismissed without looking at its columns.
	tables map[string]int
}

func newDepIndex() *depIndex {
	return &depIndex{byDep: map[schema.Dep]map[*instance]struct{}{}, tables: map[string]int{}}
}

func (x *depIndex) add(in *instance, d schema.Dep) {
	set := x.byDep[d]
	if set == nil {
		set = make(map[*instance]struct{}, 1)
		x.byDep[d] = set
	}
	if _, ok := set[in]; !ok {
		set[in] = struct{}{}
		x.tables[d.Table]++
	}
}

func (x *depIndex) remove(in *instance, d schema.Dep) {
	set := x.byDep[d]
	if _, ok := set[in]; !ok {
		return
	}
	delete(set, in)
	if len(set) == 0 {
		delete(x.byDep, d)
	}
	if x.tables[d.Table]--; x.tables[d.Table] == 0 {
		delete(x.tables, d.Table)
	}
}

// replace swaps an instance's dependencies from old to new.
func (x *depIndex) replace(in *instance, old, new []schema.Dep) {
	keep := make(map[schema.Dep]struct{}, len(new))
	for _, d := range new {
		keep[d] = struct{}{}
	}
	for _, d := range old {
		if _, ok := keep[d]; !ok {
			x.remove(in, d)
		}
	}
	for _, d := range new {
		x.add(in, d)
	}
}

// match adds to out every instance whose dependencies the change touches:
// any old or new column value equal to a recorded key, or the whole table.
func (x *depIndex) match(c *Change, out map[*instance]struct{}) {
	if x.tables[c.Table] == 0 {
		return
	}
	x.collect(schema.Dep{Table: c.Table, Column: schema.WholeTable}, out)
	for _, row := range [2][]Column{c.Old, c.New} {
		for i := range row {
			if row[i].Null {
				continue
			}
			x.collect(schema.Dep{Table: c.Table, Column: row[i].Name, Value: row[i].Value}, out)
		}
	}
}

// matchTable adds every instance that read table at all.
func (x *depIndex) matchTable(table string, out map[*instance]struct{}) {
	if x.tables[table] == 0 {
		return
	}
	for d, set := range x.byDep {
		if d.Table == table {
			for in := range set {
				out[in] = struct{}{}
			}
		}
	}
}

func (x *depIndex) collect(d schema.Dep, out map[*instance]struct{}) {
	for in := range x.byDep[d] {
		out[in] = struct{}{}
	}
}
