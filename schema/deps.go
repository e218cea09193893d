package schema

// Dep is one read dependency: the query read rows of Table whose Column
// equals Value. Column "*" means the query read the table as a whole, so any
// change to it matches. Values use Postgres' text format, the same format the
// replication stream delivers, so a changed row matches by plain string
// equality.
type Dep struct {
	Table  string
	Column string
	Value  string
	// Watch, when set, narrows the dependency to updates that change one
	// of these comma-separated columns: an access check that reads who is
	// in a conversation need not re-run when its last message changes.
	// Inserts and deletes of matching rows always match.
	Watch string
}

// WholeTable is the Column of a dependency on a table as a whole.
const WholeTable = "*"

// Deps is the set of dependencies one query execution recorded. The table
// access helpers add to it; nothing else should. Not safe for concurrent use.
type Deps struct {
	set map[Dep]struct{}
}

// Add records d. A nil *Deps records nothing (mutations do not subscribe).
func (d *Deps) Add(d2 Dep) {
	if d == nil {
		return
	}
	if d.set == nil {
		d.set = make(map[Dep]struct{}, 4)
	}
	d.set[d2] = struct{}{}
}

func (d *Deps) add(table, column, value string) {
	d.Add(Dep{Table: table, Column: column, Value: value})
}

// Len returns the number of distinct dependencies.
func (d *Deps) Len() int {
	if d == nil {
		return 0
	}
	return len(d.set)
}

// List returns the dependencies in no particular order.
func (d *Deps) List() []Dep {
	if d == nil {
		return nil
	}
	out := make([]Dep, 0, len(d.set))
	for dep := range d.set {
		out = append(out, dep)
	}
	return out
}
