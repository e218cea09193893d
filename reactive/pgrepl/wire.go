package pgrepl

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// reader is a bounds-checked cursor over one pgoutput message. The first
// short read sets err; every later read returns zero values, so callers check
// err once after a group of reads. It never panics and never allocates more
// than the input can justify.
type reader struct {
	b   []byte
	err error
}

// need reports whether n more bytes can be read. The check is small enough
// to inline into every read; failing is not.
func (r *reader) need(n int, what string) bool {
	if r.err == nil && n >= 0 && len(r.b) >= n {
		return true
	}
	r.short(what)
	return false
}

// short records a truncated what, unless a read failed before.
func (r *reader) short(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated %s", errProtocol, what)
		r.b = nil
	}
}

// take consumes the next n bytes and returns them without copying, or nil
// after a short read.
func (r *reader) take(n int, what string) []byte {
	if !r.need(n, what) {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(what string) byte {
	if b := r.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if b := r.take(2, what); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// str reads a NUL-terminated string and copies it.
func (r *reader) str(what string) string {
	if r.err != nil {
		return ""
	}
	i := bytes.IndexByte(r.b, 0)
	if i < 0 {
		r.err = fmt.Errorf("%w: unterminated %s", errProtocol, what)
		r.b = nil
		return ""
	}
	s := string(r.b[:i])
	r.b = r.b[i+1:]
	return s
}

// bytes returns the next n bytes without copying them.
func (r *reader) bytes(n uint32, what string) []byte {
	if uint64(n) > uint64(len(r.b)) {
		r.need(len(r.b)+1, what)
		return nil
	}
	return r.take(int(n), what)
}

// tupleCol is one column of a TupleData submessage. data aliases the message
// buffer, which the connection reuses: copy before keeping it.
type tupleCol struct {
	kind byte // 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary
	data []byte
}

// tuple reads a TupleData submessage.
func (r *reader) tuple(what string) []tupleCol {
	n := int(r.u16(what))
	if r.err != nil {
		return nil
	}
	if n > len(r.b) { // every column takes at least one byte
		r.need(len(r.b)+1, what)
		return nil
	}
	cols := make([]tupleCol, n)
	for i := range cols {
		kind := r.u8(what)
		switch kind {
		case 'n', 'u':
		case 't', 'b':
			cols[i].data = r.bytes(r.u32(what), what)
		default:
			if r.err == nil {
				r.err = fmt.Errorf("%w: %s column kind %q", errProtocol, what, kind)
			}
		}
		if r.err != nil {
			return nil
		}
		cols[i].kind = kind
	}
	return cols
}

// oldTuple reads the old row an Update or Delete sends after kind k: the
// whole row ('O'), or only its key ('K'), which it skips and reports as not
// whole. oldWhat and keyWhat name the two in errors.
func (r *reader) oldTuple(k byte, oldWhat, keyWhat string) (tup []tupleCol, whole bool) {
	if k == 'K' {
		r.tuple(keyWhat)
		return nil, false
	}
	return r.tuple(oldWhat), true
}

// done reports an error if the message has bytes left over or a read failed.
func (r *reader) done(what string) error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes after %s", errProtocol, len(r.b), what)
	}
	return nil
}
