package lite

import "bytes"

// A JSON scanner just deep enough for server messages: it finds the spans
// of members and elements without decoding them.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string whose opening quote
// is at b[i], or -1.
func skipString(b []byte, i int) int {
	i++
	for {
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			return -1
		}
		j := i + k
		bs := 0
		for p := j - 1; p >= i && b[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return j + 1
		}
		i = j + 1
	}
}

// skipValue returns the index just past the value starting at b[i] (no
// leading space), or -1. It checks brackets and strings, not literals.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\t' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// members walks the object at b[i]: for every member it calls fn with
// the key (without quotes) and the index of the value, and fn returns the
// index just past the value (or -1). It returns the index just past the
// object, or -1 when b is not an object it can walk.
func members(b []byte, i int, fn func(key []byte, at int) int) int {
	return list(b, i, '{', '}', func(i int) int {
		if b[i] != '"' {
			return -1
		}
		end := skipString(b, i)
		if end < 0 {
			return -1
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		return fn(key, skipSpace(b, i+1))
	})
}

// elements walks the array at b[i] (null is an empty one): fn gets the
// index of every element and returns the index just past it (or -1). It
// returns the index just past the array, or -1.
func elements(b []byte, i int, fn func(at int) int) int {
	if i < len(b) && b[i] == 'n' {
		return skipValue(b, i)
	}
	return list(b, i, '[', ']', fn)
}

// list walks the comma-separated items between the bracket begin at b[i]
// and the matching end: item gets the index of every item (not space) and
// returns the index just past it (or -1). It returns the index just past
// end, or -1.
func list(b []byte, i int, begin, end byte, item func(at int) int) int {
	if i >= len(b) || b[i] != begin {
		return -1
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == end {
		return i + 1
	}
	for i < len(b) {
		if i = item(i); i < 0 {
			return -1
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return -1
		}
		if b[i] == end {
			return i + 1
		}
		if b[i] != ',' {
			return -1
		}
		i = skipSpace(b, i+1)
	}
	return -1
}

func parseUint(b []byte) int {
	if len(b) == 0 || len(b) > 9 {
		return -1
	}
	n := 0
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return -1
		}
		n = n*10 + int(ch-'0')
	}
	return n
}

// Elements calls fn with every element of the array that is member key
// of the object value (a query result, undecoded: getMessages' "messages",
// say), each undecoded. It returns false when value is not an object it
// can walk or that member is not an array; fn may have been called then.
func Elements(value []byte, key string, fn func(elem []byte)) bool {
	found := false
	end := members(value, skipSpace(value, 0), func(k []byte, i int) int {
		if string(k) != key {
			return skipValue(value, i)
		}
		found = true
		return elements(value, i, func(j int) int {
			e := skipValue(value, j)
			if e >= 0 {
				fn(value[j:e])
			}
			return e
		})
	})
	return end >= 0 && found
}

// Fields calls fn with the key (without quotes) and the undecoded value
// of every member of the object obj. It returns false when obj is not an
// object it can walk.
func Fields(obj []byte, fn func(key, value []byte)) bool {
	return members(obj, skipSpace(obj, 0), func(k []byte, i int) int {
		e := skipValue(obj, i)
		if e >= 0 {
			fn(k, obj[i:e])
		}
		return e
	}) >= 0
}
