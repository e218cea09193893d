package support

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// MaxPresenceUsers bounds getPresence's userIds.
const MaxPresenceUsers = 100

// HeartbeatArgs are the arguments of heartbeat: how idle the client's
// user is, by the client's say (both absent: active).
type HeartbeatArgs struct {
	// Idle says the user is away from the client (a hidden tab, a locked
	// screen).
	Idle *bool `json:"idle"`
	// IdleSeconds is how long the user has not touched the client; from
	// Config.AwayAfter (5 minutes) the session is away.
	IdleSeconds *float64 `json:"idleSeconds"`
}

// HeartbeatResult tells the client how its session counts and when to
// beat again.
type HeartbeatResult struct {
	Status string `json:"status" ts:"online|away"`
	// TTLMs is how long the entry lives without another heartbeat.
	TTLMs int64 `json:"ttlMs"`
	// IntervalMs is how often to beat: a third of the TTL, so one lost
	// beat does not show the user offline.
	IntervalMs int64 `json:"intervalMs"`
}

// heartbeat keeps the presence entry of the caller's connection alive for
// the TTL. It writes nothing (an InMemory mutation): the entry is in the
// Presence, and only a change of the caller's presence re-runs queries.
func (s *Service) heartbeat(c *functions.MutationCtx, a HeartbeatArgs) (HeartbeatResult, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return HeartbeatResult{}, err
	}
	if c.Connection() == 0 {
		return HeartbeatResult{}, ErrNoConnection
	}
	idle := a.Idle != nil && *a.Idle
	if a.IdleSeconds != nil {
		v := *a.IdleSeconds
		if math.IsNaN(v) || v < 0 || v > 1e9 {
			return HeartbeatResult{}, functions.Invalid("idleSeconds: a number of seconds, 0 or more")
		}
		idle = idle || time.Duration(v*float64(time.Second)) >= s.cfg.AwayAfter
	}
	s.cfg.Presence.Beat(Beat{Conn: c.Connection(), Org: id.Org, UserID: id.Subject, Name: id.Name,
		Agent: id.Role == functions.RoleAdmin, Idle: idle, At: c.Now()})
	res := HeartbeatResult{Status: Online, TTLMs: s.ttl.Milliseconds(), IntervalMs: (s.ttl / 3).Milliseconds()}
	if idle {
		res.Status = Away
	}
	return res, nil
}

// users reads the presence of ids in org, recording each as a dependency.
func (s *Service) users(c *functions.QueryCtx, org string, ids []string) []UserPresence {
	for _, id := range ids {
		c.DB.Record(schema.Dep{Table: presenceTable, Column: presenceUser, Value: presenceKey(org, id)})
	}
	return s.cfg.Presence.Users(org, ids)
}

// GetPresenceArgs are the arguments of getPresence.
type GetPresenceArgs struct {
	UserIDs []string `json:"userIds"`
}

// PresenceDoc is one user's presence.
type PresenceDoc struct {
	UserID   string `json:"userId"`
	Status   string `json:"status" ts:"online|away|offline"`
	Sessions int    `json:"sessions"`
}

// getPresence returns the presence of users of the caller's org, in the
// order asked. A user of another org, or none, is offline: the answer says
// nothing of who exists.
func (s *Service) getPresence(c *functions.QueryCtx, a GetPresenceArgs) ([]PresenceDoc, error) {
	id, err := requireIdentity(c.Identity())
	if err != nil {
		return nil, err
	}
	if len(a.UserIDs) == 0 || len(a.UserIDs) > MaxPresenceUsers {
		return nil, functions.Invalid("userIds: from 1 to %d user ids", MaxPresenceUsers)
	}
	for i, u := range a.UserIDs {
		if u == "" {
			return nil, functions.Invalid("userIds[%d]: empty", i)
		}
	}
	ups := s.users(c, id.Org, a.UserIDs)
	out := make([]PresenceDoc, len(ups))
	for i, up := range ups {
		out[i] = PresenceDoc{UserID: up.UserID, Status: up.Status, Sessions: up.Sessions}
	}
	return out, nil
}

// GetOnlineAgentsArgs are the arguments of getOnlineAgents.
type GetOnlineAgentsArgs struct {
	// Skill keeps the agents who have it.
	Skill *string `json:"skill"`
}

// OnlineAgent is an agent whose effective status is online or away.
type OnlineAgent struct {
	UserID   string   `json:"userId"`
	Name     string   `json:"name"`
	Skills   []string `json:"skills"`
	Capacity int      `json:"capacity"`
	// Status is the effective one (see the package documentation).
	Status   string `json:"status" ts:"online|away"`
	Sessions int    `json:"sessions"`
}

// getOnlineAgents lists the caller's org's agents who are online or away
// (effective status), by name, with a skill if asked.
func (s *Service) getOnlineAgents(c *functions.QueryCtx, a GetOnlineAgentsArgs) ([]OnlineAgent, error) {
	id, err := requireAgent(c.Identity())
	if err != nil {
		return nil, err
	}
	skill := ""
	if a.Skill != nil {
		if skill, err = normalizeSkill("skill", *a.Skill); err != nil {
			return nil, err
		}
	}
	profiles, err := agentTables{c.DB}.profiles(c.Ctx, id.Org)
	if err != nil {
		return nil, err
	}
	c.DB.Record(schema.Dep{Table: presenceTable, Column: presenceAgents, Value: presenceKey(id.Org, "")})
	out := []OnlineAgent{}
	for _, up := range s.cfg.Presence.Agents(id.Org) {
		p, ok := profiles[up.UserID]
		if !ok {
			p = defaultProfile(up.UserID)
		}
		st := effective(p.status, up.Status)
		if st == Offline || skill != "" && !slices.Contains(p.skills, skill) {
			continue
		}
		out = append(out, OnlineAgent{UserID: up.UserID, Name: up.Name, Skills: p.skills, Capacity: p.capacity, Status: st,
			Sessions: up.Sessions})
	}
	slices.SortFunc(out, func(x, y OnlineAgent) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.UserID, y.UserID)
	})
	return out, nil
}
