package assistant_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/assistant/llm/oai"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/schema"
	"github.com/parley-chat/parley/support"
)

// completions is an OpenAI-compatible server in the test process: each
// request gets the next script, written in the streaming wire format
// (data: chunk lines, data: [DONE]). It keeps the requests' bodies.
type completions struct {
	mu      sync.Mutex
	scripts []func(w http.ResponseWriter, r *http.Request, send func(delta map[string]any, finish string))
	bodies  []map[string]any
}

func (s *completions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	var script func(http.ResponseWriter, *http.Request, func(map[string]any, string))
	if len(s.scripts) > 0 {
		script, s.scripts = s.scripts[0], s.scripts[1:]
	}
	s.mu.Unlock()
	if script == nil {
		http.Error(w, `{"error": {"message": "no script left", "type": "server_error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	send := func(delta map[string]any, finish string) {
		choice := map[string]any{"index": 0, "delta": delta, "finish_reason": nil}
		if finish != "" {
			choice["finish_reason"] = finish
		}
		chunk, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
			"model": "test-model", "choices": []any{choice}})
		fmt.Fprintf(w, "data: %s\n\n", chunk)
		fl.Flush()
	}
	script(w, r, send)
}

func (s *completions) add(script func(w http.ResponseWriter, r *http.Request, send func(map[string]any, string))) {
	s.mu.Lock()
	s.scripts = append(s.scripts, script)
	s.mu.Unlock()
}

func (s *completions) requests() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.bodies...)
}

func done(w http.ResponseWriter) {
	fmt.Fprint(w, "data: [DONE]\n\n")
	w.(http.Flusher).Flush()
}

// newOpenAIEnv starts the test server and Parley with an "openai"
// assistant that calls it through package oai.
func newOpenAIEnv(t *testing.T) (*env, *completions) {
	srv := &completions{}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	p, err := oai.New(oai.Config{BaseURL: hs.URL + "/v1", APIKey: "sk-test", Model: "test-model", IdleTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	e := newEnv(t, p)
	e.configure(assistant.ProviderOpenAI, nil)
	return e, srv
}

func TestOpenAICompatibleStreamWithAToolCall(t *testing.T) {
	e, srv := newOpenAIEnv(t)
	// Round one: a word, then get_order_status in fragments.
	srv.add(func(w http.ResponseWriter, _ *http.Request, send func(map[string]any, string)) {
		send(map[string]any{"role": "assistant", "content": "Checking… "}, "")
		send(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": "call_9", "type": "function",
			"function": map[string]any{"name": "get_order_status", "arguments": `{"orderId":`}}}}, "")
		send(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": ` "order123456789"}`}}}}, "")
		send(map[string]any{}, "tool_calls")
		done(w)
	})
	// Round two: the answer from the tool's result, in pieces.
	srv.add(func(w http.ResponseWriter, _ *http.Request, send func(map[string]any, string)) {
		for _, piece := range []string{"It was ", "delivered", "."} {
			send(map[string]any{"content": piece}, "")
		}
		send(map[string]any{}, "stop")
		done(w)
	})
	conv := e.support(john, schema.DemoOrderID)
	q := e.say(john, conv, "Where is my pizza?")
	a := e.answer(john, conv, q)
	require.Equal(t, "Checking… It was delivered.", a.Content)
	require.Equal(t, []chat.MessagePart{
		{Type: "tool-use", CallID: "call_9", Tool: "get_order_status", Input: `{"orderId": "order123456789"}`},
		{Type: "tool-result", CallID: "call_9", Tool: "get_order_status", Output: "Order order123456789: delivered"},
	}, a.Parts)

	reqs := srv.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "test-model", reqs[0]["model"])
	require.Equal(t, true, reqs[0]["stream"])
	require.Len(t, reqs[0]["tools"], 3)
	msgs := reqs[1]["messages"].([]any)
	toolMsg := msgs[len(msgs)-1].(map[string]any)
	require.Equal(t, "tool", toolMsg["role"])
	require.Equal(t, "call_9", toolMsg["tool_call_id"])
	require.Contains(t, toolMsg["content"], `"status":"delivered"`)
}

func TestOpenAICompatibleMidStreamErrorAndHangHandOff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(w http.ResponseWriter, r *http.Request, send func(map[string]any, string))
		error  string
	}{
		{"error event", func(w http.ResponseWriter, _ *http.Request, send func(map[string]any, string)) {
			send(map[string]any{"content": "We open at"}, "")
			fmt.Fprint(w, `data: {"error": {"message": "model overloaded", "type": "server_error"}}`+"\n\n")
			w.(http.Flusher).Flush()
		}, "model overloaded"},
		{"hang", func(w http.ResponseWriter, r *http.Request, send func(map[string]any, string)) {
			send(map[string]any{"content": "We open at"}, "")
			<-r.Context().Done() // nothing more, until the client gives up
		}, "no response from the model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, srv := newOpenAIEnv(t)
			srv.add(tc.script)
			conv := e.support(john, "")
			q := e.say(john, conv, "When do you open?")
			a := e.answer(john, conv, q)
			require.Equal(t, "We open at", a.Content, "what it said is kept")
			require.Equal(t, "error", a.Interrupted, "and marked: never left streaming")
			pgtest.Eventually(t, live, func() error {
				if e.chatState(john, conv).State != assistant.StateHandedOff {
					return errors.New("not handed off yet")
				}
				return nil
			})
			require.Equal(t, support.StateQueued, e.queueStatus(john, conv).State)
			require.Contains(t, contents(e.messages(john, conv)), "Transferred to an agent: The assistant is unavailable right now")
			runs := must[[]assistant.RunDoc](t)(e.query(admin, "shared/assistant:getAssistantRuns", map[string]any{"conversationId": conv}))
			require.Equal(t, "failed", runs[0].State)
			require.True(t, strings.Contains(*runs[0].Error, tc.error), *runs[0].Error)
		})
	}
}
