package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/cluster"
)

var _ assistant.Fanout = (*cluster.Streams)(nil)

// streamsNode is one node's Streams, with what it was told.
type streamsNode struct {
	*cluster.Streams
	mu      sync.Mutex
	grew    []string
	cancels [][2]string
}

func newStreamsNode(t *testing.T, srv *cluster.Embedded, name string, cfg cluster.StreamsConfig) *streamsNode {
	t.Helper()
	cfg.Conn, cfg.Prefix, cfg.NodeID = connect(t, srv), "test", name
	s, err := cluster.NewStreams(cfg)
	require.NoError(t, err)
	n := &streamsNode{Streams: s}
	s.Subscribe(func(msgID string) {
		n.mu.Lock()
		n.grew = append(n.grew, msgID)
		n.mu.Unlock()
	}, func(convID, cause string) {
		n.mu.Lock()
		n.cancels = append(n.cancels, [2]string{convID, cause})
		n.mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return n
}

func (n *streamsNode) grown() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.grew)
}

// shows waits until n's mirror of msgID has text.
func (n *streamsNode) shows(t *testing.T, msgID, text string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got, _, ok := n.Partial(msgID)
		return ok && got == text
	}, within, 5*time.Millisecond, "%s", text)
}

func TestStreamsMirrorAnotherNodesStream(t *testing.T) {
	srv := startNATS(t)
	a := newStreamsNode(t, srv, "a", cluster.StreamsConfig{Keep: 200 * time.Millisecond})
	b := newStreamsNode(t, srv, "b", cluster.StreamsConfig{Keep: 200 * time.Millisecond})

	_, _, ok := b.Partial("msg1")
	require.False(t, ok, "nothing streams yet")
	a.Publish("msg1", "Hel", nil, false)
	b.shows(t, "msg1", "Hel")
	require.Equal(t, 1, b.grown(), "B's queries are told")
	b.mu.Lock()
	require.Equal(t, []string{"msg1"}, b.grew)
	b.mu.Unlock()

	// Deltas, then a tool step.
	a.Publish("msg1", "Hello", nil, false)
	a.Publish("msg1", "Hello, wor", nil, false)
	b.shows(t, "msg1", "Hello, wor")
	use := chat.MessagePart{Type: "tool-use", CallID: "c1", Tool: "search_faq", Input: `{"query":"x"}`}
	a.Publish("msg1", "Hello, wor", []chat.MessagePart{use}, false)
	require.Eventually(t, func() bool {
		_, parts, _ := b.Partial("msg1")
		return len(parts) == 1
	}, within, 5*time.Millisecond)
	_, parts, _ := b.Partial("msg1")
	require.Equal(t, use, parts[0])
	a.Publish("msg1", "Hello, wor", []chat.MessagePart{use}, false) // nothing new: nothing sent

	// The end: the whole text, kept for Keep, then dropped.
	result := chat.MessagePart{Type: "tool-result", CallID: "c1", Tool: "search_faq", Output: "Found"}
	a.Publish("msg1", "Hello, world!", []chat.MessagePart{use, result}, true)
	b.shows(t, "msg1", "Hello, world!")
	_, parts, _ = b.Partial("msg1")
	require.Equal(t, []chat.MessagePart{use, result}, parts)
	require.Eventually(t, func() bool { return b.grown() == 5 }, within, 5*time.Millisecond, "one per change")
	_, _, ok = a.Partial("msg1")
	require.False(t, ok, "a node does not mirror its own streams")
	require.Eventually(t, func() bool { return b.Mirrored() == 0 }, within, 10*time.Millisecond, "dropped after Keep")
}

func TestStreamsLateNodeCatchesUpAtTheNextWholeText(t *testing.T) {
	srv := startNATS(t)
	a := newStreamsNode(t, srv, "a", cluster.StreamsConfig{Keyframe: 100 * time.Millisecond})
	a.Publish("msg1", "Once", nil, false)
	a.Publish("msg1", "Once upon", nil, false)

	c := newStreamsNode(t, srv, "c", cluster.StreamsConfig{})
	a.Publish("msg1", "Once upon a", nil, false) // a piece, without its start
	time.Sleep(50 * time.Millisecond)
	_, _, ok := c.Partial("msg1")
	require.False(t, ok, "a piece without its start shows nothing")
	require.Zero(t, c.grown())

	time.Sleep(100 * time.Millisecond)
	a.Publish("msg1", "Once upon a time", nil, false) // past Keyframe: whole
	c.shows(t, "msg1", "Once upon a time")
	a.Publish("msg1", "Once upon a time there", nil, false)
	c.shows(t, "msg1", "Once upon a time there")
}

func TestStreamsCancelReachesTheOtherNodes(t *testing.T) {
	srv := startNATS(t)
	a := newStreamsNode(t, srv, "a", cluster.StreamsConfig{})
	b := newStreamsNode(t, srv, "b", cluster.StreamsConfig{})
	c := newStreamsNode(t, srv, "c", cluster.StreamsConfig{})

	b.Cancel("conv1", assistant.CauseTakeover)
	for _, n := range []*streamsNode{a, c} {
		require.Eventually(t, func() bool {
			n.mu.Lock()
			defer n.mu.Unlock()
			return len(n.cancels) == 1
		}, within, 5*time.Millisecond)
		n.mu.Lock()
		require.Equal(t, [2]string{"conv1", assistant.CauseTakeover}, n.cancels[0], "with its cause")
		n.mu.Unlock()
	}
	b.mu.Lock()
	require.Empty(t, b.cancels, "not told of its own")
	b.mu.Unlock()
}

func TestStreamsIdleMirrorIsDropped(t *testing.T) {
	srv := startNATS(t)
	a := newStreamsNode(t, srv, "a", cluster.StreamsConfig{})
	b := newStreamsNode(t, srv, "b", cluster.StreamsConfig{Keep: 40 * time.Millisecond, Idle: 150 * time.Millisecond})
	a.Publish("msg1", "Half an", nil, false) // and A dies
	b.shows(t, "msg1", "Half an")
	require.Eventually(t, func() bool { return b.Mirrored() == 0 }, within, 10*time.Millisecond)
}

func TestStreamsConfig(t *testing.T) {
	_, err := cluster.NewStreams(cluster.StreamsConfig{})
	require.Error(t, err)
	srv := startNATS(t)
	_, err = cluster.NewStreams(cluster.StreamsConfig{Conn: connect(t, srv), Prefix: "a b"})
	require.ErrorContains(t, err, "subject token")
	s, err := cluster.NewStreams(cluster.StreamsConfig{Conn: connect(t, srv), NodeID: "n1"})
	require.NoError(t, err)
	require.Contains(t, s.Node(), "n1/")
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "idempotent")
	s.Publish("msg1", "after close", nil, true) // dropped, no panic
}
