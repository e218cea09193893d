package pgrepl

import (
	"fmt"
	"time"

	"github.com/parley-chat/parley/reactive"
)

// relation is what a Relation message told us about a table.
type relation struct {
	name string   // unqualified
	cols []string // column names in tuple order
	full bool     // REPLICA IDENTITY FULL
}

// txBuf collects the changes of one transaction until it commits.
type txBuf struct {
	xid     uint32
	changes []reactive.Change
	// subxids holds, for streamed transactions, the (sub)transaction id of
	// each change in changes, so that a subtransaction abort can drop them.
	subxids  []uint32
	counts   map[string]int // buffered changes per table
	overflow []string
	over     map[string]bool
	// relations holds Relation messages sent inside this streamed
	// transaction. They describe the schema as this transaction sees it;
	// they apply to later transactions only once it commits (pgoutput
	// resends schemas after an abort, not after a commit).
	relations map[uint32]*relation
}

func newTxBuf(xid uint32) *txBuf {
	return &txBuf{xid: xid, counts: map[string]int{}, over: map[string]bool{}}
}

// add buffers ch, or moves its table to overflow once the table has more
// than limit changes.
func (t *txBuf) add(ch reactive.Change, subxid uint32, streamed bool, limit int) {
	if t.over[ch.Table] {
		return
	}
	if t.counts[ch.Table] >= limit {
		t.markOverflow(ch.Table)
		return
	}
	t.counts[ch.Table]++
	t.changes = append(t.changes, ch)
	if streamed {
		t.subxids = append(t.subxids, subxid)
	}
}

// markOverflow records table in Overflow and drops its buffered rows: every
// query that read the table is invalidated anyway.
func (t *txBuf) markOverflow(table string) {
	if t.over[table] {
		return
	}
	t.over[table] = true
	t.overflow = append(t.overflow, table)
	if t.counts[table] > 0 {
		t.filter(func(i int) bool { return t.changes[i].Table != table })
	}
}

// dropSubxact forgets the changes made by an aborted subtransaction.
// Overflow entries stay: over-invalidation is allowed.
func (t *txBuf) dropSubxact(subxid uint32) {
	if t.subxids == nil {
		return
	}
	t.filter(func(i int) bool { return t.subxids[i] != subxid })
}

// filter keeps the changes for which keep returns true.
func (t *txBuf) filter(keep func(i int) bool) {
	n := 0
	for i := range t.changes {
		if keep(i) {
			t.changes[n] = t.changes[i]
			if t.subxids != nil {
				t.subxids[n] = t.subxids[i]
			}
			n++
		} else {
			t.counts[t.changes[i].Table]--
		}
	}
	clear(t.changes[n:])
	t.changes = t.changes[:n]
	if t.subxids != nil {
		t.subxids = t.subxids[:n]
	}
}

// pgEpoch is the origin of Postgres timestamps: microseconds since 2000-01-01 UTC.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (t *txBuf) commit(lsn, end, ts uint64) reactive.Commit {
	return reactive.Commit{
		XID:        t.xid,
		LSN:        reactive.LSN(lsn),
		EndLSN:     reactive.LSN(end),
		CommitTime: pgEpoch.Add(time.Duration(int64(ts)) * time.Microsecond),
		Changes:    t.changes,
		Overflow:   t.overflow,
	}
}

// decoder turns pgoutput protocol version 2 messages (the WALData of XLogData
// messages, with streaming) into committed transactions. It is a pure state
// machine: no I/O, no goroutines. It is not safe for concurrent use; one
// decoder belongs to one replication connection.
//
// A decoder never returns rows that might be incomplete: where a value is
// unknown (an unchanged TOAST value without an old tuple, an update or delete
// without REPLICA IDENTITY FULL) the whole table goes to Commit.Overflow.
type decoder struct {
	maxTxChanges int
	// nonFull, when set, is called for each Relation message of a table
	// without REPLICA IDENTITY FULL.
	nonFull func(table string)

	relations map[uint32]*relation
	tx        *txBuf            // open non-streamed transaction (Begin seen)
	inStream  bool              // between StreamStart and StreamStop
	streamXID uint32            // top-level xid of the open stream chunk
	streams   map[uint32]*txBuf // streamed transactions not yet committed or aborted
}

func newDecoder(maxTxChanges int) *decoder {
	return &decoder{
		maxTxChanges: maxTxChanges,
		relations:    map[uint32]*relation{},
		streams:      map[uint32]*txBuf{},
	}
}

// idle reports whether no transaction and no stream chunk is open, so that a
// keepalive's WAL end may be reported as progress.
func (d *decoder) idle() bool { return d.tx == nil && !d.inStream }

// decode applies one message. When the message commits a transaction it
// returns that transaction and true. An error means the stream is unusable:
// the caller must drop the decoder and start over.
func (d *decoder) decode(msg []byte) (reactive.Commit, bool, error) {
	if len(msg) == 0 {
		return reactive.Commit{}, false, fmt.Errorf("%w: empty message", errProtocol)
	}
	r := &reader{b: msg[1:]}
	switch typ := msg[0]; typ {
	case 'B':
		return reactive.Commit{}, false, d.begin(r)
	case 'C':
		return d.commit(r)
	case 'S':
		return reactive.Commit{}, false, d.streamStart(r)
	case 'E':
		return reactive.Commit{}, false, d.streamStop(r)
	case 'c':
		return d.streamCommit(r)
	case 'A':
		return reactive.Commit{}, false, d.streamAbort(r)
	case 'O': // origin: nothing to do
		r.u64("Origin")
		r.str("Origin")
		return reactive.Commit{}, false, r.done("Origin")
	case 'R', 'Y', 'I', 'U', 'D', 'T', 'M':
		var subxid uint32
		if d.inStream {
			subxid = r.u32("xid")
		}
		return reactive.Commit{}, false, d.data(typ, r, subxid)
	default:
		return reactive.Commit{}, false, fmt.Errorf("%w: unexpected message type %q", errProtocol, typ)
	}
}

func (d *decoder) begin(r *reader) error {
	r.u64("Begin") // final LSN
	r.u64("Begin") // commit time
	xid := r.u32("Begin")
	if err := r.done("Begin"); err != nil {
		return err
	}
	if d.tx != nil || d.inStream {
		return fmt.Errorf("%w: Begin inside a transaction", errProtocol)
	}
	d.tx = newTxBuf(xid)
	return nil
}

func (d *decoder) commit(r *reader) (reactive.Commit, bool, error) {
	r.u8("Commit") // flags
	lsn := r.u64("Commit")
	end := r.u64("Commit")
	ts := r.u64("Commit")
	if err := r.done("Commit"); err != nil {
		return reactive.Commit{}, false, err
	}
	if d.tx == nil || d.inStream {
		return reactive.Commit{}, false, fmt.Errorf("%w: Commit without Begin", errProtocol)
	}
	c := d.tx.commit(lsn, end, ts)
	d.tx = nil
	return c, true, nil
}

func (d *decoder) streamStart(r *reader) error {
	xid := r.u32("StreamStart")
	first := r.u8("StreamStart")
	if err := r.done("StreamStart"); err != nil {
		return err
	}
	if d.tx != nil || d.inStream {
		return fmt.Errorf("%w: StreamStart inside a transaction", errProtocol)
	}
	t := d.streams[xid]
	switch {
	case first == 1 && t == nil:
		d.streams[xid] = newTxBuf(xid)
	case first == 1:
		return fmt.Errorf("%w: first StreamStart for xid %d seen twice", errProtocol, xid)
	case t == nil:
		// Earlier chunks were never seen: their changes are unknown.
		return fmt.Errorf("%w: StreamStart continues unknown xid %d", errProtocol, xid)
	}
	d.inStream = true
	d.streamXID = xid
	return nil
}

func (d *decoder) streamStop(r *reader) error {
	if err := r.done("StreamStop"); err != nil {
		return err
	}
	if !d.inStream {
		return fmt.Errorf("%w: StreamStop outside a stream", errProtocol)
	}
	d.inStream = false
	return nil
}

func (d *decoder) streamCommit(r *reader) (reactive.Commit, bool, error) {
	xid := r.u32("StreamCommit")
	r.u8("StreamCommit") // flags
	lsn := r.u64("StreamCommit")
	end := r.u64("StreamCommit")
	ts := r.u64("StreamCommit")
	if err := r.done("StreamCommit"); err != nil {
		return reactive.Commit{}, false, err
	}
	t := d.streams[xid]
	if t == nil || d.inStream || d.tx != nil {
		return reactive.Commit{}, false, fmt.Errorf("%w: unexpected StreamCommit for xid %d", errProtocol, xid)
	}
	delete(d.streams, xid)
	// pgoutput now counts the schemas it streamed as sent: later
	// transactions refer to them without sending them again.
	for id, rel := range t.relations {
		d.relations[id] = rel
	}
	return t.commit(lsn, end, ts), true, nil
}

func (d *decoder) streamAbort(r *reader) error {
	xid := r.u32("StreamAbort")
	subxid := r.u32("StreamAbort")
	if err := r.done("StreamAbort"); err != nil {
		return err
	}
	if d.inStream || d.tx != nil {
		return fmt.Errorf("%w: StreamAbort inside a transaction", errProtocol)
	}
	t := d.streams[xid]
	switch {
	case t == nil:
		// Nothing was kept for it; nothing to drop.
	case subxid == xid:
		delete(d.streams, xid)
	default:
		t.dropSubxact(subxid)
	}
	return nil
}

// target returns the transaction a data message belongs to.
func (d *decoder) target() (*txBuf, error) {
	if d.inStream {
		return d.streams[d.streamXID], nil
	}
	if d.tx == nil {
		return nil, fmt.Errorf("%w: change outside a transaction", errProtocol)
	}
	return d.tx, nil
}

func (d *decoder) relation(t *txBuf, id uint32) (*relation, error) {
	if t != nil && t.relations != nil {
		if rel := t.relations[id]; rel != nil {
			return rel, nil
		}
	}
	if rel := d.relations[id]; rel != nil {
		return rel, nil
	}
	return nil, fmt.Errorf("%w: unknown relation %d", errProtocol, id)
}

// data handles Relation, Type, Insert, Update, Delete, Truncate and Message.
func (d *decoder) data(typ byte, r *reader, subxid uint32) error {
	switch typ {
	case 'R':
		return d.relationMsg(r)
	case 'Y':
		r.u32("Type")
		r.str("Type")
		r.str("Type")
		return r.done("Type")
	case 'M':
		r.u8("Message")
		r.u64("Message")
		r.str("Message")
		r.bytes(r.u32("Message"), "Message")
		return r.done("Message")
	}

	t, err := d.target()
	if err != nil {
		return err
	}
	if typ == 'T' {
		n := r.u32("Truncate")
		r.u8("Truncate") // options
		if r.err != nil {
			return r.err
		}
		if uint64(n)*4 != uint64(len(r.b)) {
			return fmt.Errorf("%w: Truncate of %d relations has %d bytes", errProtocol, n, len(r.b))
		}
		ids := make([]uint32, 0, n)
		for range n {
			ids = append(ids, r.u32("Truncate"))
		}
		if err := r.done("Truncate"); err != nil {
			return err
		}
		for _, id := range ids {
			rel, err := d.relation(t, id)
			if err != nil {
				return err
			}
			t.markOverflow(rel.name)
		}
		return nil
	}

	rel, err := d.relation(t, r.u32("relation id"))
	if r.err != nil {
		return r.err
	}
	if err != nil {
		return err
	}
	var (
		ch       = reactive.Change{Table: rel.name}
		complete = true
		oldTup   []tupleCol
		newTup   []tupleCol
	)
	switch typ {
	case 'I':
		ch.Op = reactive.OpInsert
		if k := r.u8("Insert"); r.err == nil && k != 'N' {
			return fmt.Errorf("%w: Insert tuple kind %q", errProtocol, k)
		}
		newTup = r.tuple("Insert")
	case 'U':
		ch.Op = reactive.OpUpdate
		k := r.u8("Update")
		switch {
		case r.err != nil:
		case k == 'O' || k == 'K':
			oldTup, complete = r.oldTuple(k, "Update old tuple", "Update key") // a key alone leaves it incomplete
			if k := r.u8("Update"); r.err == nil && k != 'N' {
				return fmt.Errorf("%w: Update new tuple kind %q", errProtocol, k)
			}
		case k == 'N':
			complete = false // no old row at all
		default:
			return fmt.Errorf("%w: Update tuple kind %q", errProtocol, k)
		}
		newTup = r.tuple("Update new tuple")
	case 'D':
		ch.Op = reactive.OpDelete
		k := r.u8("Delete")
		switch {
		case r.err != nil:
		case k == 'O' || k == 'K':
			oldTup, complete = r.oldTuple(k, "Delete", "Delete")
		default:
			return fmt.Errorf("%w: Delete tuple kind %q", errProtocol, k)
		}
	}
	if err := r.done("change"); err != nil {
		return err
	}

	if oldTup != nil {
		var ok bool
		if ch.Old, ok, err = columns(rel, oldTup, nil); err != nil {
			return err
		}
		complete = complete && ok
	}
	if newTup != nil {
		var ok bool
		if ch.New, ok, err = columns(rel, newTup, ch.Old); err != nil {
			return err
		}
		complete = complete && ok
	}
	if !complete {
		t.markOverflow(rel.name)
		return nil
	}
	t.add(ch, subxid, d.inStream, d.maxTxChanges)
	return nil
}

func (d *decoder) relationMsg(r *reader) error {
	id := r.u32("Relation")
	r.str("Relation") // namespace
	rel := &relation{name: r.str("Relation")}
	rel.full = r.u8("Relation") == 'f'
	n := int(r.u16("Relation"))
	if r.err != nil {
		return r.err
	}
	if n*10 > len(r.b) { // flags, name, type oid, typmod: at least 10 bytes each
		return fmt.Errorf("%w: Relation with %d columns has %d bytes", errProtocol, n, len(r.b))
	}
	rel.cols = make([]string, 0, n)
	for range n {
		r.u8("Relation column") // flags
		rel.cols = append(rel.cols, r.str("Relation column"))
		r.u32("Relation column") // type oid
		r.u32("Relation column") // type modifier
	}
	if err := r.done("Relation"); err != nil {
		return err
	}
	if d.inStream {
		t := d.streams[d.streamXID]
		if t.relations == nil {
			t.relations = map[uint32]*relation{}
		}
		t.relations[id] = rel
	} else {
		d.relations[id] = rel
	}
	if !rel.full && d.nonFull != nil {
		d.nonFull(rel.name)
	}
	return nil
}

// columns converts a tuple to text columns. Unchanged TOAST values ('u') are
// taken from the same column of old. It reports false when a value is unknown.
func columns(rel *relation, tup []tupleCol, old []reactive.Column) ([]reactive.Column, bool, error) {
	if len(tup) != len(rel.cols) {
		return nil, false, fmt.Errorf("%w: tuple of %s has %d columns, relation has %d",
			errProtocol, rel.name, len(tup), len(rel.cols))
	}
	cols := make([]reactive.Column, len(tup))
	for i, c := range tup {
		cols[i].Name = rel.cols[i]
		switch c.kind {
		case 'n':
			cols[i].Null = true
		case 't':
			cols[i].Value = string(c.data)
		case 'u':
			if old == nil {
				return nil, false, nil
			}
			cols[i].Value, cols[i].Null = old[i].Value, old[i].Null
		default: // 'b': binary output was not requested
			return nil, false, fmt.Errorf("%w: unexpected binary column %s.%s", errProtocol, rel.name, rel.cols[i])
		}
	}
	return cols, true, nil
}
