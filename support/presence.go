package support

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Presence statuses: of a user (from their sessions) and of an agent (also
// the status they set).
const (
	Online  = "online"
	Away    = "away"
	Offline = "offline"
)

// Beat is one heartbeat of one connection.
type Beat struct {
	Conn   uint64 // the connection (functions.MutationCtx.Connection); never 0
	Org    string
	UserID string
	Name   string
	Agent  bool // the user is an admin, who may act as an agent
	Idle   bool // the client reports its user idle: away
	At     time.Time
}

// UserPresence is a user's presence across their sessions: online while
// one of them is live and not idle, away while all live ones are idle,
// offline with none.
type UserPresence struct {
	UserID   string
	Name     string // the name the newest session's token gave; "" when offline
	Status   string // Online, Away or Offline
	Sessions int    // live sessions
}

// PresenceChange says that a user's presence (status, sessions) changed.
type PresenceChange struct {
	Org, UserID string
	Agent       bool
}

// Presence keeps presence entries, one per connection, each alive until
// its TTL passes without a heartbeat. MemoryPresence keeps them in this
// process; a cluster's implementation shares them between nodes (a
// connection id is then qualified by its node). Implementations are safe
// for concurrent use; none of the methods waits for I/O that a heartbeat
// would have to pay for per call.
type Presence interface {
	// Beat creates or refreshes the entry of b.Conn, moving it to b's user
	// if it held another's (the connection re-authenticated).
	Beat(b Beat)
	// Leave drops the entry of conn (the connection closed).
	Leave(conn uint64)
	// Users returns the presence of each of ids in org, in that order.
	Users(org string, ids []string) []UserPresence
	// Agents returns the presence of org's agents that have a live
	// session, in no particular order.
	Agents(org string) []UserPresence
	// OnChange sets the function told, outside any lock, of every change
	// of a user's presence: a beat or leave that changes it, and expiry.
	// Call it once, before the first Beat.
	OnChange(f func(PresenceChange))
}

// MemoryConfig configures a MemoryPresence.
type MemoryConfig struct {
	// TTL is how long an entry lives without a heartbeat. Zero means
	// DefaultPresenceTTL.
	TTL time.Duration
	// Sweep is how often expired entries are removed (and their users'
	// queries told). Zero means min(TTL/4, 250ms).
	Sweep time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// DefaultPresenceTTL is the life of a presence entry without a heartbeat.
const DefaultPresenceTTL = 30 * time.Second

// MemoryPresence is a Presence kept in this process's memory: a heartbeat
// costs a map update under a mutex, and writes nothing anywhere. Safe for
// concurrent use. Run removes expired entries.
type MemoryPresence struct {
	cfg MemoryConfig

	mu       sync.Mutex // guards the maps; onChange is called after it is released
	conns    map[uint64]*entry
	users    map[userKey]map[uint64]*entry
	agents   map[string]map[string]struct{} // org → agents with an entry
	onChange func(PresenceChange)
}

type userKey struct{ org, user string }

type entry struct {
	user    userKey
	name    string
	agent   bool
	idle    bool
	at      time.Time // the last beat
	expires time.Time
}

var _ Presence = (*MemoryPresence)(nil)

// NewMemoryPresence returns an empty MemoryPresence.
func NewMemoryPresence(cfg MemoryConfig) *MemoryPresence {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultPresenceTTL
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = min(cfg.TTL/4, 250*time.Millisecond)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryPresence{cfg: cfg, conns: map[uint64]*entry{}, users: map[userKey]map[uint64]*entry{},
		agents: map[string]map[string]struct{}{}, onChange: func(PresenceChange) {}}
}

// TTL is the life of an entry without a heartbeat.
func (p *MemoryPresence) TTL() time.Duration { return p.cfg.TTL }

// OnChange implements Presence.
func (p *MemoryPresence) OnChange(f func(PresenceChange)) {
	p.mu.Lock()
	p.onChange = f
	p.mu.Unlock()
}

// Beat implements Presence.
func (p *MemoryPresence) Beat(b Beat) {
	if b.At.IsZero() {
		b.At = p.cfg.Now()
	}
	k := userKey{b.Org, b.UserID}
	var changed []PresenceChange
	p.mu.Lock()
	e := p.conns[b.Conn]
	if e != nil && e.user != k {
		changed = p.remove(b.Conn, e, b.At, changed, false)
		e = nil
	}
	before := p.summary(k, b.At)
	if e == nil {
		e = &entry{user: k}
		p.conns[b.Conn] = e
		if p.users[k] == nil {
			p.users[k] = map[uint64]*entry{}
		}
		p.users[k][b.Conn] = e
	}
	e.name, e.agent, e.idle, e.at, e.expires = b.Name, b.Agent, b.Idle, b.At, b.At.Add(p.cfg.TTL)
	if b.Agent {
		if p.agents[b.Org] == nil {
			p.agents[b.Org] = map[string]struct{}{}
		}
		p.agents[b.Org][b.UserID] = struct{}{}
	}
	if after := p.summary(k, b.At); after != before {
		changed = append(changed, PresenceChange{Org: b.Org, UserID: b.UserID, Agent: b.Agent})
	}
	f := p.onChange
	p.mu.Unlock()
	tell(f, changed)
}

// Leave implements Presence.
func (p *MemoryPresence) Leave(conn uint64) {
	p.mu.Lock()
	var changed []PresenceChange
	if e := p.conns[conn]; e != nil {
		changed = p.remove(conn, e, p.cfg.Now(), nil, false)
	}
	f := p.onChange
	p.mu.Unlock()
	tell(f, changed)
}

// remove drops conn's entry e (p.mu held) and appends its user to changed
// when that changes their presence; always with always (the sweep: an
// expired entry already counts as gone, but the queries that read it last
// saw it live).
func (p *MemoryPresence) remove(conn uint64, e *entry, now time.Time, changed []PresenceChange, always bool) []PresenceChange {
	before := p.summary(e.user, now)
	delete(p.conns, conn)
	sessions := p.users[e.user]
	delete(sessions, conn)
	if len(sessions) == 0 {
		delete(p.users, e.user)
		if agents := p.agents[e.user.org]; agents != nil {
			delete(agents, e.user.user)
			if len(agents) == 0 {
				delete(p.agents, e.user.org)
			}
		}
	}
	if always || p.summary(e.user, now) != before {
		changed = append(changed, PresenceChange{Org: e.user.org, UserID: e.user.user, Agent: e.agent})
	}
	return changed
}

func tell(f func(PresenceChange), changed []PresenceChange) {
	for _, c := range changed {
		f(c)
	}
}

// state is what a change is judged by.
type state struct {
	status   string
	sessions int
}

// summary is k's presence at now (p.mu held): entries past their expiry
// that Run has not removed yet count as gone.
func (p *MemoryPresence) summary(k userKey, now time.Time) state {
	s := state{status: Offline}
	for _, e := range p.users[k] {
		if !e.expires.After(now) {
			continue
		}
		s.sessions++
		if !e.idle {
			s.status = Online
		} else if s.status == Offline {
			s.status = Away
		}
	}
	return s
}

// presenceOf is k's UserPresence at now (p.mu held).
func (p *MemoryPresence) presenceOf(k userKey, now time.Time) UserPresence {
	s := p.summary(k, now)
	up := UserPresence{UserID: k.user, Status: s.status, Sessions: s.sessions}
	var newest time.Time
	for _, e := range p.users[k] {
		if e.expires.After(now) && !e.at.Before(newest) {
			newest, up.Name = e.at, e.name
		}
	}
	return up
}

// Users implements Presence.
func (p *MemoryPresence) Users(org string, ids []string) []UserPresence {
	now := p.cfg.Now()
	out := make([]UserPresence, len(ids))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, id := range ids {
		out[i] = p.presenceOf(userKey{org, id}, now)
	}
	return out
}

// Agents implements Presence.
func (p *MemoryPresence) Agents(org string) []UserPresence {
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]UserPresence, 0, len(p.agents[org]))
	for id := range p.agents[org] {
		if up := p.presenceOf(userKey{org, id}, now); up.Status != Offline {
			out = append(out, up)
		}
	}
	return out
}

// Sweep removes the entries expired at now and tells of the users whose
// presence that changes. Run calls it every MemoryConfig.Sweep.
func (p *MemoryPresence) Sweep(now time.Time) {
	var changed []PresenceChange
	p.mu.Lock()
	for conn, e := range p.conns {
		if !e.expires.After(now) {
			changed = p.remove(conn, e, now, changed, true)
		}
	}
	f := p.onChange
	p.mu.Unlock()
	tell(f, changed)
}

// Run removes expired entries every MemoryConfig.Sweep until ctx is done.
func (p *MemoryPresence) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.Sweep(p.cfg.Now())
		}
	}
}

// presenceKey is the value of a presence dependency on one user of org.
func presenceKey(org, user string) string { return fmt.Sprintf("%d:%s:%s", len(org), org, user) }
