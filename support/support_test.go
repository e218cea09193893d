package support_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
	"github.com/parley-chat/parley/support"
)

var (
	john      = parleytest.John
	staff     = parleytest.PizzaStaff
	admin     = parleytest.Admin
	acmeAdmin = functions.Identity{Subject: "admin-acme", Role: functions.RoleAdmin, Name: "Acme Support", Org: "acme"}
)

// live is how soon a presence change must show in the queries that read
// it (the "within a second"), with room for a loaded machine.
const live = 3 * time.Second

type env struct {
	t testing.TB
	s *parleytest.Server
}

// newEnv starts a server whose presence entries live ttl without a beat,
// with heartbeats unlimited unless configure says otherwise.
func newEnv(t testing.TB, ttl time.Duration, configure ...func(*support.Config)) *env {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.Support = support.Config{PresenceTTL: ttl, HeartbeatsPerSecond: -1}
		for _, c := range configure {
			c(&cfg.Support)
		}
	})
	return &env{t: t, s: s}
}

func identity(id functions.Identity) *functions.Identity {
	if id.Subject == "" {
		return nil
	}
	return &id
}

func (e *env) query(id functions.Identity, name string, args any) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	return e.s.Server.Engine.Query(context.Background(), "shared/support:"+name, raw, identity(id))
}

func (e *env) mutate(id functions.Identity, name string, args any) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	res, err := e.s.Server.Engine.Mutate(context.Background(), "shared/support:"+name, raw, identity(id), functions.RequestKey{})
	return res.Value, err
}

// dial connects a session as id (a guest: by its token).
func (e *env) dial(id functions.Identity, token string) *syncclient.Client {
	if token != "" {
		return e.s.DialToken(e.t, syncclient.Options{Token: token})
	}
	return e.s.Dial(e.t, id, syncclient.Options{})
}

func beat(c *syncclient.Client, args map[string]any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Mutation(ctx, "shared/support:heartbeat", args)
}

func must[T any](t testing.TB) func(json.RawMessage, error) T { return parleytest.Must[T](t) }

func status(t testing.TB, err error) int { t.Helper(); return parleytest.Status(t, err) }

// watch subscribes c to a support query and returns a function that waits
// until its result satisfies ok.
func watch[T any](t testing.TB, c *syncclient.Client, name string, args any) func(what string, ok func(T) bool) T {
	return parleytest.Watch[T](t, c, live, "shared/support:"+name, args)
}

// callers are the access table's columns (doc.go).
var callers = []string{"C", "S", "A", "N", "XA", "G"}

type codes [6]int

// accessRules is the tested access table: doc.go's, cell for cell.
func accessRules() map[string]codes {
	return map[string]codes{
		"getMyAgentProfile":  {403, 403, 200, 401, 200, 403},
		"updateAgentProfile": {403, 403, 200, 401, 200, 403},
		"heartbeat":          {200, 200, 200, 401, 200, 200},
		"getPresence":        {200, 200, 200, 401, 200, 200},
		"getOnlineAgents":    {403, 403, 200, 401, 200, 403},
		"requestSupport":     {200, 403, 403, 401, 403, 200},
		"getQueue":           {403, 403, 200, 401, 200, 403},
		"getMyQueueStatus":   {200, 404, 200, 401, 404, 200},
		"getCustomerHistory": {403, 403, 200, 401, 404, 403},
		"pickNext":           {403, 403, 200, 401, 200, 403},
		"claim":              {403, 403, 200, 401, 404, 403},
		"transferChat":       {403, 403, 200, 401, 404, 403},
		"closeChat":          {403, 403, 200, 401, 404, 403},
		"getIceServers":      {200, 200, 200, 401, 200, 200},
		"getTranscript":      {200, 200, 200, 401, 404, 404},
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t, 0)
	guest := e.s.NewGuest(t, "Visitor")
	ids := map[string]functions.Identity{"C": john, "S": staff, "A": admin, "N": parleytest.Anonymous, "XA": acmeAdmin,
		"G": guest.Identity}
	tokens := map[string]string{"G": guest.Token}
	calls := map[string]func(caller string) error{
		"getMyAgentProfile": func(caller string) error {
			_, err := e.query(ids[caller], "getMyAgentProfile", map[string]any{})
			return err
		},
		"updateAgentProfile": func(caller string) error {
			_, err := e.mutate(ids[caller], "updateAgentProfile", map[string]any{"capacity": 3})
			return err
		},
		"heartbeat": func(caller string) error {
			_, err := beat(e.dial(ids[caller], tokens[caller]), map[string]any{})
			return err
		},
		"getPresence": func(caller string) error {
			_, err := e.query(ids[caller], "getPresence", map[string]any{"userIds": []string{admin.Subject}})
			return err
		},
		"getOnlineAgents": func(caller string) error {
			_, err := e.query(ids[caller], "getOnlineAgents", map[string]any{})
			return err
		},
		"requestSupport": func(caller string) error {
			_, err := e.mutate(ids[caller], "requestSupport", map[string]any{"topic": "help"})
			return err
		},
		"getQueue": func(caller string) error {
			_, err := e.query(ids[caller], "getQueue", map[string]any{})
			return err
		},
		"getMyQueueStatus": func(caller string) error {
			// C and G ask about their own support conversation; the others
			// about John's.
			owner := john
			if caller == "G" {
				owner = ids["G"]
			}
			ref := must[support.SupportRequestRef](t)(e.mutate(owner, "requestSupport", map[string]any{}))
			_, err := e.query(ids[caller], "getMyQueueStatus", map[string]any{"conversationId": ref.ConversationID})
			return err
		},
		"pickNext": func(caller string) error {
			_, err := e.mutate(ids[caller], "pickNext", map[string]any{})
			return err
		},
		"getTranscript": func(caller string) error {
			_, err := e.query(ids[caller], "getTranscript", map[string]any{"conversationId": schema.DemoConversationID})
			return err
		},
		"getIceServers": func(caller string) error {
			_, err := e.query(ids[caller], "getIceServers", map[string]any{})
			return err
		},
	}
	// The agents' actions on a conversation of a customer of its own (C is
	// that customer), queued for each call.
	fresh := func(fn, caller string) (functions.Identity, string) {
		cust := functions.Identity{Subject: "acc-" + fn + "-" + caller, Role: functions.RoleCustomer, Name: "Customer"}
		ref := must[support.SupportRequestRef](t)(e.mutate(cust, "requestSupport", map[string]any{}))
		if caller == "C" {
			return cust, ref.ConversationID
		}
		return ids[caller], ref.ConversationID
	}
	for fn, args := range map[string]map[string]any{"claim": {}, "transferChat": {"toSkill": "billing", "note": "n"},
		"closeChat": {"reason": "done"}} {
		calls[fn] = func(caller string) error {
			who, conv := fresh(fn, caller)
			a := map[string]any{"conversationId": conv}
			for k, v := range args {
				a[k] = v
			}
			_, err := e.mutate(who, fn, a)
			return err
		}
	}
	// C asks about their own conversation, the others about a customer's.
	calls["getCustomerHistory"] = func(caller string) error {
		who, conv := fresh("getCustomerHistory", caller)
		_, err := e.query(who, "getCustomerHistory", map[string]any{"conversationId": conv})
		return err
	}
	for fn, want := range accessRules() {
		for i, caller := range callers {
			t.Run(fn+"/"+caller, func(t *testing.T) {
				require.Equal(t, want[i], status(t, calls[fn](caller)))
			})
		}
	}

	// The notes: another org's admin sees none of the default org's
	// presence, and has a profile of its own org.
	a := e.dial(admin, "")
	_, err := beat(a, map[string]any{})
	require.NoError(t, err)
	pres := must[[]support.PresenceDoc](t)(e.query(john, "getPresence", map[string]any{"userIds": []string{admin.Subject}}))
	require.Equal(t, support.Online, pres[0].Status)
	pres = must[[]support.PresenceDoc](t)(e.query(acmeAdmin, "getPresence", map[string]any{"userIds": []string{admin.Subject}}))
	require.Equal(t, support.Offline, pres[0].Status, "another org's user is offline to XA")
	agents := must[[]support.OnlineAgent](t)(e.query(acmeAdmin, "getOnlineAgents", map[string]any{}))
	for _, ag := range agents {
		require.NotEqual(t, admin.Subject, ag.UserID)
	}
	p := must[support.AgentProfile](t)(e.query(acmeAdmin, "getMyAgentProfile", map[string]any{}))
	require.Equal(t, 3, p.Capacity, "XA's own update")
	p = must[support.AgentProfile](t)(e.query(admin, "getMyAgentProfile", map[string]any{}))
	require.Equal(t, 3, p.Capacity)

	// XA's queue is its org's: none of the default org's requests, which
	// its pickNext cannot take.
	q := must[support.QueueView](t)(e.query(admin, "getQueue", map[string]any{}))
	require.NotZero(t, q.Waiting)
	q = must[support.QueueView](t)(e.query(acmeAdmin, "getQueue", map[string]any{}))
	require.Zero(t, q.Waiting)
	require.Empty(t, q.Requests)
	res := must[support.PickResult](t)(e.mutate(acmeAdmin, "pickNext", map[string]any{}))
	require.Nil(t, res.ConversationID)
	require.Equal(t, support.ReasonQueueEmpty, *res.Reason)
}

// TestDocTableIsTheTestedTable: doc.go's access table and accessRules say
// the same, cell for cell.
func TestDocTableIsTheTestedTable(t *testing.T) {
	doc := map[string]codes{}
	for label, c := range parleytest.DocTable(t, "doc.go", len(callers)) {
		doc[label] = codes(c)
	}
	require.Equal(t, accessRules(), doc)
}

func TestUpdateAgentProfile(t *testing.T) {
	e := newEnv(t, 0)
	p := must[support.AgentProfile](t)(e.query(admin, "getMyAgentProfile", map[string]any{}))
	require.Equal(t, support.AgentProfile{UserID: admin.Subject, Name: admin.Name, Skills: []string{}, Capacity: support.DefaultCapacity,
		Status: support.Online, Presence: support.Offline, EffectiveStatus: support.Offline}, p, "the defaults, no session")

	p = must[support.AgentProfile](t)(e.mutate(admin, "updateAgentProfile", map[string]any{"skills": []string{" Billing", "es", "billing", "tier-2"}}))
	require.Equal(t, []string{"billing", "es", "tier-2"}, p.Skills, "normalised, sorted, without duplicates")
	require.Equal(t, support.DefaultCapacity, p.Capacity)
	p = must[support.AgentProfile](t)(e.mutate(admin, "updateAgentProfile", map[string]any{"capacity": 8, "status": "away"}))
	require.Equal(t, []string{"billing", "es", "tier-2"}, p.Skills, "absent fields keep their value")
	require.Equal(t, 8, p.Capacity)
	require.Equal(t, support.Away, p.Status)
	p = must[support.AgentProfile](t)(e.mutate(admin, "updateAgentProfile", map[string]any{"skills": []string{}}))
	require.Empty(t, p.Skills, "an empty list clears them")

	long := strings.Repeat("x", support.MaxSkillChars+1)
	many := make([]string, support.MaxSkills+1)
	for i := range many {
		many[i] = "s" + strconv.Itoa(i)
	}
	tests := []struct {
		name string
		args map[string]any
		msg  string
	}{
		{"capacity zero", map[string]any{"capacity": 0}, "capacity"},
		{"capacity too big", map[string]any{"capacity": 51}, "capacity"},
		{"capacity fraction", map[string]any{"capacity": 2.5}, "capacity"},
		{"status", map[string]any{"status": "busy"}, "status"},
		{"empty skill", map[string]any{"skills": []string{"billing", " "}}, "skills[1]"},
		{"long skill", map[string]any{"skills": []string{long}}, "skills[0]"},
		{"odd skill", map[string]any{"skills": []string{"bill ing"}}, "skills[0]"},
		{"too many", map[string]any{"skills": many}, "skills"},
		{"unknown field", map[string]any{"name": "x"}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.mutate(admin, "updateAgentProfile", tt.args)
			require.Equal(t, http.StatusBadRequest, status(t, err), "%v", err)
			require.Contains(t, err.Error(), tt.msg)
		})
	}
	p = must[support.AgentProfile](t)(e.query(admin, "getMyAgentProfile", map[string]any{}))
	require.Equal(t, 8, p.Capacity, "a refused update changes nothing")
}

// TestPresenceIsLive: a user's sessions make them online, idle away, and
// offline when the last one closes; the queries follow at once, and the
// agents' list with their effective status and skills.
func TestPresenceIsLive(t *testing.T) {
	e := newEnv(t, 0)
	_, err := e.mutate(admin, "updateAgentProfile", map[string]any{"skills": []string{"billing"}})
	require.NoError(t, err)
	console := e.dial(admin, "")
	widget := e.dial(john, "")
	presence := watch[[]support.PresenceDoc](t, widget, "getPresence", map[string]any{"userIds": []string{admin.Subject, john.Subject}})
	agents := watch[[]support.OnlineAgent](t, console, "getOnlineAgents", map[string]any{})
	billing := watch[[]support.OnlineAgent](t, console, "getOnlineAgents", map[string]any{"skill": "Billing"})
	shipping := watch[[]support.OnlineAgent](t, console, "getOnlineAgents", map[string]any{"skill": "shipping"})
	mine := watch[support.AgentProfile](t, console, "getMyAgentProfile", map[string]any{})
	is := func(status string, sessions int) func([]support.PresenceDoc) bool {
		return func(p []support.PresenceDoc) bool { return p[0].Status == status && p[0].Sessions == sessions }
	}
	presence("nobody has beaten", is(support.Offline, 0))
	agents("no agent", func(a []support.OnlineAgent) bool { return len(a) == 0 })

	// The console's own session counts once it beats.
	res := must[support.HeartbeatResult](t)(beat(console, map[string]any{}))
	require.Equal(t, support.HeartbeatResult{Status: support.Online, TTLMs: 30_000, IntervalMs: 10_000}, res)
	presence("online", is(support.Online, 1))
	agents("listed", func(a []support.OnlineAgent) bool {
		return len(a) == 1 && a[0].UserID == admin.Subject && a[0].Name == admin.Name && a[0].Status == support.Online
	})
	billing("listed by skill", func(a []support.OnlineAgent) bool { return len(a) == 1 })
	shipping("not that skill", func(a []support.OnlineAgent) bool { return len(a) == 0 })
	mine("effective online", func(p support.AgentProfile) bool { return p.EffectiveStatus == support.Online && p.Sessions == 1 })

	// A second tab; the first goes idle: still online through the second.
	tab := e.dial(admin, "")
	_, err = beat(tab, map[string]any{})
	require.NoError(t, err)
	presence("two sessions", is(support.Online, 2))
	res = must[support.HeartbeatResult](t)(beat(console, map[string]any{"idleSeconds": 600}))
	require.Equal(t, support.Away, res.Status)
	_, err = beat(tab, map[string]any{"idle": true})
	require.NoError(t, err)
	presence("every session idle: away", is(support.Away, 2))
	agents("away", func(a []support.OnlineAgent) bool { return len(a) == 1 && a[0].Status == support.Away })
	_, err = beat(console, map[string]any{"idleSeconds": 5})
	require.NoError(t, err)
	presence("back", is(support.Online, 2))

	// The agent's own status: away, then offline (not listed, though
	// connected).
	_, err = e.mutate(admin, "updateAgentProfile", map[string]any{"status": "away"})
	require.NoError(t, err)
	agents("set away", func(a []support.OnlineAgent) bool { return len(a) == 1 && a[0].Status == support.Away })
	_, err = e.mutate(admin, "updateAgentProfile", map[string]any{"status": "offline"})
	require.NoError(t, err)
	agents("set offline", func(a []support.OnlineAgent) bool { return len(a) == 0 })
	mine("effective offline", func(p support.AgentProfile) bool {
		return p.Status == support.Offline && p.Presence == support.Online && p.EffectiveStatus == support.Offline
	})
	_, err = e.mutate(admin, "updateAgentProfile", map[string]any{"status": "online"})
	require.NoError(t, err)
	agents("online again", func(a []support.OnlineAgent) bool { return len(a) == 1 && a[0].Status == support.Online })

	// A logout (the tab goes anonymous) drops its entry at once, as does
	// closing a session; the last one takes the user offline.
	require.NoError(t, tab.Authenticate(""))
	presence("one logged out", is(support.Online, 1))
	_, err = beat(tab, map[string]any{})
	require.Equal(t, http.StatusUnauthorized, status(t, err), "anonymous beats are refused")
	require.NoError(t, tab.Close())
	presence("its close changes nothing more", is(support.Online, 1))
	require.NoError(t, console.Close())
	presence("both closed", is(support.Offline, 0))
	again := watch[[]support.OnlineAgent](t, e.dial(admin, ""), "getOnlineAgents", map[string]any{})
	again("gone", func(a []support.OnlineAgent) bool { return len(a) == 0 })
}

// TestPresenceExpires: an entry without heartbeats expires after the TTL
// (a small one here), and the queries follow; two sessions of one user
// keep them online until both have gone.
func TestPresenceExpires(t *testing.T) {
	const ttl = 400 * time.Millisecond
	e := newEnv(t, ttl)
	watcher := e.dial(john, "")
	presence := watch[[]support.PresenceDoc](t, watcher, "getPresence", map[string]any{"userIds": []string{admin.Subject}})
	agents := watch[[]support.OnlineAgent](t, e.dial(acmeAdmin, ""), "getOnlineAgents", map[string]any{})
	_, err := beat(e.dial(acmeAdmin, ""), map[string]any{})
	require.NoError(t, err)
	agents("XA's own org's agent", func(a []support.OnlineAgent) bool { return len(a) == 1 && a[0].UserID == acmeAdmin.Subject })

	// Tab one beats until told to stop; tab two beats once.
	one, two := e.dial(admin, ""), e.dial(admin, "")
	ctx, stop := context.WithCancel(context.Background())
	beating := make(chan error, 1)
	go func() {
		defer close(beating)
		tick := time.NewTicker(ttl / 4)
		defer tick.Stop()
		for {
			if _, err := beat(one, map[string]any{}); err != nil {
				beating <- err
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(stop)
	_, err = beat(two, map[string]any{})
	require.NoError(t, err)
	is := func(status string, sessions int) func([]support.PresenceDoc) bool {
		return func(p []support.PresenceDoc) bool { return p[0].Status == status && p[0].Sessions == sessions }
	}
	presence("two sessions", is(support.Online, 2))
	presence("tab two expired, tab one keeps the user online", is(support.Online, 1))
	// Still online well past tab two's TTL, while tab one beats.
	deadline := time.Now().Add(2 * ttl)
	for time.Now().Before(deadline) {
		p := must[[]support.PresenceDoc](t)(e.query(john, "getPresence", map[string]any{"userIds": []string{admin.Subject}}))
		require.Equal(t, support.Online, p[0].Status)
		time.Sleep(ttl / 4)
	}
	stop()
	require.NoError(t, <-beating)
	presence("both expired (their connections open)", is(support.Offline, 0))
	agents("XA's agent expired too", func(a []support.OnlineAgent) bool { return len(a) == 0 })

	// A beat brings an expired session back.
	_, err = beat(two, map[string]any{})
	require.NoError(t, err)
	presence("back", is(support.Online, 1))
}

// TestHeartbeatWritesNothing: heartbeats leave no mutation_log record and
// commit nothing; over HTTP (no connection) a heartbeat is refused.
func TestHeartbeatWritesNothing(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	c := e.dial(admin, "")
	var lsnBefore string
	require.NoError(t, e.s.DB.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsnBefore))
	for i := range 20 {
		_, ts, err := c.MutationTS(ctx, "shared/support:heartbeat", map[string]any{"idle": i%2 == 0})
		require.NoError(t, err)
		require.Zero(t, ts, "nothing committed")
	}
	var logged int
	require.NoError(t, e.s.DB.QueryRow(ctx, `SELECT count(*) FROM mutation_log WHERE udf_path = 'shared/support:heartbeat'`).Scan(&logged))
	require.Zero(t, logged)

	_, err := e.mutate(admin, "heartbeat", map[string]any{})
	require.Equal(t, http.StatusBadRequest, status(t, err))
	require.ErrorIs(t, err, support.ErrNoConnection)
	_, err = beat(c, map[string]any{"idleSeconds": -1})
	require.Equal(t, http.StatusBadRequest, status(t, err))
}

// TestHeartbeatRateLimit: a user's heartbeats, all sessions together, are
// limited; the limited call says when to retry.
func TestHeartbeatRateLimit(t *testing.T) {
	e := newEnv(t, 0, func(c *support.Config) { c.HeartbeatsPerSecond, c.HeartbeatBurst = 0.5, 3 })
	one, two := e.dial(admin, ""), e.dial(admin, "")
	for _, c := range []*syncclient.Client{one, two, one} {
		_, err := beat(c, map[string]any{})
		require.NoError(t, err)
	}
	_, err := beat(two, map[string]any{})
	require.Equal(t, http.StatusTooManyRequests, status(t, err))
	var fe *syncclient.FunctionError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, functions.CodeRateLimited, fe.Code())
	require.Greater(t, fe.Data["retryAfterMs"], float64(0))
	_, err = beat(e.dial(john, ""), map[string]any{})
	require.NoError(t, err, "another user's bucket")
}
