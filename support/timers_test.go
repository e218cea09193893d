package support_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/support"
)

// timersEnv is a server whose timers are checked only when the test
// says (CheckTimers), with the seed's 4-minute warning and 30-minute
// close and a 5-minute answer for agents. Time passes by moving a chat's
// messages and assignment into the past (age), not by sleeping.
func timersEnv(t *testing.T, silence string) *env {
	return newEnv(t, 0, func(c *support.Config) {
		c.Timers = support.TimersConfig{Interval: -1, AgentSilence: silence}
	})
}

// age moves convID's messages and its requests' times d into the past.
func (e *env) age(convID string, d time.Duration) {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.s.DB.Exec(ctx, `UPDATE messages SET created_at = created_at - $2::interval WHERE conversation_id = $1`, convID, d)
	require.NoError(e.t, err)
	_, err = e.s.DB.Exec(ctx, `UPDATE support_requests SET enqueued_at = enqueued_at - $2::interval,
		assigned_at = assigned_at - $2::interval, warned_at = warned_at - $2::interval, alerted_at = alerted_at - $2::interval
		WHERE conversation_id = $1`, convID, d)
	require.NoError(e.t, err)
}

func (e *env) check() int {
	e.t.Helper()
	n, err := e.s.Server.Support.CheckTimers(context.Background())
	require.NoError(e.t, err)
	return n
}

func (e *env) say(id functions.Identity, convID, text string) {
	e.t.Helper()
	_, err := e.chatMutate(id, "sendMessage", map[string]any{"conversationId": convID, "content": text, "messageType": "text"})
	require.NoError(e.t, err)
}

// assigned is a chat of customer c that Maria has picked.
func (e *env) assigned(c functions.Identity) string {
	e.t.Helper()
	e.online(maria)
	r := e.request(c, map[string]any{})
	got := e.pick(maria)
	require.NotNil(e.t, got.ConversationID)
	require.Equal(e.t, r.ConversationID, *got.ConversationID)
	return r.ConversationID
}

// TestInactivityWarningAndClose: after the agent's word, 4 minutes of
// customer silence bring one warning (a second check does not repeat
// it), a reply starts the silence anew, and 30 minutes close the chat and
// its request.
func TestInactivityWarningAndClose(t *testing.T) {
	e := timersEnv(t, "")
	c := customer("quiet")
	conv := e.assigned(c)
	e.say(maria, conv, "Hello, how can I help?")
	require.Equal(t, 0, e.check(), "nothing due yet")
	e.age(conv, 3*time.Minute)
	require.Equal(t, 0, e.check(), "3 minutes is not 4")

	e.age(conv, 90*time.Second)
	require.Equal(t, 1, e.check())
	require.Contains(t, e.messages(c, conv)[0], "Are you still there? This chat closes in 25 minutes without a reply.",
		"4½ minutes of 30 gone (and a moment more)")
	require.Equal(t, 0, e.check(), "one warning per silence")
	require.Contains(t, e.events(conv), support.EventWarned)

	// The customer answers, the agent too: a new silence, a new warning.
	e.say(c, conv, "Sorry, I was away")
	e.say(maria, conv, "No problem: what is the order number?")
	e.age(conv, 5*time.Minute)
	require.Equal(t, 1, e.check(), "warned again after the new silence")

	e.age(conv, 30*time.Minute)
	require.Equal(t, 1, e.check())
	require.Equal(t, support.StateClosed, e.status(c, conv).State)
	cd := must[chat.ConversationDoc](t)(e.chatQuery(c, "getConversation", map[string]any{"conversationId": conv}))
	require.Equal(t, "closed", cd.Status)
	require.Contains(t, e.messages(c, conv), "Maria closed this conversation: no reply for 35 minutes")
	require.Equal(t, 0, e.check(), "a closed chat has no timers")
	evs := e.events(conv)
	require.Equal(t, support.EventClosed, evs[len(evs)-1])
}

// TestAgentSilenceRequeues: a customer's message the agent leaves
// unanswered for 5 minutes puts the chat back in the queue at its place,
// for the next agent.
func TestAgentSilenceRequeues(t *testing.T) {
	e := timersEnv(t, support.SilenceRequeue)
	c := customer("waits")
	conv := e.assigned(c)
	e.say(c, conv, "Where is my order?")
	e.age(conv, 4*time.Minute)
	require.Equal(t, 0, e.check())
	e.age(conv, 2*time.Minute)
	require.Equal(t, 1, e.check())
	st := e.status(c, conv)
	require.Equal(t, support.StateQueued, st.State)
	require.Equal(t, 1, *st.Position)
	require.Contains(t, e.messages(c, conv), "No answer from Maria for 6 minutes: back in the queue for the next agent")
	cd := must[chat.ConversationDoc](t)(e.chatQuery(c, "getConversation", map[string]any{"conversationId": conv}))
	require.Nil(t, cd.AssignedAdminID, "nobody holds it")
	require.Equal(t, 0, e.check(), "a queued chat has no timers")
	require.Equal(t, conv, *e.pick(admin).ConversationID, "the next agent takes it")
}

// TestAgentSilenceAlerts: in alert mode the agent keeps the chat; one
// notice and one support.agent_silent per unanswered message.
func TestAgentSilenceAlerts(t *testing.T) {
	e := timersEnv(t, support.SilenceAlert)
	c := customer("alert")
	conv := e.assigned(c)
	e.say(c, conv, "Hello?")
	e.age(conv, 6*time.Minute)
	require.Equal(t, 1, e.check())
	require.Equal(t, 0, e.check(), "once per message")
	require.Equal(t, support.StateAssigned, e.status(c, conv).State)
	require.Contains(t, e.messages(c, conv), "Maria has not answered for 6 minutes")
	e.say(c, conv, "Anyone?")
	e.age(conv, 6*time.Minute)
	require.Equal(t, 1, e.check(), "a new message, a new alert")
	n := 0
	for _, ev := range e.events(conv) {
		if ev == support.EventAgentSilent {
			n++
		}
	}
	require.Equal(t, 2, n)
}

// TestTimersActOnceAndSurviveRestarts: two checks at once act once; a
// restarted server finds the timers where they were (they are rows, not
// memory) and neither forgets nor repeats them.
func TestTimersActOnceAndSurviveRestarts(t *testing.T) {
	e := timersEnv(t, "")
	c := customer("restart")
	conv := e.assigned(c)
	e.say(maria, conv, "Anything else?")
	e.age(conv, 5*time.Minute)
	var wg sync.WaitGroup
	acted := make([]int, 2)
	for i := range acted {
		wg.Go(func() {
			n, err := e.s.Server.Support.CheckTimers(context.Background())
			require.NoError(t, err)
			acted[i] = n
		})
	}
	wg.Wait()
	require.Equal(t, 1, acted[0]+acted[1], "one warning between two checks")

	dbURL := e.s.DBURL
	e.s.Stop(t)
	e.s = parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.DatabaseURL = dbURL
		cfg.Support = support.Config{HeartbeatsPerSecond: -1, Timers: support.TimersConfig{Interval: -1}}
	})
	require.Equal(t, 0, e.check(), "the warning is not sent again")
	e.age(conv, 30*time.Minute)
	require.Equal(t, 1, e.check(), "and the close is not forgotten")
	require.Equal(t, support.StateClosed, e.status(c, conv).State)
}

// TestTimersRunOnTheirOwn: the periodic job (river, on the leader) checks
// the timers every Interval.
func TestTimersRunOnTheirOwn(t *testing.T) {
	e := newEnv(t, 0, func(c *support.Config) { c.Timers = support.TimersConfig{Interval: 200 * time.Millisecond} })
	c := customer("periodic")
	conv := e.assigned(c)
	e.say(maria, conv, "Still with me?")
	e.age(conv, 5*time.Minute)
	pgtest.Eventually(t, 30*time.Second, func() error {
		for _, m := range e.messages(c, conv) {
			if strings.HasPrefix(m, "Are you still there?") {
				return nil
			}
		}
		return errors.New("no warning yet")
	})
}
