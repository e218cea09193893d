package reactive

import (
	"context"
	"fmt"
	"time"
)

// LSN is a position in the PostgreSQL write-ahead log. Parley uses it as
// the protocol timestamp: a mutation's ts is the WAL position after its
// commit, and a session's ts is the position the engine has applied.
type LSN uint64

// String formats the LSN the way Postgres does (X/X).
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l)) }

// Op is the kind of a row change.
type Op uint8

// Row change kinds.
const (
	OpInsert Op = iota + 1
	OpUpdate
	OpDelete
)

// Column is one column value of a changed row, in Postgres text format.
type Column struct {
	Name  string
	Value string
	Null  bool
}

// Change is one committed row change. With REPLICA IDENTITY FULL, Old holds
// the whole previous row for updates and deletes; New holds the whole new row
// for inserts and updates, with unchanged TOAST values copied from Old.
type Change struct {
	Table string // unqualified table name
	Op    Op
	Old   []Column // nil for inserts
	New   []Column // nil for deletes
}

// Commit is one committed transaction, delivered in commit order.
type Commit struct {
	XID    uint32 // transaction id (for snapshot visibility checks)
	LSN    LSN    // commit LSN
	EndLSN LSN    // end of the commit record
	// CommitTime is the server's commit timestamp (write→push latency).
	CommitTime time.Time
	Changes    []Change
	// Overflow lists tables whose changes in this transaction were too many
	// to keep in memory. Every query that read such a table is invalidated.
	Overflow []string
}

// ChangeSink receives the change stream. The engine implements it.
type ChangeSink interface {
	// Commit delivers one committed transaction. It may block to apply
	// backpressure and returns early only with ctx's error.
	Commit(ctx context.Context, c Commit) error
	// Progress reports that every transaction that committed before lsn has
	// been delivered (a keepalive's WAL end, after all data before it).
	Progress(lsn LSN)
	// Reset reports that the stream (re)started at lsn: changes before it
	// may have been missed, so every live query must be re-run.
	Reset(lsn LSN)
	// Resume reports that the stream restarted at lsn and misses nothing
	// after Applied (a permanent slot resumed): the changes of the gap
	// follow as commits, and nothing needs re-running.
	Resume(lsn LSN)
	// Interrupted reports that the stream stopped: until the next Reset or
	// Resume, commits may go unseen, so live results may be stale.
	Interrupted()
	// Applied returns the highest LSN whose effects on live queries have
	// been pushed to sessions. The source reports it as flushed/applied.
	Applied() LSN
	// ProgressWanted is signalled when someone waits for a position the
	// source has not confirmed yet; the source then asks the server for a
	// keepalive so Progress can advance without unrelated traffic.
	ProgressWanted() <-chan struct{}
}

// ChangeSource produces the committed change stream.
type ChangeSource interface {
	// Run streams changes into sink until ctx is done or a fatal error
	// occurs. It reconnects on transient errors, calling sink.Interrupted
	// when a stream stops and sink.Reset or sink.Resume when one (re)starts.
	// It returns only after its goroutines have exited.
	Run(ctx context.Context, sink ChangeSink) error
}
