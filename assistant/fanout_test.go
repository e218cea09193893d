package assistant_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/cluster"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/schema"
	"github.com/parley-chat/parley/support"
)

// clusterNodes is a NATS server and, for each of two nodes, its
// connection's Streams and Presence (run until the test ends).
type clusterNodes struct {
	streams  [2]*cluster.Streams
	presence [2]*cluster.Presence
}

func startCluster(t *testing.T) *clusterNodes {
	t.Helper()
	srv, err := cluster.StartEmbedded(cluster.EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	out := &clusterNodes{}
	for i, name := range []string{"a", "b"} {
		nc, err := nats.Connect(srv.URL())
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		st, err := cluster.NewStreams(cluster.StreamsConfig{Conn: nc, Prefix: "test", NodeID: name})
		require.NoError(t, err)
		p, err := cluster.NewPresence(cluster.PresenceConfig{Conn: nc, Prefix: "test", NodeID: name})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 2)
		go func() { done <- st.Run(ctx) }()
		go func() { done <- p.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			require.NoError(t, <-done)
			require.NoError(t, <-done)
		})
		out.streams[i], out.presence[i] = st, p
	}
	return out
}

// newClusterEnv starts node A: a server on the cluster's node-A Streams
// and Presence, answered by provider.
func newClusterEnv(t *testing.T, provider *scripted, nodes *clusterNodes) *env {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.Support = support.Config{HeartbeatsPerSecond: -1, Presence: nodes.presence[0]}
		cfg.Support.Timers.Interval = -1
		cfg.Assistant = assistant.Config{OpenAI: provider, FlushInterval: 20 * time.Millisecond, LeaveGrace: 300 * time.Millisecond,
			Fanout: nodes.streams[0]}
	})
	return &env{t: t, s: s}
}

// nodeB is an assistant service of node B on node A's database, with no
// engine of its own: what its engine would be told is recorded.
type nodeB struct {
	svc  *assistant.Service
	reg  *functions.Registry
	pool *pgxpool.Pool
	mu   sync.Mutex
	inv  []schema.Dep
}

func newNodeB(e *env, nodes *clusterNodes) *nodeB {
	b := &nodeB{reg: functions.NewRegistry(), pool: e.s.DB}
	b.svc = assistant.New(assistant.Config{Support: support.New(support.Config{Presence: nodes.presence[1]}), Fanout: nodes.streams[1]})
	b.svc.SetInvalidator(func(keys ...schema.Dep) {
		b.mu.Lock()
		b.inv = append(b.inv, keys...)
		b.mu.Unlock()
	})
	b.svc.Register(b.reg)
	b.svc.SetPool(e.s.DB, nil)
	return b
}

func (b *nodeB) invalidated(dep schema.Dep) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.inv, dep)
}

// mutate runs mutation name on node B as id.
func (b *nodeB) mutate(t *testing.T, id functions.Identity, name string, args any) {
	t.Helper()
	fn, err := b.reg.Lookup(name)
	require.NoError(t, err)
	raw, err := json.Marshal(args)
	require.NoError(t, err)
	v, err := fn.DecodeArgs(raw)
	require.NoError(t, err)
	_, err = fn.RunMutationAdmitted(context.Background(), b.pool, &id, v, functions.RequestKey{}, &functions.Admission{})
	require.NoError(t, err)
}

// streamingMessage waits for convID's streaming answer on A and returns
// its id.
func streamingMessage(e *env, convID string) string {
	var id string
	pgtest.Eventually(e.t, live, func() error {
		for _, m := range e.messages(john, convID) {
			if m.SenderType == chat.SenderAssistant && m.Streaming {
				id = m.ID
				return nil
			}
		}
		return errors.New("no streaming answer yet")
	})
	return id
}

// A reply streams on node A: node B shows its text so far (its queries
// re-run when it grows), and a takeover committed on node B stops it on
// node A, as a takeover.
func TestClusterStreamShowsAndStopsOnAnotherNode(t *testing.T) {
	nodes := startCluster(t)
	p := newScripted()
	e := newClusterEnv(t, p, nodes)
	b := newNodeB(e, nodes)
	e.configure(assistant.ProviderOpenAI, nil)
	conv := e.support(john, "")

	chunks := make(chan string, 2)
	p.turns <- turn{chunks: chunks, hang: true}
	e.say(john, conv, "Is my pizza gluten free?")
	chunks <- "Let me check"
	msgID := streamingMessage(e, conv)
	partial := func(want string) {
		t.Helper()
		require.Eventually(t, func() bool {
			text, _, ok := b.svc.Streams().Partial(msgID)
			return ok && text == want
		}, live, 10*time.Millisecond, "node B shows %q", want)
	}
	partial("Let me check")
	require.Eventually(t, func() bool { return b.invalidated(chat.StreamDep(msgID)) }, live, 10*time.Millisecond,
		"node B's queries showing the message re-run")
	chunks <- " that for"
	close(chunks)
	partial("Let me check that for")

	b.mutate(t, admin, "shared/support:takeoverChat", map[string]any{"conversationId": conv})
	select {
	case err := <-p.cancelled:
		require.ErrorIs(t, err, context.Canceled, "node A's provider stream stopped")
	case <-time.After(live):
		t.Fatal("node A's stream was not cancelled")
	}
	pgtest.Eventually(t, live, func() error {
		for _, m := range e.messages(john, conv) {
			if m.ID == msgID && !m.Streaming {
				if m.Interrupted != "takeover" || m.Content != "Let me check that for" {
					return errors.New("ended, but not as a takeover: " + m.Interrupted)
				}
				return nil
			}
		}
		return errors.New("still streaming")
	})
	text, _, ok := b.svc.Streams().Partial(msgID)
	require.True(t, ok, "the end stays readable on node B")
	require.Equal(t, "Let me check that for", text)
}

// The customer's only session is on node B; the reply streams on node A.
// They leave (node B): node A stops the reply after the grace.
func TestClusterCustomerLeftOnAnotherNode(t *testing.T) {
	nodes := startCluster(t)
	p := newScripted()
	e := newClusterEnv(t, p, nodes)
	e.configure(assistant.ProviderOpenAI, nil)
	conv := e.support(john, "")
	// John's session, on node B.
	nodes.presence[1].Beat(support.Beat{Conn: 1, Org: "", UserID: john.Subject, Name: john.Name})
	require.Eventually(t, func() bool { return e.s.Server.Support.Online("", john.Subject) }, live, 10*time.Millisecond,
		"node A sees node B's session")

	chunks := make(chan string, 1)
	chunks <- "Let me see"
	close(chunks)
	p.turns <- turn{chunks: chunks, hang: true}
	q := e.say(john, conv, "Anything new?")
	streamingMessage(e, conv)
	nodes.presence[1].Leave(1)
	select {
	case err := <-p.cancelled:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(live):
		t.Fatal("the stream did not stop")
	}
	a := e.answer(john, conv, q)
	require.Equal(t, "Let me see", a.Content)
	require.Equal(t, "cancelled", a.Interrupted)
}
