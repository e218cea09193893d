package support

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// Agent profile limits and defaults.
const (
	MaxSkills       = 20
	MaxSkillChars   = 32
	MinCapacity     = 1
	MaxCapacity     = 50
	DefaultCapacity = 5
	// DefaultStatus is the status of an agent who never set one: an admin
	// who opens the console is available without a setup step.
	DefaultStatus = Online
)

// skillPattern is a skill after normalisation (trimmed, lower case):
// billing, shipping, es, tier-2.
var skillPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// normalizeSkill returns s trimmed and in lower case, or a 400 naming arg.
func normalizeSkill(arg, s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return "", functions.Invalid("%s: a skill cannot be empty", arg)
	case len(s) > MaxSkillChars:
		return "", functions.Invalid("%s: a skill is at most %d characters", arg, MaxSkillChars)
	case !skillPattern.MatchString(s):
		return "", functions.Invalid("%s: a skill is letters, digits, '-' and '_' (e.g. billing, es): %q", arg, s)
	}
	return s, nil
}

// normalizeSkills validates skills and returns them normalised, without
// duplicates, sorted.
func normalizeSkills(skills []string) ([]string, error) {
	if len(skills) > MaxSkills {
		return nil, functions.Invalid("skills: at most %d", MaxSkills)
	}
	out := make([]string, 0, len(skills))
	for i, s := range skills {
		n, err := normalizeSkill("skills["+strconv.Itoa(i)+"]", s)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func validStatus(s string) bool { return s == Online || s == Away || s == Offline }

// effective is an agent's status from the one they set and their presence:
// online if they set online and a session is live and not idle; away if
// they set away or every live session is idle; offline otherwise.
func effective(set, presence string) string {
	switch {
	case set == Offline || presence == Offline:
		return Offline
	case set == Away || presence == Away:
		return Away
	}
	return Online
}

// profile is a support_agents row (or the defaults of an agent without one).
type profile struct {
	userID   string
	skills   []string
	capacity int
	status   string
}

func defaultProfile(userID string) profile {
	return profile{userID: userID, skills: []string{}, capacity: DefaultCapacity, status: DefaultStatus}
}

// agentTables is the domain's access to support_agents for one execution.
type agentTables struct{ *schema.DB }

// profile reads one agent's profile, the defaults when they have none.
func (t agentTables) profile(ctx context.Context, org, userID string) (profile, error) {
	t.Record(schema.Dep{Table: "support_agents", Column: "user_id", Value: userID})
	p := profile{userID: userID}
	err := t.Querier().QueryRow(ctx, `SELECT skills, capacity, status FROM support_agents WHERE org_id = $1 AND user_id = $2`, org, userID).
		Scan(&p.skills, &p.capacity, &p.status)
	if errors.Is(err, pgx.ErrNoRows) {
		return defaultProfile(userID), nil
	}
	return p, err
}

// profiles reads the profiles of org's agents that have one, by user.
func (t agentTables) profiles(ctx context.Context, org string) (map[string]profile, error) {
	t.Record(schema.Dep{Table: "support_agents", Column: "org_id", Value: org})
	rows, err := t.Querier().Query(ctx, `SELECT user_id, skills, capacity, status FROM support_agents WHERE org_id = $1`, org)
	if err != nil {
		return nil, err
	}
	out := map[string]profile{}
	var p profile
	_, err = pgx.ForEachRow(rows, []any{&p.userID, &p.skills, &p.capacity, &p.status}, func() error {
		out[p.userID] = p
		return nil
	})
	return out, err
}

// saveProfile creates or changes the caller's profile: nil fields keep
// what is stored (or the defaults).
func (t agentTables) saveProfile(ctx context.Context, org, userID string, skills []string, capacity *int, status *string, now time.Time) (profile, error) {
	p := profile{userID: userID}
	err := t.Querier().QueryRow(ctx, `INSERT INTO support_agents (org_id, user_id, skills, capacity, status, updated_at)
		VALUES ($1, $2, coalesce($3::text[], '{}'), coalesce($4::integer, $7), coalesce($5::text, $8), $6)
		ON CONFLICT (org_id, user_id) DO UPDATE SET skills = coalesce($3::text[], support_agents.skills),
			capacity = coalesce($4::integer, support_agents.capacity), status = coalesce($5::text, support_agents.status), updated_at = $6
		RETURNING skills, capacity, status`, org, userID, skills, capacity, status, now, DefaultCapacity, DefaultStatus).
		Scan(&p.skills, &p.capacity, &p.status)
	return p, err
}

// AgentProfile is an agent's profile as its agent sees it.
type AgentProfile struct {
	UserID   string   `json:"userId"`
	Name     string   `json:"name"`
	Skills   []string `json:"skills"`
	Capacity int      `json:"capacity"`
	// Status is the one the agent set.
	Status string `json:"status" ts:"online|away|offline"`
	// Presence is the agent's, from their sessions (getPresence's).
	Presence string `json:"presence" ts:"online|away|offline"`
	// EffectiveStatus is what routing sees: see the package documentation.
	EffectiveStatus string `json:"effectiveStatus" ts:"online|away|offline"`
	Sessions        int    `json:"sessions"`
}

func (s *Service) agentProfile(id *functions.Identity, p profile, up UserPresence) AgentProfile {
	return AgentProfile{UserID: id.Subject, Name: id.Name, Skills: p.skills, Capacity: p.capacity, Status: p.status,
		Presence: up.Status, EffectiveStatus: effective(p.status, up.Status), Sessions: up.Sessions}
}

// getMyAgentProfile returns the caller's agent profile, live: it changes
// with their sessions' presence too.
func (s *Service) getMyAgentProfile(c *functions.QueryCtx, _ struct{}) (AgentProfile, error) {
	id, err := requireAgent(c.Identity())
	if err != nil {
		return AgentProfile{}, err
	}
	p, err := agentTables{c.DB}.profile(c.Ctx, id.Org, id.Subject)
	if err != nil {
		return AgentProfile{}, err
	}
	return s.agentProfile(id, p, s.users(c, id.Org, []string{id.Subject})[0]), nil
}

// UpdateAgentProfileArgs are the arguments of updateAgentProfile: absent
// fields keep their value.
type UpdateAgentProfileArgs struct {
	Skills   *[]string `json:"skills"`
	Capacity *int      `json:"capacity"`
	Status   *string   `json:"status" ts:"online|away|offline"`
}

// updateAgentProfile changes the caller's profile.
func (s *Service) updateAgentProfile(c *functions.MutationCtx, a UpdateAgentProfileArgs) (AgentProfile, error) {
	id, err := requireAgent(c.Identity())
	if err != nil {
		return AgentProfile{}, err
	}
	var skills []string
	if a.Skills != nil {
		if skills, err = normalizeSkills(*a.Skills); err != nil {
			return AgentProfile{}, err
		}
	}
	if a.Capacity != nil && (*a.Capacity < MinCapacity || *a.Capacity > MaxCapacity) {
		return AgentProfile{}, functions.Invalid("capacity: from %d to %d concurrent chats", MinCapacity, MaxCapacity)
	}
	if a.Status != nil && !validStatus(*a.Status) {
		return AgentProfile{}, functions.Invalid("status: online, away or offline")
	}
	p, err := agentTables{c.DB}.saveProfile(c.Ctx, id.Org, id.Subject, skills, a.Capacity, a.Status, c.Now())
	if err != nil {
		return AgentProfile{}, err
	}
	return s.agentProfile(id, p, s.cfg.Presence.Users(id.Org, []string{id.Subject})[0]), nil
}
