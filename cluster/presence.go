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

	"github.com/parley-chat/parley/support"
)

// PresenceConfig configures a Presence.
//
// Wiring (internal/server, one per node): connect to NATS, build the
// Presence and give it to support.Config.Presence, then run its Run on
// the server's errgroup next to support.Service.Run (which sweeps nothing
// when Config.Presence is set: Presence.Run does):
//
//	p, err := cluster.NewPresence(cluster.PresenceConfig{Conn: nc, Prefix: prefix, NodeID: node, TTL: cfg.PresenceTTL})
//	if err != nil { … }
//	cfg.Support.Presence = p
//	g.Go(func() error { return p.Run(gctx) })
//
// Every node of a cluster must use the same Prefix and the same TTL.
type PresenceConfig struct {
	// Conn is the node's NATS connection. Required. The Presence neither
	// closes it nor sets its handlers.
	Conn *nats.Conn
	// Prefix names the cluster: the subjects are parley.<Prefix>.presence
	// and parley.<Prefix>.presence.sync. Empty means "default".
	Prefix string
	// NodeID names this node in logs and qualifies its connection ids
	// (a random suffix is added per process, so a restarted node's small
	// connection counters never meet its previous run's). Empty means a
	// random id.
	NodeID string
	// TTL is how long an entry lives without a heartbeat, on every node.
	// Zero means support.DefaultPresenceTTL.
	TTL time.Duration
	// Sweep is how often expired entries are removed. Zero means
	// min(TTL/4, 250ms).
	Sweep time.Duration
	// Timeout bounds the flushes of NewPresence and Close. Zero means 5s.
	Timeout time.Duration
	// Now is the clock. Nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Presence is a support.Presence shared by the nodes of a cluster over
// NATS core pub/sub. Each node's entries are kept in a merged view on
// every node (a support.MemoryPresence keyed by a per-view id given to
// each (node, connection) pair); a local Beat or Leave is applied at once
// and published to the others, which apply it on receipt. Entries expire
// by the TTL on every node by their own clock (a remote entry's time is
// when its last beat arrived), so a node that dies disappears within the
// TTL; a node that closes says goodbye and its entries go at once. A
// starting node asks the others for their entries (a sync request every
// node answers on the requester's inbox). OnChange is told of remote
// changes too. Beat and Leave never wait for the network (nats.go buffers
// publishes). Safe for concurrent use.
type Presence struct {
	cfg     PresenceConfig
	node    string
	subject string
	sync    string
	mem     *support.MemoryPresence
	log     *slog.Logger
	warn    stateWarner

	mu     sync.Mutex
	nodes  map[string]map[uint64]*slot // node → its connection → slot
	next   uint64                      // the last view id given
	subs   []*nats.Subscription
	closed bool
}

// slot is one (node, connection)'s entry: its view id in mem, the last
// beat, and when it arrived (this node's clock).
type slot struct {
	id    uint64
	entry presenceEntry
	at    time.Time
}

var _ support.Presence = (*Presence)(nil)

// Presence operations on the wire.
const (
	opBeat  = "beat"  // Entries: beats of the sender's connections
	opSnap  = "snap"  // Entries: a snapshot, with their ages
	opLeave = "leave" // Conn left
	opBye   = "bye"   // the sender stops: drop all its entries
)

// presenceMsg is a message on the presence subject (or a sync reply).
type presenceMsg struct {
	Op      string          `json:"op"`
	Node    string          `json:"node"`
	Conn    uint64          `json:"conn,omitempty"`
	Entries []presenceEntry `json:"entries,omitempty"`
}

// presenceEntry is one connection's beat.
type presenceEntry struct {
	Conn  uint64 `json:"c"`
	Org   string `json:"o"`
	User  string `json:"u"`
	Name  string `json:"n,omitempty"`
	Agent bool   `json:"a,omitempty"`
	Idle  bool   `json:"i,omitempty"`
	// AgeMs is, in a snapshot, how long ago the entry's last beat was.
	AgeMs int64 `json:"age,omitempty"`
}

// syncMsg asks every node for its entries, on the requester's inbox.
type syncMsg struct {
	Node string `json:"node"`
}

// snapChunk bounds the entries of one snapshot message.
const snapChunk = 500

// NewPresence subscribes to the cluster's presence subjects and asks the
// other nodes for their entries (they arrive asynchronously, within a
// round trip).
func NewPresence(cfg PresenceConfig) (*Presence, error) {
	if cfg.Conn == nil {
		return nil, errors.New("cluster: presence needs a NATS connection")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = support.DefaultPresenceTTL
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = min(cfg.TTL/4, 250*time.Millisecond)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
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
	p := &Presence{cfg: cfg, node: node, subject: prefix + ".presence", sync: prefix + ".presence.sync",
		mem: support.NewMemoryPresence(support.MemoryConfig{TTL: cfg.TTL, Sweep: cfg.Sweep, Now: cfg.Now}),
		log: cfg.Logger.With(slog.String("node", node)), nodes: map[string]map[uint64]*slot{}}
	if err := p.subscribe(); err != nil {
		p.unsubscribe()
		return nil, err
	}
	return p, nil
}

// subscribe listens to the presence subjects and a private inbox, then
// asks for the others' entries.
func (p *Presence) subscribe() error {
	nc := p.cfg.Conn
	inbox := nc.NewInbox()
	for _, s := range []struct {
		subject string
		handler nats.MsgHandler
	}{{p.subject, p.receive}, {p.sync, p.answerSync}, {inbox, p.receive}} {
		sub, err := nc.Subscribe(s.subject, s.handler)
		if err != nil {
			return fmt.Errorf("cluster: presence: subscribe %s: %w", s.subject, err)
		}
		p.subs = append(p.subs, sub)
	}
	// The subscriptions are the server's before anyone answers the sync.
	if err := nc.FlushTimeout(p.cfg.Timeout); err != nil {
		return fmt.Errorf("cluster: presence: flush subscriptions: %w", err)
	}
	raw, err := json.Marshal(syncMsg{Node: p.node})
	if err != nil {
		return fmt.Errorf("cluster: presence: sync: %w", err)
	}
	if err := nc.PublishRequest(p.sync, inbox, raw); err != nil {
		return fmt.Errorf("cluster: presence: sync: %w", err)
	}
	return nil
}

// Node is this Presence's qualified node id (NodeID and a per-process
// suffix), as its messages name it.
func (p *Presence) Node() string { return p.node }

// TTL is the life of an entry without a heartbeat.
func (p *Presence) TTL() time.Duration { return p.cfg.TTL }

// OnChange implements support.Presence: f is told of local and remote
// changes, and of expiry.
func (p *Presence) OnChange(f func(support.PresenceChange)) { p.mem.OnChange(f) }

// Users implements support.Presence over every node's entries.
func (p *Presence) Users(org string, ids []string) []support.UserPresence {
	return p.mem.Users(org, ids)
}

// Agents implements support.Presence over every node's entries.
func (p *Presence) Agents(org string) []support.UserPresence { return p.mem.Agents(org) }

// Beat implements support.Presence: applied here, then published.
func (p *Presence) Beat(b support.Beat) {
	if b.At.IsZero() {
		b.At = p.cfg.Now()
	}
	e := presenceEntry{Conn: b.Conn, Org: b.Org, User: b.UserID, Name: b.Name, Agent: b.Agent, Idle: b.Idle}
	if id, ok := p.put(p.node, e, b.At); ok {
		p.mem.Beat(beatOf(id, e, b.At))
	}
	p.publish(p.subject, presenceMsg{Op: opBeat, Node: p.node, Entries: []presenceEntry{e}})
}

// Leave implements support.Presence: applied here, then published.
func (p *Presence) Leave(conn uint64) {
	if id, ok := p.drop(p.node, conn); ok {
		p.mem.Leave(id)
		p.publish(p.subject, presenceMsg{Op: opLeave, Node: p.node, Conn: conn})
	}
}

func beatOf(id uint64, e presenceEntry, at time.Time) support.Beat {
	return support.Beat{Conn: id, Org: e.Org, UserID: e.User, Name: e.Name, Agent: e.Agent, Idle: e.Idle, At: at}
}

// put records node's beat e at at and returns its view id; false when
// the slot already has a later beat (a snapshot older than a live beat).
func (p *Presence) put(node string, e presenceEntry, at time.Time) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	conns := p.nodes[node]
	if conns == nil {
		conns = map[uint64]*slot{}
		p.nodes[node] = conns
	}
	s := conns[e.Conn]
	if s == nil {
		p.next++
		s = &slot{id: p.next}
		conns[e.Conn] = s
	} else if s.at.After(at) {
		return s.id, false
	}
	e.AgeMs = 0
	s.entry, s.at = e, at
	return s.id, true
}

// drop forgets node's conn and returns its view id.
func (p *Presence) drop(node string, conn uint64) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.nodes[node][conn]
	if s == nil {
		return 0, false
	}
	delete(p.nodes[node], conn)
	if len(p.nodes[node]) == 0 {
		delete(p.nodes, node)
	}
	return s.id, true
}

// receive applies another node's message (the presence subject, or a
// snapshot on the inbox).
func (p *Presence) receive(m *nats.Msg) {
	var msg presenceMsg
	if err := json.Unmarshal(m.Data, &msg); err != nil {
		p.warn.log(p.log, "cluster: presence: bad message", slog.String("subject", m.Subject), slog.Any("error", err))
		return
	}
	if msg.Node == p.node || msg.Node == "" {
		return // our own, echoed
	}
	now := p.cfg.Now()
	switch msg.Op {
	case opBeat, opSnap:
		for _, e := range msg.Entries {
			at := now.Add(-time.Duration(e.AgeMs) * time.Millisecond)
			if !at.Add(p.cfg.TTL).After(now) {
				continue
			}
			if id, ok := p.put(msg.Node, e, at); ok {
				p.mem.Beat(beatOf(id, e, at))
			}
		}
	case opLeave:
		if id, ok := p.drop(msg.Node, msg.Conn); ok {
			p.mem.Leave(id)
		}
	case opBye:
		p.mu.Lock()
		conns := p.nodes[msg.Node]
		delete(p.nodes, msg.Node)
		p.mu.Unlock()
		for _, s := range conns {
			p.mem.Leave(s.id)
		}
	}
}

// answerSync sends this node's entries to a starting node's inbox.
func (p *Presence) answerSync(m *nats.Msg) {
	var req syncMsg
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Node == p.node || m.Reply == "" {
		return
	}
	now := p.cfg.Now()
	p.mu.Lock()
	entries := make([]presenceEntry, 0, len(p.nodes[p.node]))
	for _, s := range p.nodes[p.node] {
		e := s.entry
		e.AgeMs = max(now.Sub(s.at).Milliseconds(), 0)
		entries = append(entries, e)
	}
	p.mu.Unlock()
	for len(entries) > 0 {
		n := min(len(entries), snapChunk)
		p.publish(m.Reply, presenceMsg{Op: opSnap, Node: p.node, Entries: entries[:n]})
		entries = entries[n:]
	}
}

// publish sends msg on subject without waiting for the network; a
// failure is logged (at most once a minute): the entries heal with the
// next beats, or expire.
func (p *Presence) publish(subject string, msg presenceMsg) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return
	}
	raw, err := json.Marshal(msg)
	if err == nil {
		err = p.cfg.Conn.Publish(subject, raw)
	}
	if err != nil {
		p.warn.log(p.log, "cluster: presence: publish", slog.String("subject", subject), slog.String("op", msg.Op), slog.Any("error", err))
	}
}

// Sweep removes the entries expired at now, local and remote, telling
// OnChange of the users whose presence that changes. Run calls it every
// PresenceConfig.Sweep.
func (p *Presence) Sweep(now time.Time) {
	p.mem.Sweep(now)
	p.mu.Lock()
	defer p.mu.Unlock()
	for node, conns := range p.nodes {
		for conn, s := range conns {
			if !s.at.Add(p.cfg.TTL).After(now) {
				delete(conns, conn)
			}
		}
		if len(conns) == 0 {
			delete(p.nodes, node)
		}
	}
}

// Run sweeps expired entries until ctx is done, then closes the Presence
// (Close).
func (p *Presence) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return p.Close()
		case <-t.C:
			p.Sweep(p.cfg.Now())
		}
	}
}

// Close tells the other nodes that this one's entries are gone, and stops
// listening; the view stays readable but no longer changes with the
// others'. Idempotent.
func (p *Presence) Close() error {
	raw, err := json.Marshal(presenceMsg{Op: opBye, Node: p.node})
	if err != nil {
		return fmt.Errorf("cluster: presence: bye: %w", err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.unsubscribe()
	nc := p.cfg.Conn
	if nc.IsClosed() {
		return nil
	}
	if err := nc.Publish(p.subject, raw); err != nil {
		return fmt.Errorf("cluster: presence: bye: %w", err)
	}
	if err := nc.FlushTimeout(p.cfg.Timeout); err != nil {
		return fmt.Errorf("cluster: presence: bye: %w", err)
	}
	return nil
}

func (p *Presence) unsubscribe() {
	for _, s := range p.subs {
		_ = s.Unsubscribe() // fails only on a closed connection, which has none left
	}
	p.subs = nil
}
