package cluster

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-chat/parley/reactive"
)

// What the reader publishes on the change stream. Every message is one of
// three kinds, named by the last token of its subject and by header kindHdr:
// a commit (its changes), a progress mark (every commit before its LSN has
// been published) or a reset (the reader made the slot anew: changes
// before it may be missing, every live query must re-run). Header lsnHdr
// carries the message's position: a commit's end, a mark's or a reset's
// LSN, so a node can learn where it starts without decoding a body.
const (
	kindCommit   = "commit"
	kindProgress = "progress"
	kindReset    = "reset"

	kindHdr = "Parley-Kind"
	lsnHdr  = "Parley-Lsn"
	nodeHdr = "Parley-Node"
)

// wireCommit is a reactive.Commit as JSON. Column names repeat on every row;
// short keys keep the body small without a schema both sides must share.
type wireCommit struct {
	XID      uint32       `json:"x"`
	LSN      uint64       `json:"l"`
	EndLSN   uint64       `json:"e"`
	Time     int64        `json:"t"` // unix nanoseconds
	Changes  []wireChange `json:"c,omitempty"`
	Overflow []string     `json:"o,omitempty"`
}

type wireChange struct {
	Table string       `json:"t"`
	Op    reactive.Op  `json:"p"`
	Old   []wireColumn `json:"d,omitempty"`
	New   []wireColumn `json:"n,omitempty"`
}

// wireColumn is [name, value] or [name] for NULL.
type wireColumn []string

func encodeColumns(cols []reactive.Column) []wireColumn {
	if cols == nil {
		return nil
	}
	out := make([]wireColumn, len(cols))
	for i, c := range cols {
		if c.Null {
			out[i] = wireColumn{c.Name}
		} else {
			out[i] = wireColumn{c.Name, c.Value}
		}
	}
	return out
}

func decodeColumns(cols []wireColumn) ([]reactive.Column, error) {
	if cols == nil {
		return nil, nil
	}
	out := make([]reactive.Column, len(cols))
	for i, c := range cols {
		switch len(c) {
		case 1:
			out[i] = reactive.Column{Name: c[0], Null: true}
		case 2:
			out[i] = reactive.Column{Name: c[0], Value: c[1]}
		default:
			return nil, fmt.Errorf("column %d has %d elements", i, len(c))
		}
	}
	return out, nil
}

// encodeCommit is c's body. When it would exceed limit bytes, the changes
// are left out and every table they touch is listed as overflowed: nodes
// then re-run every query of those tables, which is exact, only slower.
func encodeCommit(c reactive.Commit, limit int) ([]byte, error) {
	w := wireCommit{XID: c.XID, LSN: uint64(c.LSN), EndLSN: uint64(c.EndLSN), Time: c.CommitTime.UnixNano(), Overflow: c.Overflow}
	w.Changes = make([]wireChange, len(c.Changes))
	for i, ch := range c.Changes {
		w.Changes[i] = wireChange{Table: ch.Table, Op: ch.Op, Old: encodeColumns(ch.Old), New: encodeColumns(ch.New)}
	}
	b, err := json.Marshal(w)
	if err != nil || len(b) <= limit {
		return b, err
	}
	tables := map[string]bool{}
	for _, t := range c.Overflow {
		tables[t] = true
	}
	w.Overflow = append([]string(nil), c.Overflow...)
	for _, ch := range c.Changes {
		if !tables[ch.Table] {
			tables[ch.Table] = true
			w.Overflow = append(w.Overflow, ch.Table)
		}
	}
	w.Changes = nil
	return json.Marshal(w)
}

func decodeCommit(b []byte) (reactive.Commit, error) {
	var w wireCommit
	if err := json.Unmarshal(b, &w); err != nil {
		return reactive.Commit{}, err
	}
	c := reactive.Commit{XID: w.XID, LSN: reactive.LSN(w.LSN), EndLSN: reactive.LSN(w.EndLSN),
		CommitTime: time.Unix(0, w.Time), Overflow: w.Overflow}
	if len(w.Changes) > 0 {
		c.Changes = make([]reactive.Change, len(w.Changes))
	}
	for i, ch := range w.Changes {
		old, err := decodeColumns(ch.Old)
		if err != nil {
			return reactive.Commit{}, fmt.Errorf("change %d: old: %w", i, err)
		}
		nw, err := decodeColumns(ch.New)
		if err != nil {
			return reactive.Commit{}, fmt.Errorf("change %d: new: %w", i, err)
		}
		c.Changes[i] = reactive.Change{Table: ch.Table, Op: ch.Op, Old: old, New: nw}
	}
	return c, nil
}

// msgLSN is the position header of a change stream message.
func msgLSN(h nats.Header) (reactive.LSN, error) {
	v, err := strconv.ParseUint(h.Get(lsnHdr), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad %s header %q", lsnHdr, h.Get(lsnHdr))
	}
	return reactive.LSN(v), nil
}

// beat is the reader's heartbeat, on core NATS (not kept in the stream).
type beat struct {
	Node      string `json:"node"`
	Streaming bool   `json:"streaming"` // its replication connection streams
	Term      uint64 `json:"term"`
}
