package oai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/assistant/llm"
	"github.com/parley-chat/parley/assistant/llm/oai"
)

// received is one request the test server got.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   map[string]any
	Raw    string
}

// server is a real HTTP server speaking the OpenAI chat-completions wire
// format; handle writes each response.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec := received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Raw: string(raw)}
		if err := json.Unmarshal(raw, &rec.Body); err != nil {
			http.Error(w, "bad json: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.reqs...)
}

func (s *server) provider(t *testing.T, cfg oai.Config) *oai.Provider {
	t.Helper()
	cfg.BaseURL = s.URL + "/v1"
	if cfg.Model == "" {
		cfg.Model = "test-model"
	}
	p, err := oai.New(cfg)
	require.NoError(t, err)
	return p
}

// startSSE writes the headers of an event stream.
func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

// event writes one "data: …" event and flushes it.
func event(w http.ResponseWriter, v any) {
	var data []byte
	if s, ok := v.(string); ok {
		data = []byte(s)
	} else {
		var err error
		if data, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	fmt.Fprintf(w, "data: %s\n\n", data)
	w.(http.Flusher).Flush()
}

func done(w http.ResponseWriter) { event(w, "[DONE]") }

// chunk is a chat.completion.chunk with one choice.
func chunk(delta map[string]any, finish any) map[string]any {
	return map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
	}
}

func text(s string) map[string]any { return chunk(map[string]any{"content": s}, nil) }

func finish(reason string) map[string]any { return chunk(map[string]any{}, reason) }

func usage(prompt, completion int) map[string]any {
	return map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "test-model",
		"choices": []any{},
		"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	}
}

// toolDelta is a fragment of tool call index: id and name only when not
// empty.
func toolDelta(index int, id, name, args string) map[string]any {
	fn := map[string]any{"arguments": args}
	tc := map[string]any{"index": index, "function": fn}
	if id != "" {
		tc["id"] = id
		tc["type"] = "function"
	}
	if name != "" {
		fn["name"] = name
	}
	return chunk(map[string]any{"tool_calls": []any{tc}}, nil)
}

// collect returns a chunk callback that records the chunks.
func collect() (*[]string, func(string) error) {
	var got []string
	return &got, func(s string) error { got = append(got, s); return nil }
}

// jsonOf re-marshals v (a decoded request field) for exact comparison.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

var weatherTool = llm.Tool{
	Name:        "get_weather",
	Description: "The weather in a city.",
	Parameters: map[string]any{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []any{"city"},
	},
}

func TestStreamText(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		event(w, chunk(map[string]any{"role": "assistant", "content": ""}, nil))
		event(w, text("Hel"))
		event(w, text("lo, "))
		event(w, text("world"))
		event(w, finish("stop"))
		event(w, usage(12, 3))
		done(w)
	})
	p := s.provider(t, oai.Config{APIKey: "sk-test"})

	got, cb := collect()
	res, err := p.Stream(context.Background(), llm.Request{
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You are helpful."},
			{Role: llm.RoleUser, Content: "Say hello."},
		},
		Tools:     []llm.Tool{weatherTool},
		MaxTokens: 100,
	}, cb)
	require.NoError(t, err)
	assert.Equal(t, []string{"Hel", "lo, ", "world"}, *got)
	assert.Equal(t, llm.Result{
		Text:         "Hello, world",
		FinishReason: "stop",
		Usage:        llm.Usage{PromptTokens: 12, CompletionTokens: 3},
	}, res)

	reqs := s.requests()
	require.Len(t, reqs, 1)
	req := reqs[0]
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, "/v1/chat/completions", req.Path)
	assert.Equal(t, "Bearer sk-test", req.Header.Get("Authorization"))
	assert.Equal(t, "test-model", req.Body["model"])
	assert.Equal(t, true, req.Body["stream"])
	assert.Equal(t, `{"include_usage":true}`, jsonOf(t, req.Body["stream_options"]))
	assert.Equal(t, float64(100), req.Body["max_tokens"])
	assert.Equal(t,
		`[{"content":"You are helpful.","role":"system"},{"content":"Say hello.","role":"user"}]`,
		jsonOf(t, req.Body["messages"]))
	assert.Equal(t,
		`[{"function":{"description":"The weather in a city.","name":"get_weather",`+
			`"parameters":{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}},"type":"function"}]`,
		jsonOf(t, req.Body["tools"]))
}

// A request's own model wins over Config.Model; no tools means no
// "tools" field, and a request with no model at all is refused before
// anything is sent.
func TestStreamModel(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		event(w, text("ok"))
		event(w, finish("stop"))
		done(w)
	})
	p := s.provider(t, oai.Config{Model: "default-model"})
	_, err := p.Stream(context.Background(), llm.Request{
		Model:    "other-model",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
	}, func(string) error { return nil })
	require.NoError(t, err)
	reqs := s.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "other-model", reqs[0].Body["model"])
	assert.NotContains(t, reqs[0].Body, "tools")
	assert.NotContains(t, reqs[0].Body, "max_tokens")

	noModel, err := oai.New(oai.Config{BaseURL: s.URL + "/v1"})
	require.NoError(t, err)
	_, err = noModel.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}},
		func(string) error { return nil })
	require.EqualError(t, err, "oai: no model: the request names none and Config.Model is empty")
	assert.Len(t, s.requests(), 1)
}

// A server that needs no key, and refuses any Authorization header: an
// empty APIKey sends none, even with OPENAI_API_KEY in the environment.
// It also sends no usage, which is no error.
func TestStreamNoKey(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment")
	t.Setenv("OPENAI_ADMIN_KEY", "sk-admin-from-the-environment")
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Values("Authorization"); len(a) != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"unexpected Authorization %q","type":"invalid_request_error"}}`, a)
			return
		}
		startSSE(w)
		event(w, text("local "))
		event(w, text("answer"))
		event(w, finish("stop"))
		done(w)
	})
	p := s.provider(t, oai.Config{})
	got, cb := collect()
	res, err := p.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, cb)
	require.NoError(t, err)
	assert.Equal(t, []string{"local ", "answer"}, *got)
	assert.Equal(t, llm.Result{Text: "local answer", FinishReason: "stop"}, res)
	reqs := s.requests()
	require.Len(t, reqs, 1)
	assert.Empty(t, reqs[0].Header.Values("Authorization"))
}

func TestStreamToolCalls(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		event(w, chunk(map[string]any{"role": "assistant", "content": "Let me check."}, nil))
		event(w, toolDelta(0, "call_a", "get_weather", ""))
		event(w, toolDelta(1, "call_b", "get_time", ""))
		event(w, toolDelta(0, "", "", `{"ci`))
		event(w, toolDelta(1, "", "", `{"tz":`))
		event(w, toolDelta(0, "", "", `ty":"Pa`))
		event(w, toolDelta(1, "", "", `"UTC"}`))
		event(w, toolDelta(0, "", "", `ris"}`))
		event(w, finish("tool_calls"))
		event(w, usage(40, 25))
		done(w)
	})
	p := s.provider(t, oai.Config{APIKey: "k"})
	got, cb := collect()
	res, err := p.Stream(context.Background(), llm.Request{
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "Weather and time?"}},
		Tools:    []llm.Tool{weatherTool, {Name: "get_time", Description: "The time in a zone."}},
	}, cb)
	require.NoError(t, err)
	assert.Equal(t, []string{"Let me check."}, *got)
	assert.Equal(t, llm.Result{
		Text: "Let me check.",
		ToolCalls: []llm.ToolCall{
			{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris"}`},
			{ID: "call_b", Name: "get_time", Arguments: `{"tz":"UTC"}`},
		},
		FinishReason: "tool_calls",
		Usage:        llm.Usage{PromptTokens: 40, CompletionTokens: 25},
	}, res)
	reqs := s.requests()
	require.Len(t, reqs, 1)
	// A tool with no parameters still gets an (empty) object schema.
	assert.Equal(t,
		`{"function":{"description":"The time in a zone.","name":"get_time","parameters":{"properties":{},"type":"object"}},"type":"function"}`,
		jsonOf(t, reqs[0].Body["tools"].([]any)[1]))

	// The follow-up carries the assistant's calls and the tools' answers.
	_, err = p.Stream(context.Background(), llm.Request{
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "Weather and time?"},
			{Role: llm.RoleAssistant, ToolCalls: res.ToolCalls},
			{Role: llm.RoleTool, ToolCallID: "call_a", Content: "18°C, sunny"},
			{Role: llm.RoleTool, ToolCallID: "call_b", Content: "14:05"},
			{Role: llm.RoleAssistant, Content: "Earlier answer."},
		},
	}, func(string) error { return nil })
	require.NoError(t, err)
	reqs = s.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, `[`+
		`{"content":"Weather and time?","role":"user"},`+
		`{"role":"assistant","tool_calls":[`+
		`{"function":{"arguments":"{\"city\":\"Paris\"}","name":"get_weather"},"id":"call_a","type":"function"},`+
		`{"function":{"arguments":"{\"tz\":\"UTC\"}","name":"get_time"},"id":"call_b","type":"function"}]},`+
		`{"content":"18°C, sunny","role":"tool","tool_call_id":"call_a"},`+
		`{"content":"14:05","role":"tool","tool_call_id":"call_b"},`+
		`{"content":"Earlier answer.","role":"assistant"}]`,
		jsonOf(t, reqs[1].Body["messages"]))
}

// Some servers send each call whole, all at index 0: a new id is a new
// call.
func TestStreamToolCallsSameIndex(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		event(w, toolDelta(0, "call_1", "get_weather", `{"city":"Oslo"}`))
		event(w, toolDelta(0, "call_2", "get_weather", `{"city":"Rome"}`))
		event(w, finish("tool_calls"))
		done(w)
	})
	p := s.provider(t, oai.Config{})
	res, err := p.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "?"}}},
		func(string) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, []llm.ToolCall{
		{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`},
		{ID: "call_2", Name: "get_weather", Arguments: `{"city":"Rome"}`},
	}, res.ToolCalls)
}

func TestStreamMidStreamFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		end     func(w http.ResponseWriter)
		wantErr string
	}{
		{
			name: "error event",
			end: func(w http.ResponseWriter) {
				event(w, map[string]any{"error": map[string]any{"message": "the model crashed", "type": "server_error"}})
			},
			wantErr: "oai: the model server sent an error mid-stream: the model crashed (server_error)",
		},
		{
			name: "connection dropped",
			// The handler's panic makes the server close the connection
			// with the chunked body unfinished.
			end:     func(w http.ResponseWriter) { panic(http.ErrAbortHandler) },
			wantErr: "oai: stream failed: unexpected EOF",
		},
		{
			name:    "stream ends cleanly before finish_reason",
			end:     func(w http.ResponseWriter) {},
			wantErr: "oai: the stream ended before the model finished (no finish_reason)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				startSSE(w)
				event(w, text("one "))
				event(w, text("two"))
				tc.end(w)
			})
			p := s.provider(t, oai.Config{})
			got, cb := collect()
			res, err := p.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "?"}}}, cb)
			require.EqualError(t, err, tc.wantErr)
			assert.Equal(t, []string{"one ", "two"}, *got)
			assert.Equal(t, "one two", res.Text)
			assert.Len(t, s.requests(), 1, "no retry")
		})
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(w http.ResponseWriter)
		chunks []string
	}{
		{name: "before the first byte", before: func(w http.ResponseWriter) {}},
		{name: "after the headers", before: startSSE},
		{name: "mid-stream", before: func(w http.ResponseWriter) { startSSE(w); event(w, text("partial")) }, chunks: []string{"partial"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				tc.before(w)
				<-r.Context().Done() // hang until the client gives up
			})
			p := s.provider(t, oai.Config{IdleTimeout: 200 * time.Millisecond})
			got, cb := collect()
			_, err := p.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "?"}}}, cb)
			require.EqualError(t, err, "oai: no response from the model for 200ms")
			assert.False(t, errors.Is(err, context.Canceled))
			assert.Equal(t, tc.chunks, *got)
		})
	}
}

// Cancelling ctx while the server hangs returns at once with ctx's error
// (the idle timeout is far away).
func TestStreamCancel(t *testing.T) {
	t.Run("before the first byte", func(t *testing.T) {
		arrived := make(chan struct{})
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done()
		})
		p := s.provider(t, oai.Config{IdleTimeout: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		_, err := p.Stream(ctx, llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "?"}}},
			func(string) error { return nil })
		require.ErrorIs(t, err, context.Canceled)
		assert.EqualError(t, err, "oai: stream stopped: context canceled")
	})
	t.Run("mid-stream", func(t *testing.T) {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			event(w, text("partial"))
			<-r.Context().Done()
		})
		p := s.provider(t, oai.Config{IdleTimeout: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		var got []string
		res, err := p.Stream(ctx, llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "?"}}},
			func(s string) error { got = append(got, s); cancel(); return nil })
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, []string{"partial"}, got)
		assert.Equal(t, "partial", res.Text)
	})
}

func TestStreamHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		wantErr     string
		wantCode    string
	}{
		{
			name: "401 bad key", status: 401, contentType: "application/json",
			body:    `{"error":{"message":"Incorrect API key provided: sk-bad.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			wantErr: "oai: the model server answered 401 Unauthorized: Incorrect API key provided: sk-bad. (invalid_api_key)", wantCode: "invalid_api_key",
		},
		{
			name: "404 model not found", status: 404, contentType: "application/json",
			body:    `{"error":{"message":"The model 'nope' does not exist","type":"invalid_request_error","param":"model","code":"model_not_found"}}`,
			wantErr: "oai: the model server answered 404 Not Found: The model 'nope' does not exist (model_not_found)", wantCode: "model_not_found",
		},
		{
			name: "429 rate limited", status: 429, contentType: "application/json",
			body:    `{"error":{"message":"Rate limit reached","type":"requests","code":null}}`,
			wantErr: "oai: the model server answered 429 Too Many Requests: Rate limit reached (requests)", wantCode: "requests",
		},
		{
			name: "500 OpenAI-style", status: 500, contentType: "application/json",
			body:    `{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}`,
			wantErr: "oai: the model server answered 500 Internal Server Error: The server had an error while processing your request. (server_error)", wantCode: "server_error",
		},
		{
			name: "404 Ollama-style", status: 404, contentType: "application/json",
			body:    `{"error":"model \"llama9\" not found, try pulling it first"}`,
			wantErr: `oai: the model server answered 404 Not Found: model "llama9" not found, try pulling it first`,
		},
		{
			name: "502 plain text", status: 502, contentType: "text/plain",
			body:    "upstream exploded\n",
			wantErr: "oai: the model server answered 502 Bad Gateway: upstream exploded",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			p := s.provider(t, oai.Config{APIKey: "sk-bad"})
			_, err := p.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "?"}}},
				func(string) error { t.Error("chunk called"); return nil })
			require.EqualError(t, err, tc.wantErr)
			var apiErr *oai.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.status, apiErr.StatusCode)
			assert.Equal(t, tc.wantCode, apiErr.Code)
			assert.Len(t, s.requests(), 1, "no retry")
		})
	}
}

func TestStreamChunkError(t *testing.T) {
	stop := errors.New("the client went away")
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		for _, c := range []string{"a", "b", "c", "d"} {
			event(w, text(c))
		}
		event(w, finish("stop"))
		done(w)
	})
	p := s.provider(t, oai.Config{})
	var got []string
	res, err := p.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "?"}}},
		func(s string) error {
			got = append(got, s)
			if len(got) == 2 {
				return stop
			}
			return nil
		})
	require.ErrorIs(t, err, stop)
	assert.Same(t, stop, err)
	assert.Equal(t, []string{"a", "b"}, got)
	assert.Equal(t, "ab", res.Text)
	assert.Empty(t, res.FinishReason)
}

func TestStreamBadMessages(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") })
	p := s.provider(t, oai.Config{})
	for _, tc := range []struct {
		msg     llm.Message
		wantErr string
	}{
		{llm.Message{Role: "narrator", Content: "x"}, `oai: message 1: unknown role "narrator"`},
		{llm.Message{Role: llm.RoleTool, Content: "x"}, "oai: message 1: a tool message answers no tool call (empty ToolCallID)"},
	} {
		_, err := p.Stream(context.Background(), llm.Request{
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}, tc.msg},
		}, func(string) error { return nil })
		assert.EqualError(t, err, tc.wantErr)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		cfg     oai.Config
		wantErr string
	}{
		{oai.Config{}, "oai: no base URL (want e.g. https://api.openai.com/v1 or http://localhost:8080/v1)"},
		{oai.Config{BaseURL: "localhost:8080/v1"}, `oai: base URL "localhost:8080/v1" is not an http or https URL`},
		{oai.Config{BaseURL: "ftp://example.com/v1"}, `oai: base URL "ftp://example.com/v1" is not an http or https URL`},
		{oai.Config{BaseURL: "http:///v1"}, `oai: base URL "http:///v1" has no host`},
		{oai.Config{BaseURL: "http://a b/v1"}, `oai: base URL "http://a b/v1": parse "http://a b/v1": invalid character " " in host name`},
		{oai.Config{BaseURL: "http://localhost/v1?x=1"}, `oai: base URL "http://localhost/v1?x=1" has a query or fragment; give only the API's root`},
		{oai.Config{BaseURL: "http://localhost/v1", IdleTimeout: -time.Second}, "oai: negative idle timeout -1s"},
		{oai.Config{BaseURL: "http://localhost/v1", APIKey: "sk\n"}, "oai: the API key contains a line break"},
	} {
		_, err := oai.New(tc.cfg)
		assert.EqualError(t, err, tc.wantErr, "%+v", tc.cfg)
	}
	for _, base := range []string{"https://api.openai.com/v1", "http://localhost:11434/v1/", "http://127.0.0.1:8080"} {
		p, err := oai.New(oai.Config{BaseURL: base, HTTPClient: &http.Client{}})
		assert.NoError(t, err, base)
		assert.NotNil(t, p)
	}
}

// Config.HTTPClient makes the requests.
func TestHTTPClient(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		event(w, text("x"))
		event(w, finish("stop"))
		done(w)
	})
	var rt countingTransport
	p := s.provider(t, oai.Config{HTTPClient: &http.Client{Transport: &rt}})
	_, err := p.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "?"}}},
		func(string) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, 1, rt.n)
}

type countingTransport struct{ n int }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return http.DefaultTransport.RoundTrip(r)
}

func TestAPIKeyFromFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}

	key, err := oai.APIKeyFromFile(write("key", "  sk-abc123\n\n"))
	require.NoError(t, err)
	assert.Equal(t, "sk-abc123", key)

	key, err = oai.APIKeyFromFile("")
	require.NoError(t, err)
	assert.Equal(t, "", key)

	missing := filepath.Join(dir, "missing")
	_, err = oai.APIKeyFromFile(missing)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.EqualError(t, err, fmt.Sprintf("oai: reading the API key file %q: open %s: no such file or directory", missing, missing))

	blank := write("blank", " \n\t\n")
	_, err = oai.APIKeyFromFile(blank)
	assert.EqualError(t, err, fmt.Sprintf("oai: the API key file %q is empty", blank))
}
