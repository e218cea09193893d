package reactive

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/schema"
)

func col(name, value string) Column { return Column{Name: name, Value: value} }

func TestIndexMatch(t *testing.T) {
	x := newDepIndex()
	msgs, conv, settings := &instance{}, &instance{}, &instance{}
	replaceDeps(x, msgs, nil, []schema.Dep{{Table: "messages", Column: "conversation_id", Value: "c1"}, {Table: "users", Column: "id", Value: "u1"}})
	replaceDeps(x, conv, nil, []schema.Dep{{Table: "conversations", Column: "id", Value: "c1"}})
	replaceDeps(x, settings, nil, []schema.Dep{{Table: "chat_settings", Column: schema.WholeTable}})

	tests := []struct {
		name   string
		change Change
		want   []*instance
	}{
		{"insert into c1", Change{Table: "messages", Op: OpInsert, New: []Column{col("id", "m1"), col("conversation_id", "c1")}}, []*instance{msgs}},
		{"insert into c2", Change{Table: "messages", Op: OpInsert, New: []Column{col("id", "m1"), col("conversation_id", "c2")}}, nil},
		{"row leaves c1", Change{Table: "messages", Op: OpUpdate,
			Old: []Column{col("id", "m1"), col("conversation_id", "c1")}, New: []Column{col("id", "m1"), col("conversation_id", "c2")}}, []*instance{msgs}},
		{"delete from c1", Change{Table: "messages", Op: OpDelete, Old: []Column{col("conversation_id", "c1")}}, []*instance{msgs}},
		{"sender renamed", Change{Table: "users", Op: OpUpdate, Old: []Column{col("id", "u1"), col("name", "A")}, New: []Column{col("id", "u1"), col("name", "B")}}, []*instance{msgs}},
		{"same value other column", Change{Table: "messages", Op: OpInsert, New: []Column{col("id", "c1"), col("conversation_id", "c9")}}, nil},
		{"null never matches", Change{Table: "messages", Op: OpInsert, New: []Column{{Name: "conversation_id", Null: true}}}, nil},
		{"whole table", Change{Table: "chat_settings", Op: OpUpdate, New: []Column{col("id", "t")}}, []*instance{settings}},
		{"unread table", Change{Table: "orders", Op: OpInsert, New: []Column{col("id", "c1")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[*instance]struct{}{}
			x.match(&tt.change, got)
			require.Len(t, got, len(tt.want))
			for _, in := range tt.want {
				require.Contains(t, got, in)
			}
		})
	}

	// Replacing dependencies removes the stale ones.
	replaceDeps(x, msgs, []schema.Dep{{Table: "messages", Column: "conversation_id", Value: "c1"}, {Table: "users", Column: "id", Value: "u1"}},
		[]schema.Dep{{Table: "messages", Column: "conversation_id", Value: "c2"}})
	got := map[*instance]struct{}{}
	x.match(&Change{Table: "users", New: []Column{col("id", "u1")}}, got)
	require.Empty(t, got)
	require.NotContains(t, x.tables, "users")
	x.match(&Change{Table: "messages", New: []Column{col("conversation_id", "c2")}}, got)
	require.Contains(t, got, msgs)

	got = map[*instance]struct{}{}
	x.matchTable("conversations", got)
	require.Equal(t, map[*instance]struct{}{conv: {}}, got)

	replaceDeps(x, msgs, []schema.Dep{{Table: "messages", Column: "conversation_id", Value: "c2"}}, nil)
	replaceDeps(x, conv, []schema.Dep{{Table: "conversations", Column: "id", Value: "c1"}}, nil)
	replaceDeps(x, settings, []schema.Dep{{Table: "chat_settings", Column: schema.WholeTable}}, nil)
	require.Empty(t, x.byKey)
	require.Empty(t, x.tables)
}

func TestIndexWatchedColumns(t *testing.T) {
	x := newDepIndex()
	access, body := &instance{}, &instance{}
	replaceDeps(x, access, nil, []schema.Dep{{Table: "conversations", Column: "id", Value: "c1", Watch: "customer_id,store_id"}})
	replaceDeps(x, body, nil, []schema.Dep{{Table: "conversations", Column: "id", Value: "c1"}})
	row := func(kv ...string) []Column {
		var out []Column
		for i := 0; i < len(kv); i += 2 {
			out = append(out, col(kv[i], kv[i+1]))
		}
		return out
	}
	tests := []struct {
		name   string
		change Change
		want   []*instance
	}{
		{"new last message", Change{Table: "conversations", Op: OpUpdate,
			Old: row("id", "c1", "customer_id", "u1", "store_id", "s1", "last_message_at", "1"),
			New: row("id", "c1", "customer_id", "u1", "store_id", "s1", "last_message_at", "2")}, []*instance{body}},
		{"moved to another store", Change{Table: "conversations", Op: OpUpdate,
			Old: row("id", "c1", "customer_id", "u1", "store_id", "s1"), New: row("id", "c1", "customer_id", "u1", "store_id", "s2")}, []*instance{access, body}},
		{"insert", Change{Table: "conversations", Op: OpInsert, New: row("id", "c1", "customer_id", "u1")}, []*instance{access, body}},
		{"delete", Change{Table: "conversations", Op: OpDelete, Old: row("id", "c1", "customer_id", "u1")}, []*instance{access, body}},
		{"watched column missing from the row", Change{Table: "conversations", Op: OpUpdate,
			Old: row("id", "c1"), New: row("id", "c1")}, []*instance{access, body}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[*instance]struct{}{}
			x.match(&tt.change, got)
			require.Len(t, got, len(tt.want))
			for _, in := range tt.want {
				require.Contains(t, got, in)
			}
		})
	}
	// An unnarrowed read of the same key widens the instance's watch.
	replaceDeps(x, access, []schema.Dep{{Table: "conversations", Column: "id", Value: "c1", Watch: "customer_id,store_id"}},
		[]schema.Dep{{Table: "conversations", Column: "id", Value: "c1", Watch: "customer_id"}, {Table: "conversations", Column: "id", Value: "c1"}})
	got := map[*instance]struct{}{}
	x.match(&tests[0].change, got)
	require.Contains(t, got, access)
}

func TestSnapshotSees(t *testing.T) {
	tests := []struct {
		snap string
		xids []uint32
		want bool
	}{
		{"100:105:", []uint32{99, 104}, true},
		{"100:105:", []uint32{105}, false},
		{"100:105:102,103", []uint32{102}, false},
		{"100:105:102,103", []uint32{101, 104}, true},
		{"100:105:", nil, true},
		// 64-bit xids in epoch 1: the 32-bit xid 50 is 2^32+50.
		{fmt.Sprintf("%d:%d:", uint64(1)<<32+40, uint64(1)<<32+60), []uint32{50}, true},
		{fmt.Sprintf("%d:%d:", uint64(1)<<32+40, uint64(1)<<32+60), []uint32{70}, false},
		// A commit still in flight just past xmax is not visible.
		{"100:105:", []uint32{106}, false},
		// Just before wraparound: xmax in epoch 0, an in-flight xid in epoch 1.
		{fmt.Sprintf("%d:%d:", uint64(1)<<32-10, uint64(1)<<32-5), []uint32{3}, false},
		// Just after wraparound: xmax is in epoch 1, the xid from epoch 0.
		{fmt.Sprintf("%d:%d:", uint64(1)<<32-10, uint64(1)<<32+5), []uint32{0xfffffffa}, true},
	}
	for _, tt := range tests {
		got, err := snapshotSees(tt.snap, tt.xids)
		require.NoError(t, err, tt.snap)
		require.Equal(t, tt.want, got, "%s %v", tt.snap, tt.xids)
	}
	_, err := snapshotSees("garbage", []uint32{1})
	require.Error(t, err)
}

func BenchmarkIndexMatch(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			x := newDepIndex()
			for i := 0; i < n; i++ {
				in := &instance{}
				replaceDeps(x, in, nil, []schema.Dep{{Table: "messages", Column: "conversation_id", Value: fmt.Sprintf("conv%d", i)},
					{Table: "conversations", Column: "id", Value: fmt.Sprintf("conv%d", i)}})
			}
			change := Change{Table: "messages", Op: OpInsert, New: []Column{col("id", "m1"), col("conversation_id", "conv7"),
				col("sender_id", "u1"), col("content", "hello"), col("is_read", "f")}}
			out := map[*instance]struct{}{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clear(out)
				x.match(&change, out)
			}
			if len(out) != 1 {
				b.Fatalf("matched %d", len(out))
			}
		})
	}
}

// replaceDeps is depIndex.replace with dependencies as runs record them.
func replaceDeps(x *depIndex, in *instance, old, new []schema.Dep) {
	x.replace(in, compileDeps(old), compileDeps(new))
}

// TestIndexKeySetGrowsAndShrinks follows one key from one instance (kept
// inline) to three (a map) and back, with a watch list changing on the way.
func TestIndexKeySetGrowsAndShrinks(t *testing.T) {
	x := newDepIndex()
	a, b, c := &instance{}, &instance{}, &instance{}
	key := schema.Dep{Table: "conversations", Column: "id", Value: "c1"}
	narrowed := key
	narrowed.Watch = "customer_id"
	update := func(changed string) *Change {
		ch := &Change{Table: "conversations", Op: OpUpdate,
			Old: []Column{col("id", "c1"), col("customer_id", "u1"), col("status", "active")},
			New: []Column{col("id", "c1"), col("customer_id", "u1"), col("status", "active")}}
		for i := range ch.New {
			if ch.New[i].Name == changed {
				ch.New[i].Value += "-changed"
			}
		}
		return ch
	}
	matched := func(ch *Change) []*instance {
		got := map[*instance]struct{}{}
		x.match(ch, got)
		var out []*instance
		for _, in := range []*instance{a, b, c} {
			if _, ok := got[in]; ok {
				out = append(out, in)
			}
		}
		return out
	}

	replaceDeps(x, a, nil, []schema.Dep{narrowed})
	require.Nil(t, x.byKey[keyOf(key)].many, "one instance is kept inline")
	require.Empty(t, matched(update("status")), "a narrowed dependency ignores other columns")
	require.Equal(t, []*instance{a}, matched(update("customer_id")))

	replaceDeps(x, b, nil, []schema.Dep{key})
	replaceDeps(x, c, nil, []schema.Dep{narrowed, key}) // an unnarrowed read of the key wins
	require.Len(t, x.byKey[keyOf(key)].many, 3)
	require.Equal(t, 3, x.tables["conversations"])
	require.Equal(t, []*instance{b, c}, matched(update("status")))

	// a's watch widens: same key, new watch list.
	replaceDeps(x, a, []schema.Dep{narrowed}, []schema.Dep{key})
	require.Equal(t, []*instance{a, b, c}, matched(update("status")))
	require.Equal(t, 3, x.tables["conversations"])

	replaceDeps(x, b, []schema.Dep{key}, nil)
	replaceDeps(x, c, []schema.Dep{narrowed, key}, nil)
	set := x.byKey[keyOf(key)]
	require.Nil(t, set.many, "back to one instance, inline again")
	require.Same(t, a, set.one)
	require.Equal(t, 1, x.tables["conversations"])
	replaceDeps(x, a, []schema.Dep{key}, nil)
	require.Empty(t, x.byKey)
	require.Empty(t, x.tables)
}

func TestCompileDepsMergesAndSorts(t *testing.T) {
	got := compileDeps([]schema.Dep{
		{Table: "users", Column: "id", Value: "u1"},
		{Table: "conversations", Column: "id", Value: "c1", Watch: "status"},
		{Table: "conversations", Column: "id", Value: "c1", Watch: "customer_id"},
		{Table: "conversations", Column: "id", Value: "c1", Watch: "status"},
		{Table: "messages", Column: "conversation_id", Value: "c1", Watch: "is_read"},
		{Table: "messages", Column: "conversation_id", Value: "c1"},
	})
	require.Equal(t, []depEntry{
		{makeKey("conversations", "id", "c1"), watchOf("status,customer_id")},
		{makeKey("messages", "conversation_id", "c1"), watchAny},
		{makeKey("users", "id", "u1"), watchAny},
	}, got)
	require.Nil(t, compileDeps(nil))

}

// The instance table chains keys that share a hash; colliding keys are
// found, removed from any place in their chain, and counted right.
func TestInstanceTableChains(t *testing.T) {
	for _, hash := range []func(instanceKey) uint64{
		func(instanceKey) uint64 { return 7 }, // every key collides
		newInstanceTable().hash,
	} {
		tab := &instanceTable{byHash: map[uint64]*instance{}, hash: hash}
		mk := func(args string) *instance { return &instance{key: instanceKey{args: args}} }
		ins := []*instance{mk("a"), mk("b"), mk("c"), mk("d")}
		for _, in := range ins {
			tab.add(in)
		}
		require.Equal(t, 4, tab.len())
		for _, in := range ins {
			require.Same(t, in, tab.get(in.key))
		}
		require.Nil(t, tab.get(instanceKey{args: "zz"}))
		require.ElementsMatch(t, ins, slices.Collect(tab.all()))

		// Remove from the middle, the end, twice, then the rest.
		for _, i := range []int{1, 0, 0, 3, 2} {
			tab.remove(ins[i])
			require.Nil(t, tab.get(ins[i].key))
		}
		require.Zero(t, tab.len())
		require.Empty(t, tab.byHash, "empty chains leave no slots")
		require.Empty(t, slices.Collect(tab.all()))
	}
}
