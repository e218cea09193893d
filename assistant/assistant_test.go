package assistant_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/assistant/llm"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/schema"
	"github.com/parley-chat/parley/support"
)

func TestBuiltinAnswersFromTheFAQ(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(assistant.ProviderBuiltin, nil)
	conv := e.support(john, "")
	st := must[assistant.ChatAssistant](t)(e.mutate(john, "shared/assistant:startChat", map[string]any{"conversationId": conv}))
	require.Equal(t, assistant.StateActive, st.State)
	require.Equal(t, "Parley Bot", *st.AssistantName)
	again := must[assistant.ChatAssistant](t)(e.mutate(john, "shared/assistant:startChat", map[string]any{"conversationId": conv}))
	require.Equal(t, st, again, "starting twice changes nothing")
	msgs := e.messages(john, conv)
	require.Equal(t, []string{"Hi! I'm Parley Bot."}, contents(msgs), "one greeting")
	require.Equal(t, chat.SenderAssistant, msgs[0].SenderType)

	q := e.say(john, conv, "how long will shipping take to arrive?")
	a := e.answer(john, conv, q)
	require.Equal(t, "Shipping takes 3 to 5 business days.", a.Content)
	require.Equal(t, "Parley Bot", a.SenderName)
	require.Empty(t, a.Interrupted)
	require.Len(t, a.Parts, 2)
	require.Equal(t, chat.MessagePart{Type: "tool-use", CallID: a.Parts[0].CallID, Tool: assistant.ToolSearchFAQ,
		Input: `{"query":"how long will shipping take to arrive?"}`}, a.Parts[0])
	require.Equal(t, "tool-result", a.Parts[1].Type)
	require.Equal(t, "Found: How long does shipping take?", a.Parts[1].Output)

	// The run is logged for agents: the prompt and the steps.
	runs := must[[]assistant.RunDoc](t)(e.query(admin, "shared/assistant:getAssistantRuns", map[string]any{"conversationId": conv}))
	require.Len(t, runs, 1)
	require.Equal(t, "done", runs[0].State)
	require.Equal(t, q, runs[0].TriggerMessageID)
	require.Contains(t, string(runs[0].Prompt), "how long will shipping take to arrive?")
	require.Contains(t, string(runs[0].Steps), `"type":"tool-result"`)
	require.Positive(t, runs[0].Tokens)
	require.Equal(t, assistant.StateActive, e.chatState(john, conv).State, "still the assistant's")
	require.Equal(t, support.StateNone, e.queueStatus(john, conv).State, "not queued")
}

func TestBuiltinOrderStatusSeesOnlyTheCustomersOrders(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(assistant.ProviderBuiltin, nil)
	conv := e.support(john, schema.DemoOrderID)
	q := e.say(john, conv, "Where is my order?")
	a := e.answer(john, conv, q)
	require.Equal(t, "Your order order123456789 from Pizza Palace is delivered (total 25.50, ordered December 31, 2021).", a.Content)
	require.Equal(t, "Order order123456789: delivered", a.Parts[1].Output)

	// Jane names John's order: the tool runs as Jane and finds nothing.
	jconv := e.support(jane, "")
	q = e.say(jane, jconv, "what is the status of order123456789?")
	a = e.answer(jane, jconv, q)
	require.Equal(t, "Sorry — order not found.", a.Content)
	require.True(t, a.Parts[1].Error)
	require.NotContains(t, a.Content, "Pizza Palace")
}

func TestNoConfidentAnswerHandsOff(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(assistant.ProviderBuiltin, map[string]any{"handoffRules": map[string]any{"maxFailures": 2}})
	conv := e.support(john, "")
	q := e.say(john, conv, "Can you recommend a good pizza topping combination?")
	a := e.answer(john, conv, q)
	require.Equal(t, assistant.NoAnswer, a.Content)
	require.Equal(t, assistant.StateActive, e.chatState(john, conv).State, "one failure of two")

	q = e.say(john, conv, "What about the weather tomorrow?")
	e.answer(john, conv, q)
	pgtest.Eventually(t, live, func() error {
		if s := e.chatState(john, conv); s.State != assistant.StateHandedOff {
			return errors.New("not handed off yet: " + s.State)
		}
		return nil
	})
	st := e.queueStatus(john, conv)
	require.Equal(t, support.StateQueued, st.State)
	require.Equal(t, "The assistant could not answer", *st.Topic)
	require.Contains(t, contents(e.messages(john, conv)), "Transferred to an agent: The assistant could not answer")

	// Handed off, the assistant answers no more: the desk has it.
	q = e.say(john, conv, "hello?")
	require.Zero(t, e.replyJobs(q), "no reply was queued")
}

func TestAskingForAHumanHandsOffAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(assistant.ProviderBuiltin, map[string]any{"handoffRules": map[string]any{"keywords": []string{"Refund"}}})
	for _, tc := range []struct {
		who  functions.Identity
		text string
	}{
		{john, "I want to talk to a human please"},
		{jane, "I need a REFUND now"},
	} {
		conv := e.support(tc.who, "")
		e.say(tc.who, conv, tc.text)
		require.Equal(t, assistant.StateHandedOff, e.chatState(tc.who, conv).State, "in the sending mutation")
		require.Equal(t, support.StateQueued, e.queueStatus(tc.who, conv).State)
		msgs := e.messages(tc.who, conv)
		require.Zero(t, e.replyJobs(msgs[len(msgs)-1].ID), "no reply was queued")
	}
}

func TestRequestHuman(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(assistant.ProviderBuiltin, nil)
	conv := e.support(john, "")
	none := must[assistant.ChatAssistant](t)(e.mutate(john, "shared/assistant:requestHuman", map[string]any{"conversationId": conv}))
	require.Equal(t, assistant.StateNone, none.State, "no assistant yet: nothing to hand off")
	e.mutate(john, "shared/assistant:startChat", map[string]any{"conversationId": conv})
	st := must[assistant.ChatAssistant](t)(e.mutate(john, "shared/assistant:requestHuman", map[string]any{"conversationId": conv}))
	require.Equal(t, assistant.StateHandedOff, st.State)
	require.Equal(t, assistant.RequestHumanReason, *st.Reason)
	require.Equal(t, support.StateQueued, e.queueStatus(john, conv).State)
}

// TestStreamingPushesTheTextSoFar: subscribers see the answer grow, a
// client that subscribes mid-stream gets the text so far, and the end is
// one write.
func TestStreamingPushesTheTextSoFar(t *testing.T) {
	p := newScripted()
	e := newEnv(t, p)
	e.configure(assistant.ProviderOpenAI, map[string]any{"model": "test-model"})
	conv := e.support(john, "")
	viewer := watch[chat.MessagePage](t, e.s.Dial(t, john, syncclientOpts()), "shared/chat:getMessages", map[string]any{"conversationId": conv})
	agent := watch[chat.MessagePage](t, e.s.Dial(t, admin, syncclientOpts()), "shared/chat:getMessages", map[string]any{"conversationId": conv})

	chunks := make(chan string, 4)
	p.turns <- turn{chunks: chunks, result: llm.Result{FinishReason: "stop"}}
	e.say(john, conv, "Tell me about your shop")
	chunks <- "Hello"
	newest := func(text string, streaming bool) func(chat.MessagePage) bool {
		return func(pg chat.MessagePage) bool {
			if len(pg.Messages) == 0 {
				return false
			}
			m := pg.Messages[0]
			return m.SenderType == chat.SenderAssistant && m.Content == text && m.Streaming == streaming
		}
	}
	viewer("the first chunk", newest("Hello", true))
	agent("the agent watching sees it too", newest("Hello", true))
	chunks <- ", John"
	viewer("the second chunk", newest("Hello, John", true))

	// A client that arrives now (a reconnect) gets the text so far.
	late := watch[chat.MessagePage](t, e.s.Dial(t, john, syncclientOpts()), "shared/chat:getMessages", map[string]any{"conversationId": conv})
	late("the text so far on subscribing", newest("Hello, John", true))
	state := e.chatState(john, conv)
	require.True(t, state.Streaming)

	chunks <- "!"
	close(chunks)
	final := viewer("the end", newest("Hello, John!", false))
	require.Empty(t, final.Messages[0].Interrupted)
	late("the late one too", newest("Hello, John!", false))

	// The model saw the instructions and the customer's words, and the
	// model the assistant names.
	reqs := p.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "test-model", reqs[0].Model)
	require.Equal(t, llm.RoleSystem, reqs[0].Messages[0].Role)
	last := reqs[0].Messages[len(reqs[0].Messages)-1]
	require.Equal(t, llm.Message{Role: llm.RoleUser, Content: "Tell me about your shop"}, last)
	require.Len(t, reqs[0].Tools, 3)

	// One write at the end: the stored row has the whole text.
	var content string
	var stateJSON string
	require.NoError(t, e.s.DB.QueryRow(context.Background(), `SELECT content, assistant::text FROM messages WHERE id = $1`,
		final.Messages[0].ID).Scan(&content, &stateJSON))
	require.Equal(t, "Hello, John!", content)
	require.NotContains(t, stateJSON, "streaming")
}

func syncclientOpts() syncclient.Options { return syncclient.Options{} }

func TestTakeoverMidStreamKeepsThePartialAnswer(t *testing.T) {
	p := newScripted()
	e := newEnv(t, p)
	e.configure(assistant.ProviderOpenAI, nil)
	conv := e.support(john, "")
	viewer := watch[chat.MessagePage](t, e.s.Dial(t, john, syncclientOpts()), "shared/chat:getMessages", map[string]any{"conversationId": conv})
	chunks := make(chan string, 1)
	chunks <- "Let me check that for"
	close(chunks)
	p.turns <- turn{chunks: chunks, hang: true}
	e.say(john, conv, "Is my pizza gluten free?")
	viewer("streaming", func(pg chat.MessagePage) bool {
		return len(pg.Messages) > 0 && pg.Messages[0].Content == "Let me check that for"
	})

	chats := must[[]assistant.AiChat](t)(e.query(admin, "shared/assistant:getAiChats", map[string]any{}))
	require.Len(t, chats, 1)
	require.Equal(t, conv, chats[0].ConversationID)
	require.True(t, chats[0].Streaming)

	st := must[assistant.ChatAssistant](t)(e.mutate(admin, "shared/support:takeoverChat", map[string]any{"conversationId": conv}))
	require.Equal(t, assistant.StateTakenOver, st.State)
	select {
	case err := <-p.cancelled:
		require.ErrorIs(t, err, context.Canceled, "the provider's stream stopped")
	case <-time.After(live):
		t.Fatal("the provider's stream was not cancelled")
	}
	pg := viewer("the partial answer, marked", func(pg chat.MessagePage) bool {
		for _, m := range pg.Messages {
			if m.SenderType == chat.SenderAssistant && m.Interrupted == "takeover" {
				return !m.Streaming && m.Content == "Let me check that for"
			}
		}
		return false
	})
	require.Equal(t, "Parley Support joined the conversation", pg.Messages[0].Content)
	require.Empty(t, must[[]assistant.AiChat](t)(e.query(admin, "shared/assistant:getAiChats", map[string]any{})))
	_, err := e.mutate(admin, "shared/support:takeoverChat", map[string]any{"conversationId": conv})
	require.Equal(t, 409, status(t, err), "no assistant answers now")

	// The agent holds it: the customer's messages are theirs.
	q := e.say(john, conv, "Hello agent")
	require.Zero(t, e.replyJobs(q), "no reply was queued")

	// Handed back, the assistant answers the next message.
	st = must[assistant.ChatAssistant](t)(e.mutate(admin, "shared/support:resumeAi", map[string]any{"conversationId": conv}))
	require.Equal(t, assistant.StateActive, st.State)
	_, err = e.mutate(admin, "shared/support:resumeAi", map[string]any{"conversationId": conv})
	require.Equal(t, 409, status(t, err))
	p.turns <- text("Yes, it is.")
	q = e.say(john, conv, "So is it gluten free?")
	require.Equal(t, "Yes, it is.", e.answer(john, conv, q).Content)
}

func TestProviderFailureHandsOffWithANotice(t *testing.T) {
	p := newScripted()
	e := newEnv(t, p)
	e.configure(assistant.ProviderOpenAI, nil)
	conv := e.support(john, "")
	chunks := make(chan string, 1)
	chunks <- "Our opening hours are"
	close(chunks)
	p.turns <- turn{chunks: chunks, err: errors.New("oai: stream: unexpected EOF")}
	q := e.say(john, conv, "When are you open?")
	a := e.answer(john, conv, q)
	require.Equal(t, "Our opening hours are", a.Content, "what it said is kept")
	require.Equal(t, "error", a.Interrupted)
	pgtest.Eventually(t, live, func() error {
		if !containsAll(contents(e.messages(john, conv)), "Transferred to an agent: The assistant is unavailable right now") {
			return errors.New("no notice yet")
		}
		return nil
	})
	require.Equal(t, support.StateQueued, e.queueStatus(john, conv).State)
	runs := must[[]assistant.RunDoc](t)(e.query(admin, "shared/assistant:getAssistantRuns", map[string]any{"conversationId": conv}))
	require.Equal(t, "failed", runs[0].State)
	require.Equal(t, "oai: stream: unexpected EOF", *runs[0].Error)

	// No provider configured at all: the same, at once.
	e2 := newEnv(t, nil)
	e2.configure(assistant.ProviderOpenAI, nil)
	conv = e2.support(john, "")
	e2.say(john, conv, "Hello?")
	pgtest.Eventually(t, live, func() error {
		if e2.chatState(john, conv).State != assistant.StateHandedOff {
			return errors.New("not handed off yet")
		}
		return nil
	})
	runs = must[[]assistant.RunDoc](t)(e2.query(admin, "shared/assistant:getAssistantRuns", map[string]any{"conversationId": conv}))
	require.Contains(t, *runs[0].Error, "no openai provider is configured")
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestTransferToolQueuesWithSkills(t *testing.T) {
	p := newScripted()
	e := newEnv(t, p)
	e.configure(assistant.ProviderOpenAI, nil)
	conv := e.support(john, "")
	tn := text("One moment.")
	tn.result = llm.Result{FinishReason: "tool_calls", ToolCalls: []llm.ToolCall{{ID: "call_1", Name: assistant.ToolTransfer,
		Arguments: `{"reason": "Billing dispute", "skills": ["Billing"]}`}}}
	p.turns <- tn
	q := e.say(john, conv, "You charged me twice")
	a := e.answer(john, conv, q)
	require.Equal(t, "One moment.", a.Content)
	require.Equal(t, []string{"tool-use", "tool-result"}, []string{a.Parts[0].Type, a.Parts[1].Type})
	require.Equal(t, "Transferring to an agent", a.Parts[1].Output)
	pgtest.Eventually(t, live, func() error {
		if e.chatState(john, conv).State != assistant.StateHandedOff {
			return errors.New("not handed off yet")
		}
		return nil
	})
	st := e.queueStatus(john, conv)
	require.Equal(t, support.StateQueued, st.State)
	require.Equal(t, "Billing dispute", *st.Topic)
	require.Equal(t, []string{"billing"}, st.Skills)
}

func TestToolResultsGoBackToTheModel(t *testing.T) {
	p := newScripted()
	e := newEnv(t, p)
	e.configure(assistant.ProviderOpenAI, nil)
	conv := e.support(john, schema.DemoOrderID)
	first := text()
	first.result = llm.Result{FinishReason: "tool_calls", ToolCalls: []llm.ToolCall{
		{ID: "c1", Name: assistant.ToolOrderStatus, Arguments: `{"orderId": "order987654321"}`},
		{ID: "c2", Name: assistant.ToolSearchFAQ, Arguments: `{"query": "return an item"}`}}}
	p.turns <- first
	p.turns <- text("It shipped; returns are free.")
	q := e.say(john, conv, "Where is my second order, and can I return it?")
	a := e.answer(john, conv, q)
	require.Equal(t, "It shipped; returns are free.", a.Content)
	require.Len(t, a.Parts, 4)
	reqs := p.requests()
	require.Len(t, reqs, 2)
	msgs := reqs[1].Messages
	tool1, tool2 := msgs[len(msgs)-2], msgs[len(msgs)-1]
	require.Equal(t, llm.RoleTool, tool1.Role)
	require.Equal(t, "c1", tool1.ToolCallID)
	require.Contains(t, tool1.Content, `"status":"shipped"`)
	require.Equal(t, "c2", tool2.ToolCallID)
	require.Contains(t, tool2.Content, "Returns are free within 30 days")
	require.Equal(t, llm.RoleAssistant, msgs[len(msgs)-3].Role)
	require.Len(t, msgs[len(msgs)-3].ToolCalls, 2)
	require.Contains(t, reqs[0].Messages[0].Content, "Order: order123456789", "the conversation's order is in the prompt")
}

func TestBudgetSpentHandsOff(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(assistant.ProviderBuiltin, map[string]any{"budgets": map[string]any{"conversationTokens": 1}})
	conv := e.support(john, "")
	q := e.say(john, conv, "How long does shipping take?")
	e.answer(john, conv, q)
	e.say(john, conv, "And returns?")
	pgtest.Eventually(t, live, func() error {
		if s := e.chatState(john, conv); s.State != assistant.StateHandedOff || !strings.Contains(*s.Reason, "budget") {
			return errors.New("not handed off for its budget yet")
		}
		return nil
	})
	require.Equal(t, support.StateQueued, e.queueStatus(john, conv).State)
}

func TestUpsertAssistant(t *testing.T) {
	e := newEnv(t, nil)
	a := e.configure(assistant.ProviderBuiltin, nil)
	require.Equal(t, 2, len(a.Knowledge))
	require.Nil(t, a.StoreID)
	require.Equal(t, 2, a.HandoffRules.MaxFailures)
	b := must[assistant.AssistantDoc](t)(e.mutate(admin, "shared/assistant:upsertAssistant", map[string]any{"name": "Renamed",
		"handoffRules": map[string]any{"keywords": []string{" Lawyer "}}}))
	require.Equal(t, a.ID, b.ID, "the org's one, updated")
	require.Equal(t, "Renamed", b.Name)
	require.Equal(t, a.Greeting, b.Greeting, "kept")
	require.Equal(t, []string{"lawyer"}, b.HandoffRules.Keywords)
	require.Len(t, b.Knowledge, 2, "kept")
	store := must[assistant.AssistantDoc](t)(e.mutate(admin, "shared/assistant:upsertAssistant", map[string]any{"name": "Pizza Bot",
		"storeId": schema.DemoStoreID, "knowledge": []map[string]string{}}))
	require.NotEqual(t, a.ID, store.ID)
	require.Empty(t, store.Knowledge)
	list := must[[]assistant.AssistantDoc](t)(e.query(admin, "shared/assistant:listAssistants", map[string]any{}))
	require.Equal(t, []string{"Renamed", "Pizza Bot"}, []string{list[0].Name, list[1].Name})
	require.Empty(t, must[[]assistant.AssistantDoc](t)(e.query(acmeAdmin, "shared/assistant:listAssistants", map[string]any{})), "another org's")

	// A store's assistant answers its orders' conversations.
	conv := e.support(john, schema.DemoOrderID)
	st := must[assistant.ChatAssistant](t)(e.mutate(john, "shared/assistant:startChat", map[string]any{"conversationId": conv}))
	require.Equal(t, "Pizza Bot", *st.AssistantName)

	for _, tc := range []struct {
		args map[string]any
		code int
		msg  string
	}{
		{map[string]any{"name": " "}, 400, "name must not be empty"},
		{map[string]any{"name": strings.Repeat("x", 101)}, 400, "name: at most 100 characters, got 101"},
		{map[string]any{"name": "x", "provider": "gpt"}, 400, `provider must be "builtin" or "openai", got "gpt"`},
		{map[string]any{"name": "x", "handoffRules": map[string]any{"maxFailures": 0}}, 400, "handoffRules.maxFailures must be between 1 and 20, got 0"},
		{map[string]any{"name": "x", "knowledge": []map[string]string{{"question": "q", "answer": ""}}}, 400, "knowledge[0]: question and answer must not be empty"},
		{map[string]any{"name": "x", "budgets": map[string]any{"dailyTokens": -1}}, 400, "budgets.dailyTokens must be positive, got -1"},
		{map[string]any{"name": "x", "storeId": "store-nope"}, 404, "Store not found"},
	} {
		_, err := e.mutate(admin, "shared/assistant:upsertAssistant", tc.args)
		require.Equal(t, tc.code, status(t, err), tc.msg)
		require.ErrorContains(t, err, tc.msg)
	}
	_, err := e.mutate(john, "shared/assistant:startChat", map[string]any{"conversationId": e.support(john, ""), "assistantId": "asst_nope"})
	require.Equal(t, 404, status(t, err))
	require.ErrorContains(t, err, "Assistant not found")
}

// TestTheDeskComesFirst: a customer who asked the desk for an agent
// (requestSupport) is not answered by the assistant, even one started.
func TestTheDeskComesFirst(t *testing.T) {
	e := newEnv(t, nil)
	e.configure(assistant.ProviderBuiltin, nil)
	ref := must[support.SupportRequestRef](t)(e.mutate(john, "shared/support:requestSupport", map[string]any{"topic": "Billing"}))
	q := e.say(john, ref.ConversationID, "How long does shipping take?")
	require.Zero(t, e.replyJobs(q))
	require.Equal(t, assistant.StateNone, e.chatState(john, ref.ConversationID).State)

	// Started before the request: it steps aside when the customer writes.
	conv := e.support(jane, "")
	must[assistant.ChatAssistant](t)(e.mutate(jane, "shared/assistant:startChat", map[string]any{"conversationId": conv}))
	must[support.SupportRequestRef](t)(e.mutate(jane, "shared/support:requestSupport", map[string]any{}))
	q = e.say(jane, conv, "Hello?")
	require.Zero(t, e.replyJobs(q))
	require.Equal(t, assistant.StateHandedOff, e.chatState(jane, conv).State)
}

// TestACustomerWhoLeftStopsTheStream: every session of the customer gone
// for the grace, the provider's stream is cancelled and the answer ends
// as it stood; back within the grace (a reload), it goes on.
func TestACustomerWhoLeftStopsTheStream(t *testing.T) {
	p := newScripted()
	e := newEnv(t, p, func(c *assistant.Config) { c.LeaveGrace = 300 * time.Millisecond })
	e.configure(assistant.ProviderOpenAI, nil)
	conv := e.support(john, "")
	c := e.s.Dial(t, john, syncclientOpts())
	beat := func(c *syncclient.Client) {
		ctx, cancel := context.WithTimeout(context.Background(), live)
		defer cancel()
		_, err := c.Mutation(ctx, "shared/support:heartbeat", map[string]any{})
		require.NoError(t, err)
	}
	beat(c)
	chunks := make(chan string, 1)
	chunks <- "Let me see"
	close(chunks)
	p.turns <- turn{chunks: chunks, hang: true}
	q := e.say(john, conv, "Anything new?")
	pgtest.Eventually(t, live, func() error {
		if !e.chatState(john, conv).Streaming {
			return errors.New("not streaming yet")
		}
		return nil
	})
	// A reload: gone and back within the grace. The stream goes on.
	c.Close()
	c = e.s.Dial(t, john, syncclientOpts())
	beat(c)
	time.Sleep(600 * time.Millisecond) // past the grace: nothing may happen
	select {
	case err := <-p.cancelled:
		t.Fatalf("the stream stopped for a reload: %v", err)
	default:
	}
	require.True(t, e.chatState(john, conv).Streaming)

	// Gone for good.
	c.Close()
	select {
	case err := <-p.cancelled:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(live):
		t.Fatal("the stream did not stop")
	}
	a := e.answer(john, conv, q)
	require.Equal(t, "Let me see", a.Content)
	require.Equal(t, "cancelled", a.Interrupted)
	require.Equal(t, assistant.StateActive, e.chatState(john, conv).State, "still the assistant's when they come back")
}
