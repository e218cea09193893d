package reactive_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
)

// The oracle test. A random workload of mutations (over the sync protocol)
// and direct SQL writes (from the test's own connections, the way a shop
// backend or a SQL console writes) runs while a few hundred subscriptions
// are open. At every checkpoint each subscription's last pushed value must
// equal a fresh evaluation of the same query, under the same identity,
// through the HTTP API; a query whose answer changed since the previous
// checkpoint must have been pushed; no client may see a broken version
// chain; and no client whose ts covers the checkpoint's writes may still
// hold a stale value.
//
// The seed fixes every choice the test makes (logged; override with
// PARLEY_ORACLE_SEED). Ids the server generates are random, so a rerun
// follows the same plan over different ids.

const (
	oracleSeedEnv  = "PARLEY_ORACLE_SEED"
	oracleSteps    = 30
	oracleBurst    = 2 * time.Second
	getMessagesFn  = "shared/chat:getMessages"
	unreadCountFn  = "shared/chat:getUnreadCount"
	sendMessageFn  = "shared/chat:sendMessage"
	markReadFn     = "shared/chat:markMessagesAsRead"
	conversationFn = "shared/chat:createOrGetConversation"
)

type oracleActor struct {
	name  string
	id    functions.Identity
	token string
}

type oracleClient struct {
	actor *oracleActor
	c     *syncclient.Client
}

type oracleSub struct {
	client *oracleClient
	sub    *syncclient.Subscription
	path   string
	args   string
	key    string // actor, function and args: subscriptions with one key have one answer

	// Owned by the test goroutine, between checkpoints.
	lastFresh   string
	lastUpdates int
}

type oracleConv struct {
	id, typ, customer, store string
}

type oracleOrder struct{ id, store string }

type oracle struct {
	t *testing.T
	s *parleytest.Server
	// nodes are the servers clients connect to, in turn: s alone, or
	// the nodes of a cluster (s is the first).
	nodes  []*parleytest.Server
	dialed int
	seed   uint64
	cursor string // a cursor in the middle of the seeded history
	future []string

	actors  []*oracleActor
	clients []*oracleClient // authenticated ones
	anon    *oracleClient

	mu     sync.Mutex // guards the fields below
	subs   []*oracleSub
	convs  []oracleConv
	orders map[string][]oracleOrder // by customer
	ops    map[string]int           // workload done, by kind
}

var (
	oracleCustA     = functions.Identity{Subject: "custoraclea", Role: functions.RoleCustomer, Name: "Ada Oracle"}
	oracleCustB     = functions.Identity{Subject: "custoracleb", Role: functions.RoleCustomer, Name: "Bob Oracle"}
	oracleAdmin2    = functions.Identity{Subject: schema.DemoAdmin2ID, Role: functions.RoleAdmin, Name: "Alex Admin"}
	oracleGhosts    = []string{"ghost1", "ghost2", "ghost3"} // senders that may or may not be users
	oracleCustomers = []string{schema.DemoCustomerID, schema.DemoOtherCustomerID, "custoraclea", "custoracleb"}
	oracleRenamable = []string{schema.DemoCustomerID, schema.DemoOtherCustomerID, "custoraclea", "custoracleb",
		schema.DemoStaffID, schema.DemoClosedStaffID, schema.DemoAdminID, schema.DemoAdmin2ID}
	oracleStores = []string{schema.DemoStoreID, schema.DemoClosedStoreID}
)

func TestOracle(t *testing.T) {
	rng, seed := oracleRand(t)
	start := time.Now()
	runOracle(t, rng, seed, start, []*parleytest.Server{parleytest.Start(t)})
}

// oracleRand is the workload's random source, from oracleSeedEnv or the
// clock.
func oracleRand(t *testing.T) (*rand.Rand, uint64) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(oracleSeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, oracleSeedEnv)
		seed = n
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, oracleSeedEnv, seed)
	return rand.New(rand.NewPCG(seed, 0x0dac1e)), seed
}

// runOracle is TestOracle on nodes: each client connects to the next.
func runOracle(t *testing.T, rng *rand.Rand, seed uint64, start time.Time, nodes []*parleytest.Server) {
	s := nodes[0]
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	o := &oracle{t: t, s: s, nodes: nodes, seed: seed, orders: map[string][]oracleOrder{}, ops: map[string]int{}}
	o.setup(ctx, rng)
	o.subscribeAll(ctx, rng)
	var h server.Health // summed over the nodes
	for _, n := range nodes {
		nh, err := n.Health()
		require.NoError(t, err)
		h.Sessions, h.Subscriptions, h.Instances = h.Sessions+nh.Sessions, h.Subscriptions+nh.Subscriptions, h.Instances+nh.Instances
	}
	require.GreaterOrEqual(t, h.Subscriptions, 200, "open subscriptions")
	t.Logf("setup done in %v: %d clients, %d subscriptions, %d query instances, %d conversations",
		time.Since(start).Round(time.Millisecond), h.Sessions, h.Subscriptions, h.Instances, len(o.convs))
	o.checkpoint(ctx, "initial")

	// (a) Sequential: a few random writes, then check.
	for step := range oracleSteps {
		o.refresh(ctx)
		o.churn(ctx, rng)
		for range 1 + rng.IntN(4) {
			o.write(ctx, rng)
		}
		o.checkpoint(ctx, fmt.Sprintf("step %d", step))
	}

	// (b) A concurrent burst of writers, mutators and query set changes.
	o.refresh(ctx)
	o.burst(ctx, oracleBurst)
	o.checkpoint(ctx, "after burst")

	unchanged := 0
	for _, sub := range o.liveSubs() {
		unchanged += sub.sub.Stats().Unchanged
	}
	require.Zero(t, unchanged, "results pushed again although unchanged")
	// The pushed and the fresh results both read the unread counters the
	// triggers keep; the counters themselves must equal a count.
	var drifted []string
	rows, err := s.DB.Query(ctx, `SELECT c.id FROM conversations c WHERE
		c.unread_customer <> (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND NOT m.is_read AND NOT m.is_deleted AND m.sender_type <> 'customer')
		OR c.unread_recipient <> (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND NOT m.is_read AND NOT m.is_deleted AND m.sender_type = 'customer')`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		drifted = append(drifted, id)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, drifted, "conversations whose unread counters differ from a count of their messages")
	h, err = s.Health()
	require.NoError(t, err)
	t.Logf("done in %v: workload %v; %d subscriptions, %d instances",
		time.Since(start).Round(time.Millisecond), o.ops, h.Subscriptions, h.Instances)
}

// dial connects a client of id to the next of the nodes.
func (o *oracle) dial(id functions.Identity) *syncclient.Client {
	n := o.nodes[o.dialed%len(o.nodes)]
	o.dialed++
	return n.Dial(o.t, id, syncclient.Options{})
}

// ---- setup ----

func (o *oracle) setup(ctx context.Context, rng *rand.Rand) {
	t, db := o.t, o.s.DB
	_, err := db.Exec(ctx, `
		INSERT INTO users (id, name, role) VALUES ('custoraclea', 'Ada Oracle', 'customer'), ('custoracleb', 'Bob Oracle', 'customer');
		INSERT INTO orders (id, customer_id, store_id, total_amount, status) VALUES
			('orderoraclea', 'custoraclea', 'store123456789', 9.50, 'paid'),
			('orderoracleb', 'custoracleb', 'store555555555', 7.25, 'delivered');
		INSERT INTO conversations (id, conversation_type, customer_id, store_id) VALUES
			('convjaneburger', 'customer_to_store', 'cust555555555', 'store555555555')`)
	require.NoError(t, err)

	specs := []struct {
		id functions.Identity
		n  int
	}{
		{parleytest.John, 5}, {parleytest.Jane, 4}, {oracleCustA, 2}, {oracleCustB, 2},
		{parleytest.PizzaStaff, 4}, {parleytest.BurgerStaff, 3}, {parleytest.Admin, 3}, {oracleAdmin2, 2},
	}
	for _, sp := range specs {
		a := &oracleActor{name: sp.id.Subject, id: sp.id, token: o.s.Token(t, sp.id)}
		o.actors = append(o.actors, a)
		for range sp.n {
			o.clients = append(o.clients, &oracleClient{actor: a, c: o.dial(sp.id)})
		}
	}
	anon := &oracleActor{name: "anonymous"}
	o.anon = &oracleClient{actor: anon, c: o.dial(parleytest.Anonymous)}

	// Conversations through the API, as oracleCustomers open them.
	byActor := func(subject string) *oracleClient {
		for _, c := range o.clients {
			if c.actor.id.Subject == subject {
				return c
			}
		}
		panic(subject)
	}
	for _, open := range []struct {
		who  string
		args map[string]any
	}{
		{schema.DemoCustomerID, map[string]any{"orderId": schema.DemoOrderID, "storeId": schema.DemoStoreID}},
		{schema.DemoCustomerID, map[string]any{"orderId": schema.DemoOrder2ID, "storeId": schema.DemoStoreID}},
		{schema.DemoCustomerID, map[string]any{"orderId": schema.DemoClosedOrderID, "storeId": schema.DemoClosedStoreID}},
		{schema.DemoCustomerID, map[string]any{}},
		{schema.DemoOtherCustomerID, map[string]any{}},
		{"custoraclea", map[string]any{"orderId": "orderoraclea", "storeId": schema.DemoStoreID}},
		{"custoraclea", map[string]any{}},
		{"custoracleb", map[string]any{"orderId": "orderoracleb", "storeId": schema.DemoClosedStoreID}},
	} {
		openConversation(t, ctx, byActor(open.who).c, open.args)
	}
	o.refresh(ctx)

	// History: messages in the past, on both sides of the cursor.
	now := time.Now()
	mid := now.Add(-30 * time.Minute)
	o.cursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(mid.UnixMicro(), 10) + ".zzzzzzzz"))
	for _, cv := range o.convs {
		for range rng.IntN(6) {
			sender, senderType := o.sender(rng, cv)
			at := now.Add(-time.Duration(1+rng.IntN(60)) * time.Minute)
			_, err := db.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, created_at, is_read)
				VALUES ($1, $2, $3, $4, 'text', $5, $6, $7)`,
				o.newID(rng, "msgseed"), cv.id, sender, senderType, o.content(rng), at, rng.IntN(3) == 0)
			require.NoError(t, err)
		}
	}
	for i := range 4 {
		o.future = append(o.future, fmt.Sprintf("convfuture%d", i))
	}
}

// newID derives an id from the seeded generator.
func (o *oracle) newID(rng *rand.Rand, prefix string) string {
	return fmt.Sprintf("%s%016x", prefix, rng.Uint64())
}

func (o *oracle) content(rng *rand.Rand) string {
	if rng.IntN(12) == 0 {
		// Long and incompressible: stored out of line (TOAST), so updates
		// of other columns carry it as an unchanged TOAST value.
		const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		b := make([]byte, 3000+rng.IntN(900))
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	words := []string{"hello", "pizza", "order", "late", "thanks", "refund", "cold", "driver", "where", "ok"}
	n := 1 + rng.IntN(6)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = words[rng.IntN(len(words))]
	}
	return strings.Join(parts, " ")
}

// sender picks who writes a message into cv, directly in SQL.
func (o *oracle) sender(rng *rand.Rand, cv oracleConv) (id, senderType string) {
	switch rng.IntN(6) {
	case 0, 1:
		return cv.customer, "customer"
	case 2:
		if cv.store == schema.DemoClosedStoreID {
			return schema.DemoClosedStaffID, "store"
		}
		return schema.DemoStaffID, "store"
	case 3:
		return schema.DemoAdminID, "admin"
	case 4:
		return "system", "system"
	default:
		return oracleGhosts[rng.IntN(len(oracleGhosts))], "store"
	}
}

// refresh reloads the conversations and orders the workload picks from.
func (o *oracle) refresh(ctx context.Context) {
	rows, err := o.s.DB.Query(ctx, `SELECT id, conversation_type, customer_id, coalesce(store_id, '') FROM conversations ORDER BY id`)
	require.NoError(o.t, err)
	convs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (oracleConv, error) {
		var c oracleConv
		return c, r.Scan(&c.id, &c.typ, &c.customer, &c.store)
	})
	require.NoError(o.t, err)
	rows, err = o.s.DB.Query(ctx, `SELECT customer_id, id, store_id FROM orders ORDER BY id`)
	require.NoError(o.t, err)
	orders := map[string][]oracleOrder{}
	var cust, id, store string
	_, err = pgx.ForEachRow(rows, []any{&cust, &id, &store}, func() error {
		orders[cust] = append(orders[cust], oracleOrder{id, store})
		return nil
	})
	require.NoError(o.t, err)
	o.mu.Lock()
	o.convs, o.orders = convs, orders
	o.mu.Unlock()
}

func oracleCanSee(id functions.Identity, cv oracleConv) bool {
	switch id.Role {
	case functions.RoleCustomer:
		return cv.customer == id.Subject
	case functions.RoleStore:
		return cv.typ == "customer_to_store" && cv.store == id.StoreID
	case functions.RoleAdmin:
		return true
	}
	return false
}

// pickConv picks a conversation, mostly one id may see.
func (o *oracle) pickConv(rng *rand.Rand, id functions.Identity) oracleConv {
	o.mu.Lock()
	defer o.mu.Unlock()
	if rng.IntN(5) > 0 {
		var mine []oracleConv
		for _, cv := range o.convs {
			if oracleCanSee(id, cv) {
				mine = append(mine, cv)
			}
		}
		if len(mine) > 0 {
			return mine[rng.IntN(len(mine))]
		}
	}
	return o.convs[rng.IntN(len(o.convs))]
}

// ---- subscriptions ----

func (o *oracle) randomArgs(rng *rand.Rand, a *oracleActor) (path, args string) {
	if rng.IntN(9) == 0 {
		return unreadCountFn, `{}`
	}
	m := map[string]any{}
	switch r := rng.IntN(20); {
	case r < 2:
		m["conversationId"] = o.future[rng.IntN(len(o.future))] // appears later, inserted by SQL
	case r < 3:
		m["conversationId"] = "convnonexistent"
	default:
		m["conversationId"] = o.pickConv(rng, a.id).id
	}
	limits := []int{0, 1, 2, 3, 5, 10, 100}
	if l := limits[rng.IntN(len(limits))]; l > 0 {
		m["limit"] = l
	}
	switch rng.IntN(10) {
	case 0:
		m["cursor"] = o.cursor
	case 1:
		future := time.Now().Add(time.Hour)
		m["cursor"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(future.UnixMicro(), 10) + ".a"))
	}
	b, _ := json.Marshal(m)
	return getMessagesFn, string(b)
}

func (o *oracle) addSub(c *oracleClient, path, args string) error {
	sub, err := c.c.Subscribe(path, json.RawMessage(args))
	if err != nil {
		return err
	}
	added := &oracleSub{client: c, sub: sub, path: path, args: args, key: c.actor.name + "\x00" + path + "\x00" + args}
	o.mu.Lock()
	o.subs = append(o.subs, added)
	o.mu.Unlock()
	return nil
}

func (o *oracle) subscribeAll(ctx context.Context, rng *rand.Rand) {
	for _, c := range o.clients {
		require.NoError(o.t, o.addSub(c, unreadCountFn, `{}`))
		for range 8 {
			path, args := o.randomArgs(rng, c.actor)
			require.NoError(o.t, o.addSub(c, path, args))
		}
	}
	require.NoError(o.t, o.addSub(o.anon, unreadCountFn, `{}`))
	require.NoError(o.t, o.addSub(o.anon, getMessagesFn, fmt.Sprintf(`{"conversationId":%q}`, o.convs[0].id)))
	for _, sub := range o.liveSubs() {
		_, err := sub.sub.Wait(ctx)
		require.NoError(o.t, err)
	}
}

func (o *oracle) liveSubs() []*oracleSub {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.subs)
}

// churn removes a few subscriptions and adds a few.
func (o *oracle) churn(_ context.Context, rng *rand.Rand) {
	for range rng.IntN(3) {
		o.mu.Lock()
		i := rng.IntN(len(o.subs))
		victim := o.subs[i]
		o.subs = slices.Delete(o.subs, i, i+1)
		o.mu.Unlock()
		require.NoError(o.t, victim.sub.Unsubscribe())
		o.count("unsubscribe")
	}
	for range rng.IntN(4) {
		c := o.clients[rng.IntN(len(o.clients))]
		path, args := o.randomArgs(rng, c.actor)
		require.NoError(o.t, o.addSub(c, path, args))
		o.count("subscribe")
	}
}

func (o *oracle) count(op string) {
	o.mu.Lock()
	o.ops[op]++
	o.mu.Unlock()
}

// ---- the workload ----

// write runs one random write: a mutation through a client, or a direct
// SQL transaction of one to three changes.
func (o *oracle) write(ctx context.Context, rng *rand.Rand) {
	var err error
	if rng.IntN(100) < 45 {
		err = o.mutate(ctx, rng, true)
	} else {
		err = o.sqlWrite(ctx, rng)
	}
	require.NoError(o.t, err)
}

// mutate runs a random mutation through a random client. With ryw (no
// concurrent query set changes), a message the client sent must already be
// in its subscriptions to the conversation's newest page when the mutation
// resolves.
func (o *oracle) mutate(ctx context.Context, rng *rand.Rand, ryw bool) error {
	c := o.clients[rng.IntN(len(o.clients))]
	a := c.actor
	var (
		path string
		args map[string]any
	)
	switch r := rng.IntN(10); {
	case r < 8 || a.id.Role != functions.RoleCustomer:
		cv := o.pickConv(rng, a.id)
		if r < 5 {
			path, args = sendMessageFn, map[string]any{"conversationId": cv.id, "content": o.content(rng), "messageType": "text"}
			break
		}
		path, args = markReadFn, map[string]any{"conversationId": cv.id}
		if rng.IntN(2) == 0 {
			ids, err := o.messageIDs(ctx, cv.id)
			if err != nil {
				return err
			}
			pick := []string{"msgbogus"}
			for _, id := range ids {
				if rng.IntN(3) == 0 {
					pick = append(pick, id)
				}
			}
			args["messageIds"] = pick
		}
	default:
		path, args = conversationFn, map[string]any{}
		o.mu.Lock()
		orders := o.orders[a.id.Subject]
		o.mu.Unlock()
		switch r := rng.IntN(10); {
		case r < 6 && len(orders) > 0:
			ord := orders[rng.IntN(len(orders))]
			args["orderId"], args["storeId"] = ord.id, ord.store
		case r < 7 && len(orders) > 0:
			args["orderId"] = orders[rng.IntN(len(orders))].id
		case r < 8:
			args["storeId"] = oracleStores[rng.IntN(len(oracleStores))]
		}
	}
	mctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := c.c.Mutation(mctx, path, args)
	var fe *syncclient.FunctionError
	switch {
	case err == nil:
		o.count(path)
		if ryw && path == sendMessageFn {
			return o.checkOwnWrite(c, args["conversationId"].(string), v)
		}
		return nil
	case errors.As(err, &fe) && fe.Code() != functions.CodeInternal:
		o.count(path + " (" + fe.Code() + ")")
		return nil
	}
	return fmt.Errorf("%s as %s with %v: %w", path, a.name, args, err)
}

// checkOwnWrite checks that c's subscriptions to the newest page of conv
// show the message it just sent.
func (o *oracle) checkOwnWrite(c *oracleClient, conv string, result json.RawMessage) error {
	var id string
	if err := json.Unmarshal(result, &id); err != nil {
		return err
	}
	for _, s := range o.liveSubs() {
		if s.client != c || s.path != getMessagesFn {
			continue
		}
		var a struct {
			ConversationID string  `json:"conversationId"`
			Cursor         *string `json:"cursor"`
		}
		if err := json.Unmarshal([]byte(s.args), &a); err != nil {
			return err
		}
		if a.ConversationID != conv || (a.Cursor != nil && *a.Cursor == o.cursor) {
			continue
		}
		u, ok := s.sub.Current()
		if !ok || u.Failed {
			return fmt.Errorf("read-your-writes: query %d (%s) has no page after sending %s", s.sub.ID(), s.args, id)
		}
		var page struct {
			Messages []struct {
				ID string `json:"_id"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(u.Value, &page); err != nil {
			return err
		}
		if len(page.Messages) == 0 || page.Messages[0].ID != id {
			return fmt.Errorf("read-your-writes: sendMessage %s resolved, but query %d (%s) of the sender does not show it first", id, s.sub.ID(), s.args)
		}
		o.count("read-your-writes checked")
	}
	return nil
}

func (o *oracle) messageIDs(ctx context.Context, conv string) ([]string, error) {
	rows, err := o.s.DB.Query(ctx, `SELECT id FROM messages WHERE conversation_id = $1 ORDER BY id`, conv)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

type oracleSQLOp struct {
	name   string
	weight int
	run    func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error
}

// errOracleSkip means an op found nothing to change.
var errOracleSkip = errors.New("nothing to change")

func (o *oracle) sqlOps() []oracleSQLOp {
	return []oracleSQLOp{
		{"insert message", 6, o.opInsertMessage},
		{"toggle is_read", 4, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			return o.onMessage(ctx, tx, rng, `UPDATE messages SET is_read = NOT is_read,
				read_at = CASE WHEN is_read THEN NULL ELSE clock_timestamp() END WHERE id = $1`)
		}},
		{"toggle soft delete", 3, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			return o.onMessage(ctx, tx, rng, `UPDATE messages SET is_deleted = NOT is_deleted, deleted_by = 'oracle',
				deleted_at = CASE WHEN is_deleted THEN NULL ELSE clock_timestamp() END WHERE id = $1`)
		}},
		{"delete message", 2, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			return o.onMessage(ctx, tx, rng, `DELETE FROM messages WHERE id = $1`)
		}},
		{"edit message", 1, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			return o.onMessage(ctx, tx, rng, `UPDATE messages SET content = $2 WHERE id = $1`, o.content(rng))
		}},
		{"move message", 1, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			return o.onMessage(ctx, tx, rng, `UPDATE messages SET conversation_id = $2 WHERE id = $1`,
				o.pickConv(rng, parleytest.Admin).id)
		}},
		{"conversation status", 3, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			status := []string{"active", "archived", "closed", "active"}[rng.IntN(4)]
			_, err := tx.Exec(ctx, `UPDATE conversations SET status = $2 WHERE id = $1`, o.pickConv(rng, parleytest.Admin).id, status)
			return err
		}},
		{"block conversation", 1, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			_, err := tx.Exec(ctx, `UPDATE conversations SET is_blocked = NOT is_blocked WHERE id = $1`, o.pickConv(rng, parleytest.Admin).id)
			return err
		}},
		{"reassign conversation", 1, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			cv := o.pickConv(rng, parleytest.Admin)
			if cv.typ == "customer_to_store" && rng.IntN(2) == 0 {
				_, err := tx.Exec(ctx, `UPDATE conversations SET store_id = $2 WHERE id = $1`, cv.id, oracleStores[rng.IntN(len(oracleStores))])
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE conversations SET customer_id = $2 WHERE id = $1`, cv.id, oracleCustomers[rng.IntN(len(oracleCustomers))])
			return err
		}},
		{"rename user", 2, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			_, err := tx.Exec(ctx, `UPDATE users SET name = $2 WHERE id = $1`,
				oracleRenamable[rng.IntN(len(oracleRenamable))], fmt.Sprintf("Name %d", rng.IntN(1000)))
			return err
		}},
		{"ghost user", 1, func(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
			g := oracleGhosts[rng.IntN(len(oracleGhosts))]
			tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, g)
			if err == nil && tag.RowsAffected() == 0 {
				_, err = tx.Exec(ctx, `INSERT INTO users (id, name, role) VALUES ($1, $2, 'store')`, g, "Ghost "+g)
			}
			return err
		}},
		{"new conversation", 2, o.opNewConversation},
	}
}

func (o *oracle) opInsertMessage(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
	cv := o.pickConv(rng, parleytest.Admin)
	sender, senderType := o.sender(rng, cv)
	var at *time.Time
	if rng.IntN(5) == 0 {
		past := time.Now().Add(-time.Duration(rng.IntN(90)) * time.Minute)
		at = &past
	}
	_, err := tx.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, created_at)
		VALUES ($1, $2, $3, $4, 'text', $5, coalesce($6, clock_timestamp()))`,
		o.newID(rng, "msgsql"), cv.id, sender, senderType, o.content(rng), at)
	return err
}

func (o *oracle) opNewConversation(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
	customer := oracleCustomers[rng.IntN(len(oracleCustomers))]
	store := oracleStores[rng.IntN(len(oracleStores))]
	order := o.newID(rng, "orderoracle")
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, customer_id, store_id, total_amount, status) VALUES ($1, $2, $3, 5, 'paid')`,
		order, customer, store); err != nil {
		return err
	}
	id := o.newID(rng, "convoracle")
	if rng.IntN(2) == 0 {
		// One that subscriptions have been waiting for (not found so far).
		id = o.future[rng.IntN(len(o.future))]
	}
	_, err := tx.Exec(ctx, `INSERT INTO conversations (id, conversation_type, customer_id, store_id, order_id)
		VALUES ($1, 'customer_to_store', $2, $3, $4) ON CONFLICT (id) DO NOTHING`, id, customer, store, order)
	return err
}

// onMessage runs sql with a random message id as $1.
func (o *oracle) onMessage(ctx context.Context, tx pgx.Tx, rng *rand.Rand, sql string, args ...any) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return errOracleSkip
	}
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM messages ORDER BY id OFFSET $1 LIMIT 1`, rng.IntN(n)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return errOracleSkip
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, sql, append([]any{id}, args...)...)
	return err
}

func (o *oracle) sqlWrite(ctx context.Context, rng *rand.Rand) error {
	ops := o.sqlOps()
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	var names []string
	err := pgx.BeginFunc(ctx, o.s.DB, func(tx pgx.Tx) error {
		for range 1 + rng.IntN(3) {
			r := rng.IntN(total)
			op := ops[0]
			for _, op = range ops {
				if r -= op.weight; r < 0 {
					break
				}
			}
			names = append(names, op.name)
			if err := op.run(ctx, tx, rng); err != nil {
				return err
			}
		}
		return nil
	})
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		for _, n := range names {
			o.count("sql " + n)
		}
		return nil
	case errors.Is(err, errOracleSkip):
		o.count("sql skipped")
		return nil
	case errors.As(err, &pgErr) && slices.Contains([]string{"40001", "40P01", "23505"}, pgErr.Code):
		// A conflict with a concurrent writer or a duplicate subject: the
		// transaction rolled back, which is a legitimate outcome too.
		o.count("sql rolled back (" + pgErr.Code + ")")
		return nil
	}
	return fmt.Errorf("sql %v: %w", names, err)
}

// burst runs writers, mutators and a query set churner concurrently for d.
func (o *oracle) burst(ctx context.Context, d time.Duration) {
	g, gctx := errgroup.WithContext(ctx)
	deadline := time.Now().Add(d)
	worker := func(i uint64, f func(rng *rand.Rand) error) {
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(o.seed, 0xb0057+i))
			for time.Now().Before(deadline) && gctx.Err() == nil {
				if err := f(rng); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for i := range uint64(3) {
		worker(i, func(rng *rand.Rand) error { return o.sqlWrite(gctx, rng) })
	}
	for i := range uint64(3) {
		worker(10+i, func(rng *rand.Rand) error { return o.mutate(gctx, rng, false) })
	}
	worker(20, func(rng *rand.Rand) error {
		c := o.clients[rng.IntN(len(o.clients))]
		path, args := o.randomArgs(rng, c.actor)
		if err := o.addSub(c, path, args); err != nil {
			return err
		}
		o.mu.Lock()
		i := rng.IntN(len(o.subs))
		victim := o.subs[i]
		o.subs = slices.Delete(o.subs, i, i+1)
		o.mu.Unlock()
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		o.count("burst churn")
		return victim.sub.Unsubscribe()
	})
	require.NoError(o.t, g.Wait())
}

// ---- checking ----

// canonicalJSON re-encodes JSON with sorted keys, so equal values compare
// equal as strings.
func canonicalJSON(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "<invalid JSON " + string(raw) + ">"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func answerOfUpdate(u syncclient.Update) string {
	if u.Failed {
		b, _ := json.Marshal(map[string]any{"failed": u.ErrorData, "message": u.ErrorMessage})
		return canonicalJSON(b)
	}
	return canonicalJSON(u.Value)
}

func answerOfCall(r callResult) string {
	if r.Failed {
		b, _ := json.Marshal(map[string]any{"failed": r.ErrorData, "message": r.ErrorMessage})
		return canonicalJSON(b)
	}
	return canonicalJSON(r.Value)
}

// evaluate runs every distinct subscribed query once through the HTTP API.
func (o *oracle) evaluate(ctx context.Context, subs []*oracleSub) map[string]string {
	byKey := map[string]*oracleSub{}
	for _, s := range subs {
		byKey[s.key] = s
	}
	var mu sync.Mutex
	fresh := make(map[string]string, len(byKey))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		s := byKey[key]
		g.Go(func() error {
			r, err := call(gctx, o.s, "query", s.client.actor.token, s.path, json.RawMessage(s.args))
			if err != nil {
				return err
			}
			if r.Failed && r.ErrorData["code"] == functions.CodeInternal {
				return fmt.Errorf("%s %s as %s: internal error", s.path, s.args, s.client.actor.name)
			}
			mu.Lock()
			fresh[key] = answerOfCall(r)
			mu.Unlock()
			return nil
		})
	}
	require.NoError(o.t, g.Wait())
	return fresh
}

func (o *oracle) checkpoint(ctx context.Context, name string) {
	t := o.t
	t.Helper()
	start := time.Now()
	subs := o.liveSubs()
	var lsnText string
	require.NoError(t, o.s.DB.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsnText))
	lsn, err := functions.ParseLSN(lsnText)
	require.NoError(t, err)
	fresh := o.evaluate(ctx, subs)

	pgtest.Eventually(t, 30*time.Second, func() error {
		var wrong []string
		for _, s := range subs {
			got := "<no result>"
			if u, ok := s.sub.Current(); ok {
				got = answerOfUpdate(u)
			}
			if got != fresh[s.key] {
				wrong = append(wrong, fmt.Sprintf("query %d of %s: %s %s:\n  pushed %.400s\n  fresh  %.400s",
					s.sub.ID(), s.client.actor.name, s.path, s.args, got, fresh[s.key]))
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%s: %d of %d subscriptions differ from a fresh evaluation; first: %s",
				name, len(wrong), len(subs), wrong[0])
		}
		return nil
	})
	// Results are as of the client's ts. Nothing was written after lsn, so
	// a result that only became fresh in a transition starting at or after
	// lsn was stale while the client already stood at a ts covering every
	// write.
	var stale []string
	for _, s := range subs {
		u, _ := s.sub.Current()
		if st := s.sub.Stats(); st.Updates > 1 && u.FromTS >= lsn {
			stale = append(stale, fmt.Sprintf("query %d of %s (%s %s): fresh only in the transition from ts %X, at or after the writes' end %s",
				s.sub.ID(), s.client.actor.name, s.path, s.args, u.FromTS, lsnText))
		}
	}
	require.Empty(t, stale, "%s: results older than the client's ts", name)

	for _, c := range append(slices.Clone(o.clients), o.anon) {
		require.Empty(t, c.c.ProtocolErrors(), "%s: protocol violations seen by a client of %s", name, c.actor.name)
	}
	// Every change of an answer since the last checkpoint was pushed.
	for _, s := range subs {
		n := s.sub.Stats().Updates
		if s.lastFresh != "" && s.lastFresh != fresh[s.key] && n == s.lastUpdates {
			t.Fatalf("%s: the answer of query %d of %s (%s %s) changed but nothing was pushed",
				name, s.sub.ID(), s.client.actor.name, s.path, s.args)
		}
		s.lastFresh, s.lastUpdates = fresh[s.key], n
	}
	if testing.Verbose() {
		t.Logf("checkpoint %s: %d subscriptions, %d distinct queries agree (%v)",
			name, len(subs), len(fresh), time.Since(start).Round(time.Millisecond))
	}
}
