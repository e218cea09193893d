package chat

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A released page keeps its room but none of its rows: the next query's
// page starts empty, and the collector may free the old rows' strings.
func TestReleasedPageKeepsRoomNotRows(t *testing.T) {
	rows := make([]Message, 3, 21)
	for i := range rows {
		rows[i] = Message{ID: "m", Content: "secret of another conversation"}
	}
	b := &pageBuf{}
	b.release(rows[:2]) // a query may cut its page short
	require.Len(t, b.rows, 0)
	require.Equal(t, 21, cap(b.rows))
	for _, m := range b.rows[:cap(b.rows)] {
		require.Zero(t, m)
	}

	big := &pageBuf{}
	big.release(make([]Message, 1001))
	require.Nil(t, big.rows, "a pinned page's 1,001 rows are not kept")
	var failed pageBuf
	failed.release(nil) // AppendMessages failed
	require.Nil(t, failed.rows)
}
