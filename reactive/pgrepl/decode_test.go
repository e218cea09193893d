package pgrepl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/reactive"
)

// Builders for pgoutput v2 messages, as a server would send them.

type col struct {
	kind byte
	val  string
}

func txt(v string) col { return col{'t', v} }
func null() col        { return col{kind: 'n'} }
func toast() col       { return col{kind: 'u'} }

type wb []byte

func (b wb) u8(v byte) wb    { return append(b, v) }
func (b wb) u16(v uint16) wb { return binary.BigEndian.AppendUint16(b, v) }
func (b wb) u32(v uint32) wb { return binary.BigEndian.AppendUint32(b, v) }
func (b wb) u64(v uint64) wb { return binary.BigEndian.AppendUint64(b, v) }
func (b wb) str(s string) wb { return append(append(b, s...), 0) }
func (b wb) tuple(cols ...col) wb {
	b = b.u16(uint16(len(cols)))
	for _, c := range cols {
		b = b.u8(c.kind)
		if c.kind == 't' {
			b = b.u32(uint32(len(c.val)))
			b = append(b, c.val...)
		}
	}
	return b
}

// head starts a data message, with the xid prefix used inside streams when
// xid is not 0.
func head(typ byte, xid uint32) wb {
	b := wb{typ}
	if xid != 0 {
		b = b.u32(xid)
	}
	return b
}

func relMsg(xid, id uint32, name string, full bool, cols ...string) []byte {
	ident := byte('d')
	if full {
		ident = 'f'
	}
	b := head('R', xid).u32(id).str("public").str(name).u8(ident).u16(uint16(len(cols)))
	for _, c := range cols {
		b = b.u8(0).str(c).u32(25).u32(0xffffffff)
	}
	return b
}

func beginMsg(xid uint32) []byte { return wb{'B'}.u64(0x100).u64(0).u32(xid) }
func commitMsg(lsn, end uint64) []byte {
	return wb{'C'}.u8(0).u64(lsn).u64(end).u64(0)
}
func insertMsg(xid, id uint32, cols ...col) []byte {
	return head('I', xid).u32(id).u8('N').tuple(cols...)
}
func updateMsg(xid, id uint32, oldKind byte, old []col, cols ...col) []byte {
	b := head('U', xid).u32(id)
	if oldKind != 0 {
		b = b.u8(oldKind).tuple(old...)
	}
	return b.u8('N').tuple(cols...)
}
func deleteMsg(xid, id uint32, oldKind byte, old ...col) []byte {
	return head('D', xid).u32(id).u8(oldKind).tuple(old...)
}
func truncateMsg(xid uint32, ids ...uint32) []byte {
	b := head('T', xid).u32(uint32(len(ids))).u8(0)
	for _, id := range ids {
		b = b.u32(id)
	}
	return b
}
func typeMsg(xid uint32) []byte { return head('Y', xid).u32(1234).str("public").str("mood") }
func logicalMsg(xid uint32) []byte {
	return head('M', xid).u8(1).u64(0x200).str("prefix").u32(3).str("ab")
}
func originMsg() []byte { return wb{'O'}.u64(0x300).str("origin") }
func streamStart(xid uint32, first bool) []byte {
	f := byte(0)
	if first {
		f = 1
	}
	return wb{'S'}.u32(xid).u8(f)
}
func streamStop() []byte { return []byte{'E'} }
func streamCommit(xid uint32, lsn, end uint64) []byte {
	return wb{'c'}.u32(xid).u8(0).u64(lsn).u64(end).u64(0)
}
func streamAbort(xid, subxid uint32) []byte { return wb{'A'}.u32(xid).u32(subxid) }

func cols(kv ...string) []reactive.Column {
	var out []reactive.Column
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "\x00" {
			out = append(out, reactive.Column{Name: kv[i], Null: true})
			continue
		}
		out = append(out, reactive.Column{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

const (
	relItems = 16384
	relOther = 16390
)

// relations sent at the start of most cases.
var rels = [][]byte{
	relMsg(0, relItems, "items", true, "id", "body"),
	relMsg(0, relOther, "other", true, "id"),
}

func seq(parts ...any) [][]byte {
	var out [][]byte
	for _, p := range parts {
		switch p := p.(type) {
		case []byte:
			out = append(out, p)
		case wb:
			out = append(out, p)
		case [][]byte:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("seq: %T", p))
		}
	}
	return out
}

func TestDecoder(t *testing.T) {
	big := string(make([]byte, 5000))
	tests := []struct {
		name    string
		max     int
		msgs    [][]byte
		want    []reactive.Commit
		wantErr bool
	}{
		{
			name: "insert update delete",
			msgs: seq(rels, beginMsg(7),
				insertMsg(0, relItems, txt("1"), txt("a")),
				updateMsg(0, relItems, 'O', []col{txt("1"), txt("a")}, txt("1"), null()),
				deleteMsg(0, relItems, 'O', txt("1"), null()),
				typeMsg(0), logicalMsg(0), originMsg(),
				commitMsg(0x500, 0x530)),
			want: []reactive.Commit{{XID: 7, LSN: 0x500, EndLSN: 0x530, Changes: []reactive.Change{
				{Table: "items", Op: reactive.OpInsert, New: cols("id", "1", "body", "a")},
				{Table: "items", Op: reactive.OpUpdate, Old: cols("id", "1", "body", "a"), New: cols("id", "1", "body", "\x00")},
				{Table: "items", Op: reactive.OpDelete, Old: cols("id", "1", "body", "\x00")},
			}}},
		},
		{
			name: "unchanged toast taken from old tuple",
			msgs: seq(rels, beginMsg(8),
				updateMsg(0, relItems, 'O', []col{txt("1"), txt(big)}, txt("2"), toast()),
				commitMsg(0x600, 0x630)),
			want: []reactive.Commit{{XID: 8, LSN: 0x600, EndLSN: 0x630, Changes: []reactive.Change{
				{Table: "items", Op: reactive.OpUpdate, Old: cols("id", "1", "body", big), New: cols("id", "2", "body", big)},
			}}},
		},
		{
			name: "unchanged toast without old tuple overflows",
			msgs: seq(rels, beginMsg(9),
				insertMsg(0, relOther, txt("5")),
				insertMsg(0, relItems, txt("1"), txt("a")),
				updateMsg(0, relItems, 0, nil, txt("2"), toast()),
				insertMsg(0, relItems, txt("3"), txt("c")),
				commitMsg(0x700, 0x730)),
			want: []reactive.Commit{{XID: 9, LSN: 0x700, EndLSN: 0x730,
				Changes:  []reactive.Change{{Table: "other", Op: reactive.OpInsert, New: cols("id", "5")}},
				Overflow: []string{"items"},
			}},
		},
		{
			name: "key-only old tuples overflow",
			msgs: seq(rels, beginMsg(10),
				updateMsg(0, relItems, 'K', []col{txt("1"), null()}, txt("1"), txt("b")),
				deleteMsg(0, relOther, 'K', txt("5")),
				commitMsg(0x800, 0x830)),
			want: []reactive.Commit{{XID: 10, LSN: 0x800, EndLSN: 0x830, Overflow: []string{"items", "other"}}},
		},
		{
			name: "truncate overflows",
			msgs: seq(rels, beginMsg(11), truncateMsg(0, relItems, relOther), commitMsg(0x900, 0x930)),
			want: []reactive.Commit{{XID: 11, LSN: 0x900, EndLSN: 0x930, Overflow: []string{"items", "other"}}},
		},
		{
			name: "per-table cap",
			max:  2,
			msgs: seq(rels, beginMsg(12),
				insertMsg(0, relItems, txt("1"), txt("a")),
				insertMsg(0, relOther, txt("1")),
				insertMsg(0, relItems, txt("2"), txt("b")),
				insertMsg(0, relItems, txt("3"), txt("c")),
				insertMsg(0, relItems, txt("4"), txt("d")),
				insertMsg(0, relOther, txt("2")),
				commitMsg(0xa00, 0xa30)),
			want: []reactive.Commit{{XID: 12, LSN: 0xa00, EndLSN: 0xa30,
				Changes: []reactive.Change{
					{Table: "other", Op: reactive.OpInsert, New: cols("id", "1")},
					{Table: "other", Op: reactive.OpInsert, New: cols("id", "2")},
				},
				Overflow: []string{"items"},
			}},
		},
		{
			name: "streamed transaction across chunks, interleaved with a normal one",
			msgs: seq(rels,
				streamStart(20, true), insertMsg(20, relItems, txt("1"), txt("a")), streamStop(),
				beginMsg(21), insertMsg(0, relOther, txt("9")), commitMsg(0xb00, 0xb30),
				streamStart(20, false), insertMsg(20, relItems, txt("2"), txt("b")), streamStop(),
				streamCommit(20, 0xc00, 0xc30)),
			want: []reactive.Commit{
				{XID: 21, LSN: 0xb00, EndLSN: 0xb30, Changes: []reactive.Change{{Table: "other", Op: reactive.OpInsert, New: cols("id", "9")}}},
				{XID: 20, LSN: 0xc00, EndLSN: 0xc30, Changes: []reactive.Change{
					{Table: "items", Op: reactive.OpInsert, New: cols("id", "1", "body", "a")},
					{Table: "items", Op: reactive.OpInsert, New: cols("id", "2", "body", "b")},
				}},
			},
		},
		{
			name: "streamed transaction capped",
			max:  1,
			msgs: seq(rels,
				streamStart(20, true), insertMsg(20, relItems, txt("1"), txt("a")), streamStop(),
				streamStart(20, false), insertMsg(20, relItems, txt("2"), txt("b")), streamStop(),
				streamCommit(20, 0xc00, 0xc30)),
			want: []reactive.Commit{{XID: 20, LSN: 0xc00, EndLSN: 0xc30, Overflow: []string{"items"}}},
		},
		{
			name: "streamed transaction aborted",
			msgs: seq(rels,
				streamStart(30, true), insertMsg(30, relItems, txt("1"), txt("a")), streamStop(),
				streamAbort(30, 30),
				beginMsg(31), insertMsg(0, relOther, txt("1")), commitMsg(0xd00, 0xd30)),
			want: []reactive.Commit{{XID: 31, LSN: 0xd00, EndLSN: 0xd30, Changes: []reactive.Change{{Table: "other", Op: reactive.OpInsert, New: cols("id", "1")}}}},
		},
		{
			name: "subtransaction abort drops only its changes",
			msgs: seq(rels,
				streamStart(40, true),
				insertMsg(40, relItems, txt("1"), txt("keep")),
				insertMsg(41, relItems, txt("2"), txt("drop")),
				streamStop(),
				streamAbort(40, 41),
				streamStart(40, false), insertMsg(42, relItems, txt("3"), txt("later")), streamStop(),
				streamCommit(40, 0xe00, 0xe30)),
			want: []reactive.Commit{{XID: 40, LSN: 0xe00, EndLSN: 0xe30, Changes: []reactive.Change{
				{Table: "items", Op: reactive.OpInsert, New: cols("id", "1", "body", "keep")},
				{Table: "items", Op: reactive.OpInsert, New: cols("id", "3", "body", "later")},
			}}},
		},
		{
			name: "relation sent in a stream does not leak to other transactions",
			msgs: seq(rels,
				streamStart(50, true),
				relMsg(50, relItems, "items", true, "id", "body", "extra"),
				insertMsg(50, relItems, txt("1"), txt("a"), txt("x")),
				streamStop(),
				beginMsg(51), insertMsg(0, relItems, txt("2"), txt("b")), commitMsg(0xf00, 0xf30),
				streamAbort(50, 50)),
			want: []reactive.Commit{{XID: 51, LSN: 0xf00, EndLSN: 0xf30, Changes: []reactive.Change{
				{Table: "items", Op: reactive.OpInsert, New: cols("id", "2", "body", "b")},
			}}},
		},
		{
			name: "relation sent in a committed stream applies to later transactions",
			msgs: seq(
				streamStart(60, true),
				relMsg(60, relOther, "other", true, "id"),
				insertMsg(60, relOther, txt("1")),
				streamStop(),
				streamCommit(60, 0x1000, 0x1030),
				beginMsg(61), insertMsg(0, relOther, txt("2")), commitMsg(0x1100, 0x1130)),
			want: []reactive.Commit{
				{XID: 60, LSN: 0x1000, EndLSN: 0x1030, Changes: []reactive.Change{{Table: "other", Op: reactive.OpInsert, New: cols("id", "1")}}},
				{XID: 61, LSN: 0x1100, EndLSN: 0x1130, Changes: []reactive.Change{{Table: "other", Op: reactive.OpInsert, New: cols("id", "2")}}},
			},
		},
		{
			name: "relation sent in an aborted stream is forgotten",
			msgs: seq(
				streamStart(70, true),
				relMsg(70, relOther, "other", true, "id"),
				streamStop(),
				streamAbort(70, 70),
				beginMsg(71), insertMsg(0, relOther, txt("2"))),
			wantErr: true,
		},
		{name: "commit without begin", msgs: seq(commitMsg(1, 2)), wantErr: true},
		{name: "change outside a transaction", msgs: seq(rels, insertMsg(0, relItems, txt("1"), txt("a"))), wantErr: true},
		{name: "unknown relation", msgs: seq(beginMsg(1), insertMsg(0, 99, txt("1"))), wantErr: true},
		{name: "column count mismatch", msgs: seq(rels, beginMsg(1), insertMsg(0, relItems, txt("1"))), wantErr: true},
		{name: "nested begin", msgs: seq(beginMsg(1), beginMsg(2)), wantErr: true},
		{name: "stream continues unknown xid", msgs: seq(streamStart(5, false)), wantErr: true},
		{name: "stream commit of unknown xid", msgs: seq(streamCommit(5, 1, 2)), wantErr: true},
		{name: "truncated begin", msgs: seq(beginMsg(1)[:10]), wantErr: true},
		{name: "trailing bytes", msgs: seq(append(beginMsg(1), 0)), wantErr: true},
		{name: "empty message", msgs: [][]byte{{}}, wantErr: true},
		{name: "unknown message type", msgs: [][]byte{{'Z'}}, wantErr: true},
		{name: "binary column", msgs: seq(rels, beginMsg(1), insertMsg(0, relOther, col{'b', "x"})), wantErr: true},
		{name: "huge declared length", msgs: seq(rels, beginMsg(1), wb(insertMsg(0, relOther, txt("1")))[:9].u32(0xfffffff0)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = 100
			}
			d := newDecoder(max)
			var got []reactive.Commit
			var err error
			for _, m := range tt.msgs {
				var c reactive.Commit
				var ok bool
				c, ok, err = d.decode(m)
				if err != nil {
					break
				}
				if ok {
					got = append(got, c)
				}
			}
			if tt.wantErr {
				require.Error(t, err)
				require.True(t, errors.Is(err, errProtocol), "error %v is not errProtocol", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, normalize(got))
		})
	}
}

// normalize makes empty slices nil so expected values can omit them.
func normalize(cs []reactive.Commit) []reactive.Commit {
	for i := range cs {
		cs[i].CommitTime = time.Time{} // checked by TestDecoderCommitTime
		if len(cs[i].Changes) == 0 {
			cs[i].Changes = nil
		}
		if len(cs[i].Overflow) == 0 {
			cs[i].Overflow = nil
		}
	}
	return cs
}

func TestDecoderCommitTime(t *testing.T) {
	d := newDecoder(100)
	ts := uint64(time.Date(2026, 11, 21, 12, 0, 0, 123456000, time.UTC).Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).Microseconds())
	_, _, err := d.decode(beginMsg(5))
	require.NoError(t, err)
	c, ok, err := d.decode(wb{'C'}.u8(0).u64(0x500).u64(0x530).u64(ts))
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, c.CommitTime.Equal(time.Date(2026, 11, 21, 12, 0, 0, 123456000, time.UTC)), c.CommitTime)
}

func TestDecoderIdle(t *testing.T) {
	d := newDecoder(100)
	step := func(m []byte, idle bool) {
		t.Helper()
		_, _, err := d.decode(m)
		require.NoError(t, err)
		require.Equal(t, idle, d.idle())
	}
	step(rels[0], true)
	step(beginMsg(1), false)
	step(insertMsg(0, relItems, txt("1"), txt("a")), false)
	step(commitMsg(1, 2), true)
	step(streamStart(2, true), false)
	step(insertMsg(2, relItems, txt("1"), txt("a")), false)
	step(streamStop(), true) // between chunks: the transaction has not committed
	step(streamCommit(2, 3, 4), true)
}

func TestDecoderReportsNonFullRelations(t *testing.T) {
	d := newDecoder(100)
	var warned []string
	d.nonFull = func(table string) { warned = append(warned, table) }
	for _, m := range [][]byte{relMsg(0, 1, "full", true, "id"), relMsg(0, 2, "keyed", false, "id")} {
		_, _, err := d.decode(m)
		require.NoError(t, err)
	}
	require.Equal(t, []string{"keyed"}, warned)
}

// frames joins messages with 2-byte length prefixes, the fuzz input format.
func frames(msgs [][]byte) []byte {
	var b wb
	for _, m := range msgs {
		b = b.u16(uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

// FuzzDecode feeds the decoder arbitrary message sequences. Input is a list
// of messages, each prefixed with a 2-byte big-endian length. The decoder
// must not panic, and whatever it delivers must respect its invariants. After
// an error it is replaced, as the source does on reconnect.
func FuzzDecode(f *testing.F) {
	f.Add(frames(seq(rels, beginMsg(7),
		insertMsg(0, relItems, txt("1"), txt("a")),
		updateMsg(0, relItems, 'O', []col{txt("1"), txt("a")}, txt("1"), toast()),
		updateMsg(0, relItems, 0, nil, txt("1"), toast()),
		deleteMsg(0, relItems, 'O', txt("1"), null()),
		deleteMsg(0, relOther, 'K', txt("1")),
		truncateMsg(0, relOther), typeMsg(0), logicalMsg(0), originMsg(),
		commitMsg(0x500, 0x530))))
	f.Add(frames(seq(rels,
		streamStart(40, true),
		relMsg(40, relItems, "items", true, "id", "body"),
		insertMsg(40, relItems, txt("1"), txt("keep")),
		insertMsg(41, relItems, txt("2"), txt("drop")),
		insertMsg(41, relItems, txt("3"), txt("drop")),
		insertMsg(41, relItems, txt("4"), txt("drop")),
		typeMsg(41), logicalMsg(41), truncateMsg(41, relOther),
		streamStop(),
		streamAbort(40, 41),
		streamStart(40, false), insertMsg(42, relItems, txt("3"), txt("later")), streamStop(),
		streamCommit(40, 0xe00, 0xe30),
		streamStart(50, true), insertMsg(50, relOther, txt("1")), streamStop(), streamAbort(50, 50))))
	f.Add([]byte{})

	const max = 3
	f.Fuzz(func(t *testing.T, in []byte) {
		d := newDecoder(max)
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			if n > len(in) {
				n = len(in)
			}
			msg := in[:n:n]
			in = in[n:]

			c, ok, err := d.decode(msg)
			if err != nil {
				if !errors.Is(err, errProtocol) {
					t.Fatalf("error %v is not errProtocol", err)
				}
				d = newDecoder(max)
				continue
			}
			if ok {
				checkCommit(t, c, max)
			}
		}
	})
}

func checkCommit(t *testing.T, c reactive.Commit, max int) {
	over := map[string]bool{}
	for _, tb := range c.Overflow {
		if over[tb] {
			t.Fatalf("table %q twice in Overflow", tb)
		}
		over[tb] = true
	}
	counts := map[string]int{}
	for _, ch := range c.Changes {
		if over[ch.Table] {
			t.Fatalf("table %q has rows and is in Overflow", ch.Table)
		}
		counts[ch.Table]++
		if counts[ch.Table] > max {
			t.Fatalf("table %q has more than %d rows", ch.Table, max)
		}
		switch ch.Op {
		case reactive.OpInsert:
			if ch.Old != nil || ch.New == nil {
				t.Fatalf("insert with old=%v new=%v", ch.Old, ch.New)
			}
		case reactive.OpUpdate:
			if ch.Old == nil || ch.New == nil || len(ch.Old) != len(ch.New) {
				t.Fatalf("update with old=%v new=%v", ch.Old, ch.New)
			}
		case reactive.OpDelete:
			if ch.Old == nil || ch.New != nil {
				t.Fatalf("delete with old=%v new=%v", ch.Old, ch.New)
			}
		default:
			t.Fatalf("bad op %d", ch.Op)
		}
	}
}
