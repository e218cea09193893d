package reactive_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/reactive"
	"github.com/parley-chat/parley/reactive/pgrepl"
	"github.com/parley-chat/parley/schema"
)

// engineEnv runs an engine with its own registry over a fresh database,
// fed by the real replication source, and drives sessions directly.
type engineEnv struct {
	pool *pgxpool.Pool
	eng  *reactive.Engine
}

type clockArgs struct {
	At float64 `json:"at"` // unix ms
}

func startEngine(t *testing.T, register func(*functions.Registry)) *engineEnv {
	return startEngineWith(t, register, nil)
}

// startEngineWith is startEngine with the engine's configuration changed
// by configure (given the database's URL) before it starts.
func startEngineWith(t *testing.T, register func(*functions.Registry), configure func(cfg *reactive.Config, url string)) *engineEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	url, pool := parleytest.DemoDB(t)
	reg := functions.NewRegistry()
	chat.Register(reg, chat.Config{})
	if register != nil {
		register(reg)
	}
	cfg := reactive.Config{Pool: pool, Registry: reg}
	if configure != nil {
		configure(&cfg, url)
	}
	eng, err := reactive.New(cfg)
	require.NoError(t, err)
	src, err := pgrepl.New(pgrepl.Config{ConnString: url, Publication: schema.Publication})
	require.NoError(t, err)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return eng.Run(gctx) })
	g.Go(func() error { return src.Run(gctx, eng) })
	t.Cleanup(func() {
		cancel()
		require.NoError(t, g.Wait())
	})
	pgtest.Eventually(t, 10*time.Second, func() error {
		if !eng.Replicating() {
			return fmt.Errorf("replication not started")
		}
		return nil
	})
	return &engineEnv{pool: pool, eng: eng}
}

func (e *engineEnv) session(t *testing.T, id *functions.Identity, maxPending int) *reactive.Session {
	s := e.eng.NewSession(reactive.SessionConfig{MaxPendingBytes: maxPending})
	t.Cleanup(s.Close)
	s.Connect("test-"+t.Name(), false)
	require.NoError(t, s.Authenticate(context.Background(), 0, id))
	out := s.Take()
	require.NotNil(t, out.Transition)
	require.Equal(t, uint32(1), out.Transition.End.Identity)
	return s
}

func TestRefreshAtRerunsWithoutWrites(t *testing.T) {
	e := startEngine(t, func(r *functions.Registry) {
		functions.Query(r, "test:isPast", func(c *functions.QueryCtx, a clockArgs) (bool, error) {
			at := time.UnixMilli(int64(a.At))
			if c.Now().Before(at) {
				c.RefreshAt(at)
				return false, nil
			}
			return true, nil
		}, functions.Public())
	})
	s := e.session(t, nil, 0)
	at := time.Now().Add(300 * time.Millisecond)
	args, _ := json.Marshal(clockArgs{At: float64(at.UnixMilli())})
	require.NoError(t, s.ModifyQuerySet(context.Background(), 0, 1, []reactive.QueryAdd{{QueryID: 1, UDFPath: "test:isPast", Args: args}}, nil))
	out := s.Take()
	require.Len(t, out.Transition.Modifications, 1)
	require.JSONEq(t, "false", string(out.Transition.Modifications[0].Value))

	// No write happens; the engine re-runs the query when it asked to.
	pgtest.Eventually(t, 5*time.Second, func() error {
		out = s.Take()
		if out.Transition == nil {
			return fmt.Errorf("no refresh yet")
		}
		require.Len(t, out.Transition.Modifications, 1)
		require.JSONEq(t, "true", string(out.Transition.Modifications[0].Value))
		return nil
	})
	require.False(t, time.Now().Before(at), "re-run no earlier than asked")
}

func conversation(t *testing.T, pool *pgxpool.Pool) string {
	id := schema.NewID("conv")
	_, err := pool.Exec(context.Background(), `INSERT INTO conversations (id, conversation_type, customer_id, store_id)
		VALUES ($1, 'customer_to_store', $2, $3)`, id, schema.DemoCustomerID, schema.DemoStoreID)
	require.NoError(t, err)
	return id
}

func insertMessage(t *testing.T, pool *pgxpool.Pool, conv, content string) {
	_, err := pool.Exec(context.Background(), `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content)
		VALUES ($1, $2, $3, 'store', 'text', $4)`, schema.NewID("msg"), conv, schema.DemoStaffID, content)
	require.NoError(t, err)
}

var john = &functions.Identity{Subject: schema.DemoCustomerID, Role: functions.RoleCustomer, Name: "John Doe"}

func TestSlowSessionCoalescesToNewest(t *testing.T) {
	e := startEngine(t, nil)
	conv := conversation(t, e.pool)
	s := e.session(t, john, 0)
	args := json.RawMessage(fmt.Sprintf(`{"conversationId":%q}`, conv))
	require.NoError(t, s.ModifyQuerySet(context.Background(), 0, 1, []reactive.QueryAdd{{QueryID: 7, UDFPath: "shared/chat:getMessages", Args: args}}, nil))
	first := s.Take()
	require.Len(t, first.Transition.Modifications, 1)

	// The client reads nothing while ten commits land.
	for i := range 10 {
		insertMessage(t, e.pool, conv, fmt.Sprintf("m%d", i))
	}
	var lsn string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT pg_current_wal_lsn()::text`).Scan(&lsn))
	want, err := functions.ParseLSN(lsn)
	require.NoError(t, err)
	pgtest.Eventually(t, 10*time.Second, func() error {
		if e.eng.Applied() < reactive.LSN(want) {
			return fmt.Errorf("applied %s < %s", e.eng.Applied(), lsn)
		}
		return nil
	})
	out := s.Take()
	require.NotNil(t, out.Transition)
	require.Equal(t, first.Transition.End, out.Transition.Start, "transitions chain")
	require.Len(t, out.Transition.Modifications, 1, "ten updates coalesce into one")
	var page chat.MessagePage
	require.NoError(t, json.Unmarshal(out.Transition.Modifications[0].Value, &page))
	require.Len(t, page.Messages, 10)
	require.Equal(t, "m9", page.Messages[0].Content, "the newest value wins")
	require.Empty(t, out.Close)
}

// The results waiting for a session are the engine's own, coalesced per
// query: however large they grow before the client takes them, they do
// not count against MaxPendingBytes. The responses queued for a client
// that sends requests without reading do, and close it.
func TestSessionTooFarBehindIsClosed(t *testing.T) {
	e := startEngine(t, nil)
	conv := conversation(t, e.pool)
	insertMessage(t, e.pool, conv, strings.Repeat("x", 100))
	s := e.session(t, john, 3000)
	var adds []reactive.QueryAdd
	for i := range 5 {
		adds = append(adds, reactive.QueryAdd{QueryID: uint32(i), UDFPath: "shared/chat:getMessages",
			Args: json.RawMessage(fmt.Sprintf(`{"conversationId":%q,"limit":%d}`, conv, i+1))})
	}
	require.NoError(t, s.ModifyQuerySet(context.Background(), 0, 1, adds, nil))
	require.Empty(t, s.Take().Close)

	insertMessage(t, e.pool, conv, strings.Repeat("y", 1000)) // five results of 1,100+ bytes now wait
	updated, size := map[uint32]bool{}, 0
	pgtest.Eventually(t, 10*time.Second, func() error {
		out := s.Take()
		require.Empty(t, out.Close, "results are not the session's queue")
		for _, m := range out.Transition.GetModifications() {
			updated[m.QueryID] = true
			size += len(m.Value)
		}
		if len(updated) < len(adds) {
			return fmt.Errorf("%d of %d queries updated", len(updated), len(adds))
		}
		return nil
	})
	require.Greater(t, size, 3000, "more than the bound waited")

	// Each unanswered request queues a response of ~100 bytes.
	for i := range 40 {
		s.Mutation(context.Background(), uint32(i), "test:missing", json.RawMessage(`{}`))
	}
	out := s.Take()
	require.Contains(t, out.Close, "client too slow")
	require.Len(t, out.Messages, 40, "the responses queued are sent before the close")
}

func TestSharedInstances(t *testing.T) {
	e := startEngine(t, nil)
	conv := conversation(t, e.pool)
	args := json.RawMessage(fmt.Sprintf(`{"conversationId":%q, "limit": 5}`, conv))
	reordered := json.RawMessage(fmt.Sprintf(`{"limit": 5, "conversationId":%q}`, conv))
	a, b := e.session(t, john, 0), e.session(t, john, 0)
	require.NoError(t, a.ModifyQuerySet(context.Background(), 0, 1, []reactive.QueryAdd{{QueryID: 1, UDFPath: "shared/chat:getMessages", Args: args}}, nil))
	require.NoError(t, b.ModifyQuerySet(context.Background(), 0, 1, []reactive.QueryAdd{{QueryID: 1, UDFPath: "shared/chat:getMessages", Args: reordered}}, nil))
	// getMessages is shared: one body for everyone allowed to read the
	// conversation, and one access check per caller.
	st := e.eng.Stats()
	require.Equal(t, 2, st.Instances, "same function, args and identity: one body, one access check")
	require.Equal(t, 4, st.Subscriptions, "two sessions on each")

	staff := e.session(t, &functions.Identity{Subject: schema.DemoStaffID, Role: functions.RoleStore, StoreID: schema.DemoStoreID}, 0)
	require.NoError(t, staff.ModifyQuerySet(context.Background(), 0, 1, []reactive.QueryAdd{{QueryID: 1, UDFPath: "shared/chat:getMessages", Args: args}}, nil))
	require.Equal(t, 3, e.eng.Stats().Instances, "another viewer shares the body and adds only its access check")

	// An outsider shares nothing it may not see: its access check fails.
	jane := e.session(t, &functions.Identity{Subject: schema.DemoOtherCustomerID, Role: functions.RoleCustomer}, 0)
	require.NoError(t, jane.ModifyQuerySet(context.Background(), 0, 1, []reactive.QueryAdd{{QueryID: 1, UDFPath: "shared/chat:getMessages", Args: args}}, nil))
	out := jane.Take()
	require.Len(t, out.Transition.Modifications, 1)
	require.Equal(t, reactive.QueryFailed, out.Transition.Modifications[0].Type)
	require.Equal(t, "Conversation not found", out.Transition.Modifications[0].Err.Message)
	jane.Close()

	require.NoError(t, a.ModifyQuerySet(context.Background(), 1, 2, nil, []uint32{1}))
	out = a.Take()
	require.Equal(t, reactive.QueryRemoved, out.Transition.Modifications[len(out.Transition.Modifications)-1].Type)
	require.Equal(t, 3, e.eng.Stats().Instances, "b still holds John's access check")
	b.Close()
	require.Equal(t, 2, e.eng.Stats().Instances, "an instance without subscribers is dropped")
}

type brokenArgs struct {
	N int `json:"n"`
}

// A query that fails in SQL aborts its snapshot transaction; that must cost
// only itself: every other subscription keeps updating and the applied
// position keeps advancing.
func TestFailingQueryDoesNotStallOthers(t *testing.T) {
	e := startEngine(t, func(r *functions.Registry) {
		functions.Query(r, "test:broken", func(c *functions.QueryCtx, a brokenArgs) (int, error) {
			var v int
			err := c.DB.Querier().QueryRow(c.Ctx, `SELECT 1 / (0 * $1::int)`, a.N).Scan(&v)
			return v, err
		}, functions.Public())
	})
	conv := conversation(t, e.pool)
	s := e.session(t, john, 0)
	var adds []reactive.QueryAdd
	for i := range 12 { // enough for a parallel batch with several chunks
		adds = append(adds, reactive.QueryAdd{QueryID: uint32(i), UDFPath: "test:broken", Args: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	adds = append(adds, reactive.QueryAdd{QueryID: 100, UDFPath: "shared/chat:getMessages", Args: json.RawMessage(fmt.Sprintf(`{"conversationId":%q}`, conv))})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.ModifyQuerySet(ctx, 0, 1, adds, nil), "the first results are published despite the failures")
	out := s.Take()
	failed := 0
	for _, m := range out.Transition.Modifications {
		if m.Type == reactive.QueryFailed {
			failed++
			require.Equal(t, "Internal server error", m.Err.Message, "internals do not leak")
		}
	}
	require.Equal(t, 12, failed)

	for i := range 3 {
		insertMessage(t, e.pool, conv, fmt.Sprintf("still live %d", i))
		pgtest.Eventually(t, 10*time.Second, func() error {
			for _, m := range s.Take().Transition.GetModifications() {
				if m.QueryID == 100 && strings.Contains(string(m.Value), fmt.Sprintf("still live %d", i)) {
					return nil
				}
			}
			return fmt.Errorf("message %d not pushed", i)
		})
	}
}

func TestModifyQuerySetLimits(t *testing.T) {
	e := startEngine(t, nil)
	conv := conversation(t, e.pool)
	s := e.eng.NewSession(reactive.SessionConfig{MaxQueries: 3})
	require.NoError(t, s.Authenticate(context.Background(), 0, john))
	args := func(limit int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"conversationId":%q,"limit":%d}`, conv, limit))
	}
	err := s.ModifyQuerySet(context.Background(), 0, 1, []reactive.QueryAdd{
		{QueryID: 1, UDFPath: "shared/chat:getMessages", Args: args(1)},
		{QueryID: 1, UDFPath: "shared/chat:getMessages", Args: args(2)}}, nil)
	require.ErrorIs(t, err, reactive.ErrProtocol, "one query id twice in one request")
	err = s.ModifyQuerySet(context.Background(), 0, 1, []reactive.QueryAdd{
		{QueryID: 1, UDFPath: "shared/chat:getMessages", Args: args(1)}, {QueryID: 2, UDFPath: "shared/chat:getMessages", Args: args(2)},
		{QueryID: 3, UDFPath: "shared/chat:getMessages", Args: args(3)}, {QueryID: 4, UDFPath: "shared/chat:getMessages", Args: args(4)}}, nil)
	require.ErrorIs(t, err, reactive.ErrProtocol, "more queries than MaxQueries")
	s.Close()
	require.Equal(t, reactive.Stats{}, e.eng.Stats(), "nothing is left behind")
}

// A conversation watched by many people costs one query run per write:
// the page is computed once for everyone, and each viewer's access check
// is not re-run because a message arrived.
func TestHotConversationRunsOncePerWrite(t *testing.T) {
	e := startEngine(t, nil)
	ctx := context.Background()
	conv := conversation(t, e.pool)
	args := json.RawMessage(fmt.Sprintf(`{"conversationId":%q,"limit":20}`, conv))
	const viewers = 60
	sessions := make([]*reactive.Session, viewers)
	for i := range sessions {
		id := &functions.Identity{Subject: fmt.Sprintf("viewer%d", i), Role: functions.RoleStore, StoreID: schema.DemoStoreID}
		if i%3 == 0 {
			id = &functions.Identity{Subject: fmt.Sprintf("admin%d", i), Role: functions.RoleAdmin}
		}
		sessions[i] = e.session(t, id, 0)
		require.NoError(t, sessions[i].ModifyQuerySet(ctx, 0, 1, []reactive.QueryAdd{{QueryID: 1, UDFPath: "shared/chat:getMessages", Args: args}}, nil))
		sessions[i].Take()
	}
	require.Equal(t, 1+viewers, e.eng.Stats().Instances, "one body, one access check per viewer")

	for round := range 3 {
		before := e.eng.Stats().Runs
		// A message arrives the way sendMessage writes it: the message row
		// and the conversation's last-message fields.
		content := fmt.Sprintf("hot %d", round)
		insertMessage(t, e.pool, conv, content)
		_, err := e.pool.Exec(ctx, `UPDATE conversations SET last_message_at = now(), last_message_preview = $2 WHERE id = $1`, conv, content)
		require.NoError(t, err)
		for i, s := range sessions {
			pgtest.Eventually(t, 10*time.Second, func() error {
				for _, m := range s.Take().Transition.GetModifications() {
					if strings.Contains(string(m.Value), content) {
						return nil
					}
				}
				return fmt.Errorf("viewer %d has not got %q", i, content)
			})
		}
		require.LessOrEqual(t, e.eng.Stats().Runs-before, uint64(2), "the body runs once per commit (two commits); no access check re-runs")
	}

	// Moving the conversation to another store does re-run the checks:
	// the store's staff lose it, admins keep it.
	_, err := e.pool.Exec(ctx, `UPDATE conversations SET store_id = $2 WHERE id = $1`, conv, schema.DemoClosedStoreID)
	require.NoError(t, err)
	pgtest.Eventually(t, 10*time.Second, func() error {
		for _, m := range sessions[1].Take().Transition.GetModifications() {
			if m.Type == reactive.QueryFailed && m.Err.Message == "Conversation not found" {
				return nil
			}
		}
		return fmt.Errorf("staff of the old store still see the conversation")
	})
}

// The inbox queries depend on a store, not on which of its staff asks:
// the staff of one store share one instance; another store does not.
func TestInboxSharedByStore(t *testing.T) {
	e := startEngine(t, nil)
	ctx := context.Background()
	add := []reactive.QueryAdd{{QueryID: 1, UDFPath: "shared/chat:getConversations", Args: json.RawMessage(`{}`)},
		{QueryID: 2, UDFPath: "shared/chat:getUnreadCount", Args: json.RawMessage(`{}`)}}
	for i := range 5 {
		s := e.session(t, &functions.Identity{Subject: fmt.Sprintf("staff%d", i), Role: functions.RoleStore, StoreID: schema.DemoStoreID}, 0)
		require.NoError(t, s.ModifyQuerySet(ctx, 0, 1, add, nil))
	}
	require.Equal(t, 2, e.eng.Stats().Instances, "five staff of one store: one inbox, one unread count")
	other := e.session(t, &functions.Identity{Subject: "staff9", Role: functions.RoleStore, StoreID: schema.DemoClosedStoreID}, 0)
	require.NoError(t, other.ModifyQuerySet(ctx, 0, 1, add, nil))
	require.Equal(t, 4, e.eng.Stats().Instances, "another store has its own")
	cust := e.session(t, john, 0)
	require.NoError(t, cust.ModifyQuerySet(ctx, 0, 1, add, nil))
	out := cust.Take()
	require.Equal(t, 6, e.eng.Stats().Instances)
	var convs []chat.ConversationDoc
	for _, m := range out.Transition.Modifications {
		if m.QueryID == 1 {
			require.NoError(t, json.Unmarshal(m.Value, &convs))
		}
	}
	require.NotEmpty(t, convs)
	for _, c := range convs {
		require.Equal(t, schema.DemoCustomerID, c.CustomerID, "a customer's inbox is theirs alone")
	}
}

// A query removed and added again under the same id before the client
// reads leaves it in the client's set: the transition lists the removal
// first, then the query's value, which is how a Convex client applies them.
func TestQueryReaddedBeforeTakeStaysInTheSet(t *testing.T) {
	e := startEngine(t, nil)
	conv := conversation(t, e.pool)
	s := e.session(t, john, 0)
	ctx := context.Background()
	args := json.RawMessage(fmt.Sprintf(`{"conversationId":%q}`, conv))
	add := []reactive.QueryAdd{{QueryID: 3, UDFPath: "shared/chat:getMessages", Args: args}}
	require.NoError(t, s.ModifyQuerySet(ctx, 0, 1, add, nil))
	require.Len(t, s.Take().Transition.Modifications, 1)

	require.NoError(t, s.ModifyQuerySet(ctx, 1, 2, nil, []uint32{3}))
	require.NoError(t, s.ModifyQuerySet(ctx, 2, 3, add, nil))
	mods := s.Take().Transition.Modifications
	var kinds []reactive.ModType
	for _, m := range mods {
		require.Equal(t, uint32(3), m.QueryID)
		kinds = append(kinds, m.Type)
	}
	require.Equal(t, []reactive.ModType{reactive.QueryRemoved, reactive.QueryUpdated}, kinds)
}

// oddID is a string argument whose JSON is a number: its canonical form
// does not decode back, which the engine learns when the query is added.
type oddID string

func (oddID) MarshalJSON() ([]byte, error) { return []byte("1"), nil }

type oddArgs struct {
	ID oddID `json:"id"`
}

// Arguments that cannot be made again from their canonical JSON fail the
// query as an internal error when it is added: no instance is made that
// would fail (and be retried) on every run.
func TestArgumentsWithoutCanonicalFormFailOnce(t *testing.T) {
	e := startEngine(t, func(r *functions.Registry) {
		functions.Query(r, "test:odd", func(c *functions.QueryCtx, a oddArgs) (string, error) {
			return string(a.ID), nil
		}, functions.Public())
	})
	s := e.session(t, john, 0)
	before := e.eng.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.ModifyQuerySet(ctx, 0, 1, []reactive.QueryAdd{{QueryID: 1, UDFPath: "test:odd", Args: json.RawMessage(`{"id":"x"}`)}}, nil))
	mods := s.Take().Transition.GetModifications()
	require.Len(t, mods, 1)
	require.Equal(t, reactive.QueryFailed, mods[0].Type)
	require.Equal(t, "Internal server error", mods[0].Err.Message, "internals do not leak")
	after := e.eng.Stats()
	require.Equal(t, before.Instances, after.Instances)
	require.Equal(t, before.Runs, after.Runs)
}

type noArgs struct{}

// A mutation run again after its connection died was admitted once: the
// rerun spends no second rate-limit token. Here admission itself kills the
// connection the call holds, on its first run only.
func TestMutationRerunIsAdmittedOnce(t *testing.T) {
	var admits atomic.Int32
	var victims *pgxpool.Pool
	e := startEngineWith(t, func(r *functions.Registry) {
		functions.Mutation(r, "test:admitted", func(c *functions.MutationCtx, _ noArgs) (int32, error) {
			return admits.Load(), nil
		}, functions.Admit(func(*functions.Identity) error {
			if admits.Add(1) == 1 {
				_, err := victims.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
					WHERE application_name = 'parley_victim' AND datname = current_database()`)
				return err
			}
			return nil
		}))
	}, func(cfg *reactive.Config, url string) {
		pcfg, err := pgxpool.ParseConfig(url)
		require.NoError(t, err)
		pcfg.ConnConfig.RuntimeParams["application_name"] = "parley_victim"
		pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		victims, err = pgxpool.New(context.Background(), url)
		require.NoError(t, err)
		t.Cleanup(victims.Close)
		cfg.Pool, cfg.DBGrace = pool, 10*time.Second
	})
	res, err := e.eng.Mutate(context.Background(), "test:admitted", json.RawMessage(`{}`), john, functions.RequestKey{})
	require.NoError(t, err)
	require.JSONEq(t, "1", string(res.Value), "the rerun ran without a second admission")
	require.EqualValues(t, 1, admits.Load())
}

// A query whose run loses the database keeps its last result: the
// subscriber is not shown an "unavailable" error in its place, and the
// query runs again once the database answers.
func TestQueryThatLosesTheDatabaseKeepsItsResult(t *testing.T) {
	var runs atomic.Int32
	e := startEngine(t, func(r *functions.Registry) {
		functions.Query(r, "test:fragile", func(c *functions.QueryCtx, _ noArgs) (int32, error) {
			n := runs.Add(1)
			c.RefreshAt(c.Now().Add(50 * time.Millisecond)) // run again and again
			if n == 2 {
				// The connection dies under the run: admin_shutdown.
				_, err := c.DB.Querier().Exec(c.Ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
				if err == nil {
					err = errors.New("the backend survived its termination")
				}
				return 0, err
			}
			return n, nil
		}, functions.Public())
	})
	s := e.session(t, john, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.ModifyQuerySet(ctx, 0, 1, []reactive.QueryAdd{{QueryID: 1, UDFPath: "test:fragile", Args: json.RawMessage(`{}`)}}, nil))
	var values []string
	pgtest.Eventually(t, 10*time.Second, func() error {
		for _, m := range s.Take().Transition.GetModifications() {
			require.NotEqual(t, reactive.QueryFailed, m.Type, "a lost database is not a failed query: %+v", m.Err)
			values = append(values, string(m.Value))
		}
		if runs.Load() < 4 || len(values) < 2 {
			return fmt.Errorf("%d runs, values %v", runs.Load(), values)
		}
		return nil
	})
	require.Equal(t, "1", values[0])
	require.NotContains(t, values, "2", "the run that lost the database published nothing")
}

// TestInvalidateRerunsQueriesOfMemoryState: a query that reads state kept
// in memory records a key; Invalidate with that key re-runs it, and an
// InMemory mutation that changes the state writes no row (no mutation log
// record, ts 0) and learns its connection, whose end is reported.
func TestInvalidateRerunsQueriesOfMemoryState(t *testing.T) {
	var value atomic.Int64
	closed := make(chan uint64, 4)
	var conn atomic.Uint64
	key := schema.Dep{Table: "@test", Column: "k", Value: "v"}
	var e *engineEnv
	e = startEngineWith(t, func(r *functions.Registry) {
		functions.Query(r, "test:memory", func(c *functions.QueryCtx, _ struct{}) (int64, error) {
			c.DB.Record(key)
			return value.Load(), nil
		}, functions.Public())
		functions.Mutation(r, "test:set", func(c *functions.MutationCtx, a struct {
			N int64 `json:"n"`
		}) (functions.Null, error) {
			require.Nil(t, c.DB, "an in-memory mutation has no transaction")
			conn.Store(c.Connection())
			value.Store(a.N)
			e.eng.Invalidate(key)
			return functions.Null{}, nil
		}, functions.InMemory())
	}, func(cfg *reactive.Config, _ string) {
		cfg.IdentityLeft = func(c uint64) { closed <- c }
	})
	s := e.eng.NewSession(reactive.SessionConfig{})
	s.Connect("test-memory", false)
	require.NoError(t, s.Authenticate(context.Background(), 0, john))
	s.Take()
	require.NoError(t, s.ModifyQuerySet(context.Background(), 0, 1, []reactive.QueryAdd{{QueryID: 1, UDFPath: "test:memory", Args: json.RawMessage(`{}`)}}, nil))
	out := s.Take()
	require.Len(t, out.Transition.Modifications, 1)
	require.JSONEq(t, "0", string(out.Transition.Modifications[0].Value))

	s.Mutation(context.Background(), 1, "test:set", json.RawMessage(`{"n": 7}`))
	var seen bool
	pgtest.Eventually(t, 5*time.Second, func() error {
		out := s.Take()
		for _, m := range out.Messages {
			if r, ok := m.(*reactive.MutationResponse); ok {
				require.True(t, r.Success, "%v", r.Err)
				require.Equal(t, reactive.LSN(0), r.TS, "nothing committed")
			}
		}
		if out.Transition != nil {
			for _, m := range out.Transition.Modifications {
				require.JSONEq(t, "7", string(m.Value))
				seen = true
			}
		}
		if !seen {
			return errors.New("no re-run yet")
		}
		return nil
	})
	var logged int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM mutation_log WHERE udf_path = 'test:set'`).Scan(&logged))
	require.Zero(t, logged, "an in-memory mutation leaves no log record")
	require.NotZero(t, conn.Load())
	s.Close()
	require.Equal(t, conn.Load(), <-closed, "the session's end is reported with its connection")
}
