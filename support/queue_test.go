package support_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
	"github.com/parley-chat/parley/support"
)

var maria = functions.Identity{Subject: "agent-maria", Role: functions.RoleAdmin, Name: "Maria"}

// customer is a new customer of the default org, one per test case.
func customer(n string) functions.Identity {
	return functions.Identity{Subject: "cust-" + n, Role: functions.RoleCustomer, Name: "Customer " + n}
}

func (e *env) chatQuery(id functions.Identity, name string, args any) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	return e.s.Server.Engine.Query(context.Background(), "shared/chat:"+name, raw, identity(id))
}

func (e *env) chatMutate(id functions.Identity, name string, args any) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	res, err := e.s.Server.Engine.Mutate(context.Background(), "shared/chat:"+name, raw, identity(id), functions.RequestKey{})
	return res.Value, err
}

// request queues a support request of id and returns it.
func (e *env) request(id functions.Identity, args map[string]any) support.SupportRequestRef {
	e.t.Helper()
	return must[support.SupportRequestRef](e.t)(e.mutate(id, "requestSupport", args))
}

func (e *env) status(id functions.Identity, convID string) support.QueueStatus {
	e.t.Helper()
	return must[support.QueueStatus](e.t)(e.query(id, "getMyQueueStatus", map[string]any{"conversationId": convID}))
}

func (e *env) pick(id functions.Identity) support.PickResult {
	e.t.Helper()
	return must[support.PickResult](e.t)(e.mutate(id, "pickNext", map[string]any{}))
}

// online connects agent and beats once: online until the test ends.
func (e *env) online(agent functions.Identity) {
	e.t.Helper()
	_, err := beat(e.dial(agent, ""), map[string]any{})
	require.NoError(e.t, err)
}

func (e *env) profile(agent functions.Identity, args map[string]any) {
	e.t.Helper()
	_, err := e.mutate(agent, "updateAgentProfile", args)
	require.NoError(e.t, err)
}

// messages are a conversation's contents as id reads them.
func (e *env) messages(id functions.Identity, convID string) []string {
	e.t.Helper()
	page := must[chat.MessagePage](e.t)(e.chatQuery(id, "getMessages", map[string]any{"conversationId": convID}))
	out := make([]string, len(page.Messages))
	for i, m := range page.Messages {
		out[i] = m.Content
	}
	return out
}

func (e *env) events(convID string) []string {
	e.t.Helper()
	rows, err := e.s.DB.Query(context.Background(), `SELECT type FROM events WHERE conversation_id = $1 AND type LIKE 'support.%' ORDER BY seq`, convID)
	require.NoError(e.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(e.t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(e.t, rows.Err())
	return out
}

func TestRequestSupportAndQueueOrder(t *testing.T) {
	e := newEnv(t, 0)
	// Requests in this order: a normal, another, a high, a low one.
	a := e.request(customer("a"), map[string]any{"topic": " Where is my order? ", "skills": []string{"Shipping"}})
	b := e.request(customer("b"), map[string]any{})
	c := e.request(customer("c"), map[string]any{"priority": "high"})
	d := e.request(customer("d"), map[string]any{"priority": "low"})
	require.True(t, a.Created)
	require.Equal(t, support.StateQueued, a.State)
	_, err := e.chatMutate(customer("a"), "sendMessage", map[string]any{"conversationId": a.ConversationID,
		"content": "My parcel is late", "messageType": "text"})
	require.NoError(t, err)

	q := must[support.QueueView](t)(e.query(admin, "getQueue", map[string]any{}))
	require.Equal(t, 4, q.Waiting)
	var order []string
	for i, r := range q.Requests {
		order = append(order, r.ConversationID)
		require.Equal(t, i+1, r.Position)
	}
	require.Equal(t, []string{c.ConversationID, a.ConversationID, b.ConversationID, d.ConversationID}, order, "priority, then time")
	first := q.Requests[1]
	require.Equal(t, "cust-a", first.CustomerID)
	require.Equal(t, "Customer a", first.CustomerName)
	require.Equal(t, []string{"shipping"}, first.Skills)
	require.Equal(t, "Where is my order?", *first.Topic)
	require.Equal(t, "normal", first.Priority)
	require.Equal(t, a.EnqueuedAt, first.EnqueuedAt)
	require.Equal(t, "My parcel is late", *first.Preview, "what the customer wrote, not the desk's notice")
	require.Nil(t, q.Requests[0].Preview, "nothing written yet")

	for i, w := range []struct {
		who string
		ref support.SupportRequestRef
	}{{"c", c}, {"a", a}, {"b", b}, {"d", d}} {
		st := e.status(customer(w.who), w.ref.ConversationID)
		require.Equal(t, support.StateQueued, st.State)
		require.Equal(t, i+1, *st.Position)
	}

	// Asking again keeps the open request; the thread has its notice and
	// the event log its support.queued.
	again := e.request(customer("a"), map[string]any{"priority": "urgent"})
	require.False(t, again.Created)
	require.Equal(t, a.RequestID, again.RequestID)
	require.Contains(t, e.messages(customer("a"), a.ConversationID), "Waiting for an agent: Where is my order?")
	require.Equal(t, []string{support.EventQueued}, e.events(a.ConversationID))

	tests := []struct {
		name string
		args map[string]any
		msg  string
	}{
		{"priority", map[string]any{"priority": "max"}, "priority"},
		{"topic", map[string]any{"topic": strings.Repeat("x", support.MaxTopicChars+1)}, "topic"},
		{"skill", map[string]any{"skills": []string{"bill ing"}}, "skills[0]"},
		{"order", map[string]any{"orderId": "order-nope"}, "Order not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.mutate(customer("bad"), "requestSupport", tt.args)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.msg)
		})
	}
	_, err = e.mutate(customer("bad"), "requestSupport", map[string]any{"priority": "max"})
	require.Equal(t, http.StatusBadRequest, status(t, err))

	// About an order of theirs: the support conversation about it.
	o := e.request(john, map[string]any{"orderId": schema.DemoOrderID})
	conv := must[chat.ConversationDoc](t)(e.chatQuery(john, "getConversation", map[string]any{"conversationId": o.ConversationID}))
	require.Equal(t, chat.CustomerToAdmin, conv.ConversationType)
	require.Equal(t, schema.DemoOrderID, *conv.OrderID)
	q = must[support.QueueView](t)(e.query(admin, "getQueue", map[string]any{}))
	require.Equal(t, schema.DemoOrderID, *q.Requests[len(q.Requests)-2].OrderID, "before the low one")
	_, err = e.mutate(john, "requestSupport", map[string]any{"orderId": "order-someone-elses"})
	require.Equal(t, http.StatusNotFound, status(t, err))

	// The waiting notice counts as read: the customer has nothing unread.
	unread := must[int](t)(e.chatQuery(customer("b"), "getUnreadCount", map[string]any{}))
	require.Zero(t, unread)

	// A blocked conversation asks for nobody.
	_, err = e.chatMutate(admin, "blockConversation", map[string]any{"conversationId": b.ConversationID})
	require.NoError(t, err)
	_, err = e.mutate(customer("b"), "closeChat", map[string]any{"conversationId": b.ConversationID})
	require.Equal(t, http.StatusForbidden, status(t, err))
	_, err = e.mutate(admin, "closeChat", map[string]any{"conversationId": b.ConversationID})
	require.NoError(t, err)
	_, err = e.mutate(customer("b"), "requestSupport", map[string]any{})
	require.Equal(t, http.StatusForbidden, status(t, err))
	require.ErrorIs(t, err, chat.ErrConversationBlocked)
}

// TestETA: etaSeconds = ceil(position / availableAgents) * avgHandleTime,
// with the agents online, with free capacity and the skills, counted.
func TestETA(t *testing.T) {
	e := newEnv(t, 0, func(c *support.Config) { c.AvgHandleTime = 2 * time.Minute })
	var convs []string
	for i := range 3 {
		convs = append(convs, e.request(customer(fmt.Sprint(i)), map[string]any{}).ConversationID)
	}
	billing := e.request(customer("billing"), map[string]any{"skills": []string{"billing"}}).ConversationID
	third := func() support.QueueStatus { return e.status(customer("2"), convs[2]) }

	st := third()
	require.Equal(t, 3, *st.Position)
	require.Zero(t, st.AvailableAgents)
	require.Nil(t, st.EtaSeconds, "no agent available: no ETA")
	require.Equal(t, int64(120), st.AvgHandleTimeSeconds, "the configured default before any close")

	e.online(admin)
	st = third()
	require.Equal(t, 1, st.AvailableAgents)
	require.Equal(t, int64(3*120), *st.EtaSeconds, "ceil(3/1) * 120")

	e.online(maria)
	st = third()
	require.Equal(t, 2, st.AvailableAgents)
	require.Equal(t, int64(2*120), *st.EtaSeconds, "ceil(3/2) * 120")
	first := e.status(customer("0"), convs[0])
	require.Equal(t, int64(120), *first.EtaSeconds, "ceil(1/2) * 120")

	// Skills: only an agent with billing counts for the billing request.
	bs := e.status(customer("billing"), billing)
	require.Zero(t, bs.AvailableAgents)
	require.Nil(t, bs.EtaSeconds)
	e.profile(maria, map[string]any{"skills": []string{"billing"}})
	bs = e.status(customer("billing"), billing)
	require.Equal(t, 1, bs.AvailableAgents)
	require.Equal(t, int64(4*120), *bs.EtaSeconds, "position 4, one agent")

	// Away does not count, nor a full capacity.
	e.profile(maria, map[string]any{"status": "away"})
	require.Equal(t, 1, third().AvailableAgents)
	e.profile(admin, map[string]any{"capacity": 1})
	res := e.pick(admin)
	require.Equal(t, convs[0], *res.ConversationID)
	st = third()
	require.Zero(t, st.AvailableAgents, "the admin's one place is taken, Maria is away")
	require.Equal(t, 2, *st.Position, "one fewer ahead")
	require.Nil(t, st.EtaSeconds)
}

// TestQueueIsLive: a customer's subscribed status follows a pick (its
// position), agents' presence (its ETA) and its own assignment; the
// agents' queue and the customer's thread follow too.
func TestQueueIsLive(t *testing.T) {
	e := newEnv(t, 0, func(c *support.Config) { c.AvgHandleTime = time.Minute })
	a := e.request(customer("a"), map[string]any{})
	b := e.request(customer("b"), map[string]any{})
	widget := e.dial(customer("b"), "")
	watchStatus := watch[support.QueueStatus](t, widget, "getMyQueueStatus", map[string]any{"conversationId": b.ConversationID})
	console := e.dial(admin, "")
	queue := watch[support.QueueView](t, console, "getQueue", map[string]any{})

	watchStatus("second, no agent", func(s support.QueueStatus) bool { return *s.Position == 2 && s.EtaSeconds == nil })
	queue("two waiting", func(q support.QueueView) bool { return q.Waiting == 2 })
	_, err := beat(console, map[string]any{})
	require.NoError(t, err)
	watchStatus("an agent came online", func(s support.QueueStatus) bool {
		return s.AvailableAgents == 1 && s.EtaSeconds != nil && *s.EtaSeconds == 120
	})

	res := e.pick(admin)
	require.Equal(t, a.ConversationID, *res.ConversationID)
	watchStatus("first now", func(s support.QueueStatus) bool { return *s.Position == 1 && *s.EtaSeconds == 60 })
	queue("one waiting", func(q support.QueueView) bool {
		return q.Waiting == 1 && q.Requests[0].ConversationID == b.ConversationID
	})

	res = e.pick(admin)
	require.Equal(t, b.ConversationID, *res.ConversationID)
	got := watchStatus("assigned", func(s support.QueueStatus) bool { return s.State == support.StateAssigned })
	require.Nil(t, got.Position)
	require.Equal(t, admin.Subject, *got.AgentID)
	require.Equal(t, admin.Name, *got.AgentName)
	require.NotNil(t, got.AssignedAt)
	require.Contains(t, e.messages(customer("b"), b.ConversationID), "Parley Support joined the conversation")
	queue("none waiting", func(q support.QueueView) bool { return q.Waiting == 0 && len(q.Requests) == 0 })

	// The agent leaves: no ETA change for an assigned chat, but a new
	// request sees no agent.
	require.NoError(t, console.Close())
	c := e.request(customer("c"), map[string]any{})
	require.Nil(t, e.status(customer("c"), c.ConversationID).EtaSeconds)
}

// TestPickNextRace: two agents picking at once never take the same chat,
// and every request is taken once.
func TestPickNextRace(t *testing.T) {
	e := newEnv(t, 0)
	agents := []functions.Identity{admin, maria}
	for _, a := range agents {
		e.profile(a, map[string]any{"capacity": support.MaxCapacity})
	}
	const rounds, perRound = 3, 8
	for round := range rounds {
		want := map[string]bool{}
		for i := range perRound {
			want[e.request(customer(fmt.Sprintf("r%d-%d", round, i)), map[string]any{}).ConversationID] = true
		}
		var mu sync.Mutex
		got := map[string]string{} // conversation → agent
		var wg sync.WaitGroup
		errs := make(chan error, len(agents))
		for _, a := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					raw, err := e.mutate(a, "pickNext", map[string]any{})
					if err != nil {
						errs <- err
						return
					}
					var res support.PickResult
					if err := json.Unmarshal(raw, &res); err != nil {
						errs <- err
						return
					}
					if res.ConversationID == nil {
						if *res.Reason != support.ReasonQueueEmpty {
							errs <- fmt.Errorf("%s: %s", a.Subject, *res.Reason)
						}
						return
					}
					mu.Lock()
					prev, twice := got[*res.ConversationID]
					got[*res.ConversationID] = a.Subject
					mu.Unlock()
					if twice {
						errs <- fmt.Errorf("%s taken by %s and %s", *res.ConversationID, prev, a.Subject)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, got, perRound, "round %d", round)
		for conv, agent := range got {
			require.True(t, want[conv])
			var holder string
			require.NoError(t, e.s.DB.QueryRow(context.Background(), `SELECT agent_id FROM support_requests
				WHERE conversation_id = $1 AND state = 'assigned'`, conv).Scan(&holder))
			require.Equal(t, agent, holder)
			var assigned string
			require.NoError(t, e.s.DB.QueryRow(context.Background(), `SELECT assigned_admin_id FROM conversations WHERE id = $1`, conv).Scan(&assigned))
			require.Equal(t, agent, assigned, "chat's assignment follows")
		}
	}
}

func TestPickNextReasonsAndCapacity(t *testing.T) {
	e := newEnv(t, 0)
	res := e.pick(admin)
	require.Nil(t, res.ConversationID)
	require.Equal(t, support.ReasonQueueEmpty, *res.Reason)

	billing := e.request(customer("billing"), map[string]any{"skills": []string{"billing"}})
	res = e.pick(admin)
	require.Equal(t, support.ReasonNoMatch, *res.Reason, "the admin has no billing skill")

	e.profile(admin, map[string]any{"capacity": 1, "skills": []string{"billing", "es"}})
	res = e.pick(admin)
	require.Equal(t, billing.ConversationID, *res.ConversationID)
	require.Equal(t, 1, res.Load)
	require.Equal(t, 1, res.Capacity)
	require.Equal(t, []string{support.EventQueued, support.EventAssigned}, e.events(billing.ConversationID))

	other := e.request(customer("other"), map[string]any{})
	res = e.pick(admin)
	require.Nil(t, res.ConversationID)
	require.Equal(t, support.ReasonCapacityFull, *res.Reason)
	_, err := e.mutate(admin, "claim", map[string]any{"conversationId": other.ConversationID})
	require.Equal(t, http.StatusConflict, status(t, err))
	require.ErrorIs(t, err, support.ErrCapacityFull)

	// Maria claims it; claiming one's own again changes nothing, another's
	// is 409.
	got := must[support.PickResult](t)(e.mutate(maria, "claim", map[string]any{"conversationId": other.ConversationID}))
	require.Equal(t, other.ConversationID, *got.ConversationID)
	_ = must[support.PickResult](t)(e.mutate(maria, "claim", map[string]any{"conversationId": other.ConversationID}))
	e.profile(admin, map[string]any{"capacity": 5})
	_, err = e.mutate(admin, "claim", map[string]any{"conversationId": other.ConversationID})
	require.Equal(t, http.StatusConflict, status(t, err))
	require.Contains(t, err.Error(), "Maria")

	// A support conversation nobody queued can be claimed too.
	ref := must[chat.ConversationRef](t)(e.chatMutate(customer("plain"), "createOrGetConversation", map[string]any{}))
	got = must[support.PickResult](t)(e.mutate(admin, "claim", map[string]any{"conversationId": ref.ConversationID}))
	require.Equal(t, "cust-plain", *got.CustomerID)
	st := e.status(customer("plain"), ref.ConversationID)
	require.Equal(t, support.StateAssigned, st.State)
}

func TestTransferChat(t *testing.T) {
	e := newEnv(t, 0)
	r := e.request(customer("t"), map[string]any{})
	require.Equal(t, r.ConversationID, *e.pick(admin).ConversationID)
	// Maria is known (she took a chat, over HTTP) but offline.
	m0 := e.request(customer("m0"), map[string]any{})
	_ = must[support.PickResult](t)(e.mutate(maria, "claim", map[string]any{"conversationId": m0.ConversationID}))
	e.online(admin)
	tests := []struct {
		name   string
		args   map[string]any
		status int
		msg    string
	}{
		{"offline agent", map[string]any{"toAgentId": maria.Subject}, 400, "Maria is offline"},
		{"unknown agent", map[string]any{"toAgentId": "agent-nobody"}, 400, `no agent "agent-nobody"`},
		{"a customer", map[string]any{"toAgentId": "cust-t"}, 400, "no agent"},
		{"neither", map[string]any{}, 400, "one of toAgentId and toSkill"},
		{"both", map[string]any{"toAgentId": maria.Subject, "toSkill": "billing"}, 400, "one of toAgentId and toSkill"},
		{"bad skill", map[string]any{"toSkill": "bill ing"}, 400, "toSkill"},
		{"long note", map[string]any{"toSkill": "billing", "note": strings.Repeat("n", support.MaxNoteChars+1)}, 400, "note"},
		{"to the holder", map[string]any{"toAgentId": admin.Subject}, 409, "already assigned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := map[string]any{"conversationId": r.ConversationID}
			for k, v := range tt.args {
				args[k] = v
			}
			_, err := e.mutate(admin, "transferChat", args)
			require.Equal(t, tt.status, status(t, err), "%v", err)
			require.Contains(t, err.Error(), tt.msg)
		})
	}
	st := e.status(customer("t"), r.ConversationID)
	require.Equal(t, admin.Subject, *st.AgentID, "a refused transfer changes nothing")

	// Maria comes online: the chat is hers, with a notice.
	e.online(maria)
	_, err := e.mutate(admin, "transferChat", map[string]any{"conversationId": r.ConversationID, "toAgentId": maria.Subject, "note": "VIP"})
	require.NoError(t, err)
	st = e.status(customer("t"), r.ConversationID)
	require.Equal(t, support.StateAssigned, st.State)
	require.Equal(t, maria.Subject, *st.AgentID)
	require.Contains(t, e.messages(customer("t"), r.ConversationID), "Transferred to Maria: VIP")
	conv := must[chat.ConversationDoc](t)(e.chatQuery(admin, "getConversation", map[string]any{"conversationId": r.ConversationID}))
	require.Equal(t, maria.Subject, *conv.AssignedAdminID)

	// Maria at her capacity (two chats) cannot take another.
	e.profile(maria, map[string]any{"capacity": 2})
	r2 := e.request(customer("t2"), map[string]any{})
	require.Equal(t, r2.ConversationID, *e.pick(admin).ConversationID)
	_, err = e.mutate(admin, "transferChat", map[string]any{"conversationId": r2.ConversationID, "toAgentId": maria.Subject})
	require.Equal(t, http.StatusConflict, status(t, err))
	require.Contains(t, err.Error(), "no free capacity")

	// To a skill: back in the queue at its place, for billing agents.
	e.profile(maria, map[string]any{"capacity": 10})
	_, err = e.mutate(maria, "transferChat", map[string]any{"conversationId": r.ConversationID, "toSkill": "Billing"})
	require.NoError(t, err)
	st = e.status(customer("t"), r.ConversationID)
	require.Equal(t, support.StateQueued, st.State)
	require.Equal(t, []string{"billing"}, st.Skills)
	require.Equal(t, r.EnqueuedAt, *st.EnqueuedAt, "it keeps its place")
	require.Contains(t, e.messages(customer("t"), r.ConversationID), "Transferred to Billing")
	conv = must[chat.ConversationDoc](t)(e.chatQuery(admin, "getConversation", map[string]any{"conversationId": r.ConversationID}))
	require.Nil(t, conv.AssignedAdminID)
	require.Equal(t, support.ReasonNoMatch, *e.pick(maria).Reason)
	e.profile(maria, map[string]any{"skills": []string{"billing"}})
	require.Equal(t, r.ConversationID, *e.pick(maria).ConversationID)
	require.Equal(t, []string{support.EventQueued, support.EventAssigned, support.EventTransferred, support.EventTransferred,
		support.EventAssigned}, e.events(r.ConversationID))

	// Nothing open to transfer.
	_, err = e.mutate(maria, "closeChat", map[string]any{"conversationId": r.ConversationID})
	require.NoError(t, err)
	_, err = e.mutate(maria, "transferChat", map[string]any{"conversationId": r.ConversationID, "toSkill": "billing"})
	require.ErrorIs(t, err, support.ErrNoOpenRequest)
}

// TestCloseChat: a close ends the request and the conversation (chat's
// notice), moves the average handle time, and a new request reopens the
// conversation.
func TestCloseChat(t *testing.T) {
	e := newEnv(t, 0, func(c *support.Config) { c.AvgHandleTime = 10 * time.Minute })
	waiting := e.request(customer("w"), map[string]any{})
	widget := e.dial(customer("w"), "")
	watchStatus := watch[support.QueueStatus](t, widget, "getMyQueueStatus", map[string]any{"conversationId": waiting.ConversationID})
	watchStatus("the default", func(s support.QueueStatus) bool { return s.AvgHandleTimeSeconds == 600 })

	r := e.request(customer("c"), map[string]any{})
	require.Equal(t, waiting.ConversationID, *e.pick(admin).ConversationID)
	require.Equal(t, r.ConversationID, *e.pick(admin).ConversationID)
	// Held for 90 seconds, as far as the desk knows.
	_, err := e.s.DB.Exec(context.Background(), `UPDATE support_requests SET assigned_at = now() - interval '90 seconds'
		WHERE conversation_id = $1`, r.ConversationID)
	require.NoError(t, err)
	_, err = e.mutate(admin, "closeChat", map[string]any{"conversationId": r.ConversationID, "reason": "resolved"})
	require.NoError(t, err)
	st := e.status(customer("c"), r.ConversationID)
	require.Equal(t, support.StateClosed, st.State)
	require.InDelta(t, 90, st.AvgHandleTimeSeconds, 2, "measured from the closed chat")
	require.Contains(t, e.messages(customer("c"), r.ConversationID), "Parley Support closed this conversation: resolved")
	require.Equal(t, []string{support.EventQueued, support.EventAssigned, support.EventClosed}, e.events(r.ConversationID))
	var handled float64
	require.NoError(t, e.s.DB.QueryRow(context.Background(), `SELECT (data->>'handleTimeSeconds')::float8 FROM events
		WHERE conversation_id = $1 AND type = 'support.closed'`, r.ConversationID).Scan(&handled))
	require.InDelta(t, 90, handled, 2)
	// Others' statuses follow the new average.
	watchStatus("measured", func(s support.QueueStatus) bool {
		return s.AvgHandleTimeSeconds >= 88 && s.AvgHandleTimeSeconds <= 92
	})

	// The customer asks again: the conversation reopens, a new request
	// waits, the closed one stays closed.
	again := e.request(customer("c"), map[string]any{})
	require.Equal(t, r.ConversationID, again.ConversationID)
	require.NotEqual(t, r.RequestID, again.RequestID)
	conv := must[chat.ConversationDoc](t)(e.chatQuery(customer("c"), "getConversation", map[string]any{"conversationId": r.ConversationID}))
	require.Equal(t, "active", conv.Status)

	_, err = e.mutate(admin, "closeChat", map[string]any{"conversationId": r.ConversationID, "reason": strings.Repeat("r", 501)})
	require.Equal(t, http.StatusBadRequest, status(t, err))
	require.Equal(t, support.StateQueued, e.status(customer("c"), r.ConversationID).State, "a refused close changes nothing")

	// A closed conversation that asked for nobody since cannot be claimed.
	_, err = e.mutate(admin, "closeChat", map[string]any{"conversationId": waiting.ConversationID})
	require.NoError(t, err)
	_, err = e.mutate(admin, "claim", map[string]any{"conversationId": waiting.ConversationID})
	require.ErrorIs(t, err, support.ErrClosed)

	// Closed from the inbox (chat's closeConversation) rather than the
	// desk: the request closes too, and frees its agent.
	e.profile(maria, map[string]any{"capacity": 1})
	require.Equal(t, r.ConversationID, *e.pick(maria).ConversationID)
	_, err = e.chatMutate(maria, "closeConversation", map[string]any{"conversationId": r.ConversationID, "reason": "done"})
	require.NoError(t, err)
	require.Equal(t, support.StateClosed, e.status(customer("c"), r.ConversationID).State)
	next := e.request(customer("n"), map[string]any{})
	require.Equal(t, next.ConversationID, *e.pick(maria).ConversationID, "Maria's one place is free again")
	require.Equal(t, []string{support.EventQueued, support.EventAssigned, support.EventClosed, support.EventQueued,
		support.EventAssigned, support.EventClosed}, e.events(r.ConversationID))
}

// TestQueueOnMessage: with Config.QueueOnMessage, a customer's message in
// their support conversation that no agent holds queues it, once; without
// it, only requestSupport does.
func TestQueueOnMessage(t *testing.T) {
	send := func(e *env, id functions.Identity, convID, text string) {
		t.Helper()
		_, err := e.chatMutate(id, "sendMessage", map[string]any{"conversationId": convID, "content": text, "messageType": "text"})
		require.NoError(t, err)
	}
	open := func(e *env, id functions.Identity) string {
		t.Helper()
		return must[chat.ConversationRef](t)(e.chatMutate(id, "createOrGetConversation", map[string]any{})).ConversationID
	}

	off := newEnv(t, 0)
	conv := open(off, customer("off"))
	send(off, customer("off"), conv, "hello")
	require.Equal(t, support.StateNone, off.status(customer("off"), conv).State, "off by default")

	e := newEnv(t, 0, func(c *support.Config) { c.QueueOnMessage = true })
	conv = open(e, customer("on"))
	require.Equal(t, support.StateNone, e.status(customer("on"), conv).State, "opening asks for nobody")
	send(e, customer("on"), conv, "hello")
	st := e.status(customer("on"), conv)
	require.Equal(t, support.StateQueued, st.State)
	require.Equal(t, 1, *st.Position)
	first := *st.RequestID
	send(e, customer("on"), conv, "anyone?")
	require.Equal(t, first, *e.status(customer("on"), conv).RequestID, "one open request")
	q := must[support.QueueView](t)(e.query(admin, "getQueue", map[string]any{}))
	require.Equal(t, 1, q.Waiting)
	require.Equal(t, "anyone?", *q.Requests[0].Preview)
	require.Equal(t, []string{"anyone?", "hello"}, e.messages(customer("on"), conv), "no notice (newest first): the messages are there")

	// An agent holds it: the customer's messages queue nothing more, nor
	// does the agent's own.
	require.Equal(t, conv, *e.pick(admin).ConversationID)
	send(e, customer("on"), conv, "thanks")
	send(e, admin, conv, "you're welcome")
	require.Equal(t, support.StateAssigned, e.status(customer("on"), conv).State)
	require.Equal(t, []string{support.EventQueued, support.EventAssigned}, e.events(conv))
}

// TestChatActionsKeepTheDeskInStep: an admin answering a queued
// conversation from the inbox takes its request; chat's
// transferConversation hands the request over too.
func TestChatActionsKeepTheDeskInStep(t *testing.T) {
	e := newEnv(t, 0)
	r := e.request(customer("x"), map[string]any{})
	_, err := e.chatMutate(admin, "sendMessage", map[string]any{"conversationId": r.ConversationID, "content": "Hi, how can I help?",
		"messageType": "text"})
	require.NoError(t, err)
	st := e.status(customer("x"), r.ConversationID)
	require.Equal(t, support.StateAssigned, st.State)
	require.Equal(t, admin.Subject, *st.AgentID)
	require.Equal(t, admin.Name, *st.AgentName)
	require.Zero(t, must[support.QueueView](t)(e.query(admin, "getQueue", map[string]any{})).Waiting)

	// Maria (known: she claimed a chat) gets it through chat's transfer.
	m := e.request(customer("m"), map[string]any{})
	_ = must[support.PickResult](t)(e.mutate(maria, "claim", map[string]any{"conversationId": m.ConversationID}))
	_, err = e.chatMutate(admin, "transferConversation", map[string]any{"conversationId": r.ConversationID, "toAdminId": maria.Subject})
	require.NoError(t, err)
	st = e.status(customer("x"), r.ConversationID)
	require.Equal(t, maria.Subject, *st.AgentID)
	require.Equal(t, []string{support.EventQueued, support.EventAssigned, support.EventTransferred}, e.events(r.ConversationID))
	e.profile(admin, map[string]any{"capacity": 1})
	next := e.request(customer("y"), map[string]any{})
	require.Equal(t, next.ConversationID, *e.pick(admin).ConversationID, "the admin's place is free again")
}
