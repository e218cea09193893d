package pgrepl

import (
	"strconv"
	"testing"
)

// BenchmarkDecode measures the decoder on whole transactions as the
// replication connection receives them, after their Relation messages.
// Bytes per op are the pgoutput bytes of one transaction.
func BenchmarkDecode(b *testing.B) {
	const rows = 10
	var inserts, updates, deletes, streamed [][]byte
	for i := range rows {
		id := txt(strconv.Itoa(i))
		inserts = append(inserts, insertMsg(0, relItems, id, txt("a message of ordinary length")))
		updates = append(updates, updateMsg(0, relItems, 'O', []col{id, txt("before")}, id, txt("after")))
		deletes = append(deletes, deleteMsg(0, relItems, 'O', id, null()))
		streamed = append(streamed, insertMsg(40, relItems, id, txt("a message of ordinary length")))
	}
	wideCols := make([]string, 32)
	wideRow := make([]col, 32)
	for i := range wideCols {
		wideCols[i] = "c" + strconv.Itoa(i)
		wideRow[i] = txt(strconv.Itoa(i * 1000))
	}
	const relWide = 16400
	tests := []struct {
		name string
		rels [][]byte
		msgs [][]byte
	}{
		{"empty", rels, seq(beginMsg(7), commitMsg(0x500, 0x530))},
		{"insert", rels, seq(beginMsg(7), inserts, commitMsg(0x500, 0x530))},
		{"update", rels, seq(beginMsg(7), updates, commitMsg(0x500, 0x530))},
		{"delete", rels, seq(beginMsg(7), deletes, commitMsg(0x500, 0x530))},
		{"wide", seq(relMsg(0, relWide, "wide", true, wideCols...)),
			seq(beginMsg(7), insertMsg(0, relWide, wideRow...), commitMsg(0x500, 0x530))},
		{"stream", rels, seq(streamStart(40, true), streamed, streamStop(), streamCommit(40, 0xe00, 0xe30))},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			d := newDecoder(1000)
			for _, m := range tt.rels {
				if _, _, err := d.decode(m); err != nil {
					b.Fatal(err)
				}
			}
			n := 0
			for _, m := range tt.msgs {
				n += len(m)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				for _, m := range tt.msgs {
					if _, _, err := d.decode(m); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

var benchSink uint64

// BenchmarkReader measures the fixed-width reads every message is made
// of, apart from what decoding does with them.
func BenchmarkReader(b *testing.B) {
	var msg wb
	for range 64 {
		msg = msg.u8(1).u16(2).u32(3).u64(4)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var sum uint64
	for b.Loop() {
		r := reader{b: msg}
		for len(r.b) > 0 {
			sum += uint64(r.u8("x")) + uint64(r.u16("x")) + uint64(r.u32("x")) + r.u64("x")
		}
		if r.err != nil {
			b.Fatal(r.err)
		}
	}
	benchSink = sum
}
