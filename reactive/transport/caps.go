package transport

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/clientip"
	"github.com/parley-chat/parley/reactive"
)

// The caps on concurrent sync sessions (WebSocket, SSE and long-polling
// connections) per client address and per user. A session takes its
// address's place before it is accepted, so that a refusal is a plain 429
// and no upgrade; it takes its user's place when it authenticates as that
// user, since the identity comes only from a token Authenticate verifies,
// and a refusal is then a FatalError. Both are this node's counts: N
// nodes let a client hold N times the caps.

// sessionCaps counts the sync sessions open per client address and per
// user. Safe for concurrent use.
type sessionCaps struct {
	perIP   int // 0: no cap
	perUser int // 0: no cap
	exempt  []netip.Prefix
	ip      *clientip.Resolver

	mu    sync.Mutex
	ips   map[string]int               // sessions per address key
	users map[string]int               // sessions per user key
	holds map[*reactive.Session]string // the user whose place a session holds
}

func newSessionCaps(cfg Config) *sessionCaps {
	return &sessionCaps{perIP: max(cfg.MaxSessionsPerIP, 0), perUser: max(cfg.MaxSessionsPerUser, 0),
		exempt: cfg.SessionsPerIPExempt, ip: cfg.ClientIP,
		ips: map[string]int{}, users: map[string]int{}, holds: map[*reactive.Session]string{}}
}

// ipPlace is the place a session holds under the per-IP cap: its
// address's key, "" for none (no cap, or an exempt address).
type ipPlace string

// enterIP takes a place for a new session from r's client; the error
// (429) refuses the session when its address has the most already (the
// place is then the address's, not taken, for the log).
func (c *sessionCaps) enterIP(r *http.Request) (ipPlace, error) {
	if c.perIP == 0 {
		return "", nil
	}
	key := r.RemoteAddr // no address (a Unix socket): its peer's name
	if addr := c.ip.Addr(r); addr.IsValid() {
		for _, p := range c.exempt {
			if p.Contains(addr) {
				return "", nil
			}
		}
		key = clientip.Key(addr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ips[key] >= c.perIP {
		return ipPlace(key), &functions.Error{Status: http.StatusTooManyRequests, Code: functions.CodeRateLimited,
			Message: fmt.Sprintf("Too many connections from this address: at most %d", c.perIP)}
	}
	c.ips[key]++
	return ipPlace(key), nil
}

// leaveIP gives a place back.
func (c *sessionCaps) leaveIP(p ipPlace) {
	if p == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ips[string(p)]--; c.ips[string(p)] <= 0 {
		delete(c.ips, string(p))
	}
}

// userKey names a user for the per-user cap: the token's subject within
// its org (two orgs' subjects are not one user).
func userKey(id *functions.Identity) string { return id.Org + "\x00" + id.Subject }

// enterUser moves sess's place to id's user as it authenticates (nil: as
// nobody, which holds no place). The error refuses the session: the user
// has the most sessions already; sess keeps the place it held.
func (c *sessionCaps) enterUser(sess *reactive.Session, id *functions.Identity) error {
	if c.perUser == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	held, holds := c.holds[sess]
	if id == nil {
		if holds {
			c.leaveUserLocked(sess, held)
		}
		return nil
	}
	key := userKey(id)
	if holds && held == key { // a fresh token of the same user
		return nil
	}
	if c.users[key] >= c.perUser {
		return &functions.Error{Status: http.StatusTooManyRequests, Code: functions.CodeRateLimited,
			Message: fmt.Sprintf("Too many sessions for this user: at most %d", c.perUser)}
	}
	if holds {
		c.leaveUserLocked(sess, held)
	}
	c.users[key]++
	c.holds[sess] = key
	return nil
}

// leaveUser gives back the place sess holds, if any, as it closes.
func (c *sessionCaps) leaveUser(sess *reactive.Session) {
	if c.perUser == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if held, ok := c.holds[sess]; ok {
		c.leaveUserLocked(sess, held)
	}
}

func (c *sessionCaps) leaveUserLocked(sess *reactive.Session, key string) {
	delete(c.holds, sess)
	if c.users[key]--; c.users[key] <= 0 {
		delete(c.users, key)
	}
}

// enterSession takes r's client's place for a new sync session, counting
// a refusal.
func (s *Server) enterSession(r *http.Request) (ipPlace, error) {
	p, err := s.caps.enterIP(r)
	if err != nil {
		s.metrics.sessionRefused(refusedIPSessions)
		s.log.Debug("refused a session: too many from its address", slog.String("client", string(p)), slog.Int("limit", s.caps.perIP))
		return "", err
	}
	return p, nil
}

// leaveSession gives back the places of a sync session that has closed.
func (s *Server) leaveSession(sess *reactive.Session, p ipPlace) {
	s.caps.leaveUser(sess)
	s.caps.leaveIP(p)
}
