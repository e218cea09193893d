package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-chat/parley/chat"
)

// StreamsConfig configures a Streams.
//
// Wiring (internal/server, one per node): build it on the node's NATS
// connection, give it to assistant.Config.Fanout before assistant.New,
// and run its Run on the server's errgroup:
//
//	fs, err := cluster.NewStreams(cluster.StreamsConfig{Conn: nc, Prefix: prefix, NodeID: node})
//	if err != nil { … }
//	cfg.Assistant.Fanout = fs
//	g.Go(func() error { return fs.Run(gctx) })
//
// Every node of a cluster must use the same Prefix.
type StreamsConfig struct {
	// Conn is the node's NATS connection. Required. Streams neither
	// closes it nor sets its handlers.
	Conn *nats.Conn
	// Prefix names the cluster: the subjects are
	// parley.<Prefix>.assistant.stream and parley.<Prefix>.assistant.cancel.
	// Empty means "default".
	Prefix string
	// NodeID names this node in logs (a random suffix is added per
	// process). Empty means a random id.
	NodeID string
	// Keep is how long an ended stream of another node stays readable:
	// until this node's engine has applied the answer's final write, a
	// re-run still reads the row as streaming. Zero means 30s (the
	// streaming node's own).
	Keep time.Duration
	// Idle is how long a stream of another node that neither grows nor
	// ends (its node died) stays readable. Zero means DefaultStreamIdle.
	Idle time.Duration
	// Keyframe is how often, at most, a growing stream is sent whole
	// rather than as what it added: a node that started mid-stream, or
	// missed a message, has all of it again within Keyframe. Zero means
	// DefaultKeyframe.
	Keyframe time.Duration
	// Timeout bounds the flushes of NewStreams and Close. Zero means 5s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Defaults of StreamsConfig.
const (
	DefaultStreamKeep = 30 * time.Second
	DefaultStreamIdle = 5 * time.Minute
	DefaultKeyframe   = time.Second
)

// Streams shares the assistant's streaming answers and the stops of its
// replies between the nodes of a cluster over NATS core pub/sub: it
// implements assistant.Fanout. The node streaming an answer publishes
// each flush (what the text added since the last one, at its offset; the
// parts when they changed; the whole text at most every Keyframe and at
// the end); every other node keeps a mirror of the stream, read by
// Partial, and tells the service it grew (the service invalidates
// chat.StreamDep of the message: its queries re-run). A mirror that
// missed a piece keeps its text until the next whole one. A Cancel is
// published to every node; the one running the conversation's reply
// stops it with the cause's code. Safe for concurrent use.
type Streams struct {
	cfg    StreamsConfig
	node   string
	stream string // subject of stream updates
	cancel string // subject of cancels
	log    *slog.Logger
	warn   stateWarner

	mu      sync.Mutex
	sent    map[string]*sentStream // this node's streams: what was published
	mirror  map[string]*mirrored   // other nodes' streams
	grew    func(msgID string)
	stopRun func(convID, cause string)
	subs    []*nats.Subscription
	closed  bool
}

// sentStream is what was published of one of this node's streams.
type sentStream struct {
	text   int // bytes of the text sent
	parts  int // parts sent
	whole  time.Time
	update time.Time
}

// mirrored is another node's stream as this node knows it.
type mirrored struct {
	node   string
	text   string
	parts  []chat.MessagePart
	gap    bool // a piece was missed: wait for a whole text
	done   bool
	update time.Time
}

// streamMsg is a stream update on the wire: Text is the text from Offset
// on (Whole: the whole text, Offset 0); Parts, when set, are all the
// parts so far.
type streamMsg struct {
	Node    string             `json:"node"`
	Message string             `json:"msg"`
	Offset  int                `json:"off,omitempty"`
	Text    string             `json:"text,omitempty"`
	Whole   bool               `json:"whole,omitempty"`
	Parts   []chat.MessagePart `json:"parts,omitempty"`
	Done    bool               `json:"done,omitempty"`
}

// cancelMsg asks for the stop of a conversation's reply.
type cancelMsg struct {
	Node         string `json:"node"`
	Conversation string `json:"conv"`
	Cause        string `json:"cause"`
}

// NewStreams subscribes to the cluster's assistant subjects.
func NewStreams(cfg StreamsConfig) (*Streams, error) {
	if cfg.Conn == nil {
		return nil, errors.New("cluster: streams need a NATS connection")
	}
	if cfg.Keep <= 0 {
		cfg.Keep = DefaultStreamKeep
	}
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultStreamIdle
	}
	if cfg.Keyframe <= 0 {
		cfg.Keyframe = DefaultKeyframe
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	prefix, err := statePrefix(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	node, err := stateNodeID(cfg.NodeID)
	if err != nil {
		return nil, err
	}
	s := &Streams{cfg: cfg, node: node, stream: prefix + ".assistant.stream", cancel: prefix + ".assistant.cancel",
		log: cfg.Logger.With(slog.String("node", node)), sent: map[string]*sentStream{}, mirror: map[string]*mirrored{},
		grew: func(string) {}, stopRun: func(string, string) {}}
	for _, sub := range []struct {
		subject string
		handler nats.MsgHandler
	}{{s.stream, s.receiveStream}, {s.cancel, s.receiveCancel}} {
		ns, err := cfg.Conn.Subscribe(sub.subject, sub.handler)
		if err != nil {
			s.unsubscribe()
			return nil, fmt.Errorf("cluster: streams: subscribe %s: %w", sub.subject, err)
		}
		s.subs = append(s.subs, ns)
	}
	if err := cfg.Conn.FlushTimeout(cfg.Timeout); err != nil {
		s.unsubscribe()
		return nil, fmt.Errorf("cluster: streams: flush subscriptions: %w", err)
	}
	return s, nil
}

// Node is this node's qualified id (NodeID and a per-process suffix), as
// its messages name it.
func (s *Streams) Node() string { return s.node }

// Subscribe implements assistant.Fanout: grew is told of every other
// node's stream that grew or ended, after its mirror has the text;
// cancel of every other node's Cancel.
func (s *Streams) Subscribe(grew func(msgID string), cancel func(convID, cause string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if grew != nil {
		s.grew = grew
	}
	if cancel != nil {
		s.stopRun = cancel
	}
}

// Publish implements assistant.Fanout: it sends what text added since
// the last Publish of msgID (or the whole text: the first time, every
// Keyframe, at the end), and the parts when there are more.
func (s *Streams) Publish(msgID, text string, parts []chat.MessagePart, done bool) {
	now := time.Now()
	msg := streamMsg{Node: s.node, Message: msgID, Done: done}
	s.mu.Lock()
	st := s.sent[msgID]
	if st == nil {
		st = &sentStream{}
		s.sent[msgID] = st
	}
	switch {
	case done || st.whole.IsZero() || now.Sub(st.whole) >= s.cfg.Keyframe || len(text) < st.text:
		msg.Whole, msg.Text, msg.Parts = true, text, parts
		st.whole = now
	default:
		msg.Offset, msg.Text = st.text, text[st.text:]
		if len(parts) != st.parts {
			msg.Parts = parts
		}
	}
	st.text, st.parts, st.update = len(text), len(parts), now
	if done {
		delete(s.sent, msgID)
	}
	s.mu.Unlock()
	if !msg.Whole && msg.Text == "" && msg.Parts == nil {
		return // nothing new
	}
	s.publish(s.stream, msg)
}

// Cancel implements assistant.Fanout.
func (s *Streams) Cancel(convID, cause string) {
	s.publish(s.cancel, cancelMsg{Node: s.node, Conversation: convID, Cause: cause})
}

// Partial implements assistant.Fanout (and chat.Streams) over the
// mirrors of the other nodes' streams.
func (s *Streams) Partial(msgID string) (string, []chat.MessagePart, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mirror[msgID]
	if m == nil || (m.gap && m.text == "" && m.parts == nil) {
		return "", nil, false // nothing whole heard yet
	}
	return m.text, m.parts, true
}

// receiveStream applies another node's stream update to its mirror.
func (s *Streams) receiveStream(nm *nats.Msg) {
	var msg streamMsg
	if err := json.Unmarshal(nm.Data, &msg); err != nil {
		s.warn.log(s.log, "cluster: streams: bad message", slog.String("subject", nm.Subject), slog.Any("error", err))
		return
	}
	if msg.Node == s.node || msg.Node == "" || msg.Message == "" {
		return // our own, echoed
	}
	s.mu.Lock()
	m := s.mirror[msg.Message]
	if m == nil || m.node != msg.Node {
		// Nodes stream a message one at a time: a second node's means the
		// first is gone (its job ran again elsewhere).
		m = &mirrored{node: msg.Node, gap: true}
		s.mirror[msg.Message] = m
	}
	changed := s.apply(m, msg)
	m.update = time.Now()
	grew := s.grew
	s.mu.Unlock()
	if changed {
		grew(msg.Message)
	}
}

// apply merges msg into m (s.mu held) and says whether m's text or
// parts changed.
func (s *Streams) apply(m *mirrored, msg streamMsg) bool {
	changed := false
	switch {
	case msg.Whole:
		changed = !m.gap || m.text != msg.Text || len(m.parts) != len(msg.Parts)
		m.text, m.parts, m.gap = msg.Text, msg.Parts, false
	case m.gap || m.done || msg.Offset > len(m.text):
		m.gap = !m.done // missed a piece: keep the text until a whole one
		return false
	default:
		if end := msg.Offset + len(msg.Text); end > len(m.text) {
			m.text += msg.Text[len(m.text)-msg.Offset:]
			changed = true
		}
		if msg.Parts != nil {
			m.parts, changed = msg.Parts, true
		}
	}
	if msg.Done {
		m.done, changed = true, true
	}
	return changed
}

// receiveCancel hands another node's Cancel to the service.
func (s *Streams) receiveCancel(nm *nats.Msg) {
	var msg cancelMsg
	if err := json.Unmarshal(nm.Data, &msg); err != nil {
		s.warn.log(s.log, "cluster: streams: bad message", slog.String("subject", nm.Subject), slog.Any("error", err))
		return
	}
	if msg.Node == s.node || msg.Conversation == "" {
		return
	}
	s.mu.Lock()
	stop := s.stopRun
	s.mu.Unlock()
	stop(msg.Conversation, msg.Cause)
}

// publish sends v on subject without waiting for the network; a failure
// is logged (at most once a minute): the next whole text heals a stream.
func (s *Streams) publish(subject string, v any) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	raw, err := json.Marshal(v)
	if err == nil {
		err = s.cfg.Conn.Publish(subject, raw)
	}
	if err != nil {
		s.warn.log(s.log, "cluster: streams: publish", slog.String("subject", subject), slog.Any("error", err))
	}
}

// Sweep drops, at now, the mirrors ended more than Keep ago and the
// streams idle for more than Idle. Run calls it every second.
func (s *Streams) Sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, m := range s.mirror {
		if (m.done && now.Sub(m.update) >= s.cfg.Keep) || now.Sub(m.update) >= s.cfg.Idle {
			delete(s.mirror, id)
		}
	}
	for id, st := range s.sent {
		if now.Sub(st.update) >= s.cfg.Idle {
			delete(s.sent, id) // its end was never published (a panic)
		}
	}
}

// Mirrored is how many streams of other nodes this node mirrors.
func (s *Streams) Mirrored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mirror)
}

// Run sweeps the mirrors until ctx is done, then closes Streams (Close).
func (s *Streams) Run(ctx context.Context) error {
	t := time.NewTicker(min(time.Second, s.cfg.Keep/4))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.Close()
		case <-t.C:
			s.Sweep(time.Now())
		}
	}
}

// Close stops listening and publishing, after sending what was published
// (bounded by StreamsConfig.Timeout). Idempotent.
func (s *Streams) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.unsubscribe()
	if s.cfg.Conn.IsClosed() {
		return nil
	}
	if err := s.cfg.Conn.FlushTimeout(s.cfg.Timeout); err != nil {
		return fmt.Errorf("cluster: streams: close: %w", err)
	}
	return nil
}

func (s *Streams) unsubscribe() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe() // fails only on a closed connection, which has none left
	}
	s.subs = nil
}
