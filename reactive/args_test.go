package reactive

import (
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
)

// An instance keeps only its canonical arguments and decodes them for
// each run: that must give back exactly the arguments the subscription
// was made with, for every query's argument type.
func TestCanonicalArgsDecodeToTheSameArguments(t *testing.T) {
	reg := functions.NewRegistry()
	chat.Register(reg, chat.Config{})
	rnd := rand.New(rand.NewSource(1))
	queries := 0
	for _, fn := range reg.Functions() {
		if fn.Kind != functions.KindQuery {
			continue
		}
		queries++
		for range 200 {
			v, ok := quick.Value(fn.Args, rnd)
			require.True(t, ok, "%s: cannot generate %s", fn.Name, fn.Args)
			canon, err := canonicalArgs(v)
			require.NoError(t, err, fn.Name)
			got, err := decodeCanonical(fn, canon)
			require.NoError(t, err, fn.Name)
			require.True(t, reflect.DeepEqual(v.Interface(), got.Interface()), "%s: %s decoded to %#v, not %#v", fn.Name, canon, got.Interface(), v.Interface())
			again, err := canonicalArgs(got)
			require.NoError(t, err)
			require.Equal(t, canon, again, fn.Name)
		}
	}
	require.Greater(t, queries, 5)
}

// Arguments as a client spells them (in any order, with absent optional
// fields) decode, through validation and the canonical form, to what
// validation alone gives.
func TestCanonicalArgsOfClientArguments(t *testing.T) {
	reg := functions.NewRegistry()
	chat.Register(reg, chat.Config{})
	fn, err := reg.Lookup("shared/chat:getMessages")
	require.NoError(t, err)
	for _, raw := range []string{
		`{"conversationId":"c1"}`,
		`{"limit":5,"conversationId":"c1"}`,
		`{"conversationId":"c1","limit":null,"cursor":"abc"}`,
		` { "cursor" : "x\u00e9\"y" , "conversationId" : "c\u0001" } `,
	} {
		want, err := fn.DecodeArgs([]byte(raw))
		require.NoError(t, err, raw)
		canon, err := canonicalArgs(want)
		require.NoError(t, err)
		got, err := decodeCanonical(fn, canon)
		require.NoError(t, err)
		require.Equal(t, want.Interface(), got.Interface(), raw)
	}
	_, err = decodeCanonical(fn, `{"conversationId":5}`)
	require.ErrorContains(t, err, "shared/chat:getMessages: decode canonical args")
}

// Decoded strings are parts of the canonical JSON, which the instance
// keeps anyway: dependencies that hold them add nothing to the heap.
// Escaped strings cannot be, and keep a copy of their own.
func TestCanonicalArgsShareTheKeysMemory(t *testing.T) {
	reg := functions.NewRegistry()
	chat.Register(reg, chat.Config{})
	fn, err := reg.Lookup("shared/chat:getMessages")
	require.NoError(t, err)
	canon := `{"conversationId":"conv-1","limit":5,"cursor":"a\"b"}`
	v, err := decodeCanonical(fn, canon)
	require.NoError(t, err)
	a := v.Interface().(chat.GetMessagesArgs)
	require.Equal(t, "conv-1", a.ConversationID)
	require.Equal(t, `a"b`, *a.Cursor)
	within := func(s string) bool {
		p, base := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(canon)))
		return p >= base && p+uintptr(len(s)) <= base+uintptr(len(canon))
	}
	require.True(t, within(a.ConversationID), "conversationId is a copy")
	require.False(t, within(*a.Cursor))
}
