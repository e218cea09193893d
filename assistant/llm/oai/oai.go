package oai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/parley-chat/parley/assistant/llm"
)

// DefaultIdleTimeout is how long a Provider waits for the next piece of a
// stream (or for the first) when Config.IdleTimeout is zero.
const DefaultIdleTimeout = 30 * time.Second

// maxErrorBody bounds how much of an HTTP error body is kept for the
// error message.
const maxErrorBody = 64 << 10

// Config configures a Provider.
type Config struct {
	// BaseURL is the API's root, the part before "/chat/completions":
	// "https://api.openai.com/v1", "http://localhost:8080/v1" (llama.cpp),
	// "http://localhost:11434/v1" (Ollama). It must be an http or https URL.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer …"; empty sends no
	// Authorization header (local servers that need no key).
	APIKey string
	// Model is the model used when a Request names none.
	Model string
	// IdleTimeout is how long the provider waits for the response to
	// start and then for each further piece of it before giving up; zero
	// means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// HTTPClient makes the requests; nil means the SDK's default client.
	HTTPClient *http.Client
}

// Provider is an llm.Provider over an OpenAI-compatible chat-completions
// API. It is safe for concurrent use.
type Provider struct {
	client openai.Client
	model  string
	idle   time.Duration
}

var _ llm.Provider = (*Provider)(nil)

// New checks cfg and returns a Provider for it.
func New(cfg Config) (*Provider, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("oai: no base URL (want e.g. https://api.openai.com/v1 or http://localhost:8080/v1)")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("oai: base URL %q: %w", cfg.BaseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("oai: base URL %q is not an http or https URL", cfg.BaseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("oai: base URL %q has no host", cfg.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("oai: base URL %q has a query or fragment; give only the API's root", cfg.BaseURL)
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, errors.New("oai: the API key contains a line break")
	}
	idle := cfg.IdleTimeout
	switch {
	case idle < 0:
		return nil, fmt.Errorf("oai: negative idle timeout %v", idle)
	case idle == 0:
		idle = DefaultIdleTimeout
	}

	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		// Always set, even empty: an empty key overrides OPENAI_API_KEY
		// from the environment and makes the SDK send no Authorization
		// header, so a key meant for OpenAI never reaches another server.
		option.WithAPIKey(cfg.APIKey),
		option.WithAdminAPIKey(""),
		option.WithHeaderDel("OpenAI-Organization"),
		option.WithHeaderDel("OpenAI-Project"),
		// A retry after part of a stream was shown would show it twice,
		// and retries before the first byte would outlast the idle
		// timeout's promise; the caller decides whether to try again.
		option.WithMaxRetries(0),
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &Provider{client: openai.NewClient(opts...), model: cfg.Model, idle: idle}, nil
}

// APIKeyFromFile reads an API key from the file at path (a mounted
// secret), without surrounding whitespace. An empty path means no key:
// "", nil. A file that cannot be read, or holds only whitespace, is an
// error naming the path.
func APIKeyFromFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("oai: reading the API key file %q: %w", path, err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("oai: the API key file %q is empty", path)
	}
	return key, nil
}

// APIError is an error the model server answered a request with: its
// HTTP status and the message it gave. It wraps the SDK's *openai.Error
// when the server's body had the OpenAI error shape.
type APIError struct {
	// StatusCode is the HTTP status (401, 404, 429, 500, …).
	StatusCode int
	// Message is the server's own explanation ("" when it gave none).
	Message string
	// Code is the server's error code or type, when it said one
	// ("invalid_api_key", "model_not_found", …).
	Code string
	err  error
}

// Error says the status and the server's message.
func (e *APIError) Error() string {
	s := fmt.Sprintf("oai: the model server answered %d", e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		s += " " + t
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	return s
}

// Unwrap returns the SDK's error, if there was one.
func (e *APIError) Unwrap() error { return e.err }

// wrapError says msg and wraps err (whose own text msg already tells).
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

// idleError is the cause an idle timer cancels a stream with.
type idleError struct{ d time.Duration }

func (e *idleError) Error() string {
	return fmt.Sprintf("oai: no response from the model for %v", e.d)
}

// Stream runs one streamed completion; see llm.Provider. On error the
// returned Result holds what had arrived (its Text was already passed to
// chunk).
func (p *Provider) Stream(ctx context.Context, r llm.Request, chunk func(text string) error) (llm.Result, error) {
	params, err := p.params(r)
	if err != nil {
		return llm.Result{}, err
	}

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := &idleError{p.idle}
	timer := time.AfterFunc(p.idle, func() { cancel(idle) })
	defer timer.Stop()

	var failed httpFailure
	stream := p.client.Chat.Completions.NewStreaming(sctx, params, option.WithMiddleware(failed.capture))
	defer stream.Close()

	var (
		res      llm.Result
		text     strings.Builder
		calls    toolCalls
		finished bool
	)
	for stream.Next() {
		// The clock runs only while waiting for the server, not while
		// chunk delivers (a slow client is not a silent model).
		timer.Stop()
		c := stream.Current()
		if c.JSON.Usage.Valid() {
			res.Usage = llm.Usage{PromptTokens: int(c.Usage.PromptTokens), CompletionTokens: int(c.Usage.CompletionTokens)}
		}
		for _, ch := range c.Choices {
			if ch.Index != 0 {
				continue // we ask for one choice
			}
			d := ch.Delta
			for _, s := range []string{d.Content, d.Refusal} {
				if s == "" {
					continue
				}
				text.WriteString(s)
				if err := chunk(s); err != nil {
					res.Text, res.ToolCalls = text.String(), calls.list()
					return res, err
				}
			}
			for _, tc := range d.ToolCalls {
				calls.add(tc)
			}
			if ch.FinishReason != "" {
				res.FinishReason = ch.FinishReason
				finished = true
			}
		}
		timer.Reset(p.idle)
	}
	timer.Stop()
	res.Text, res.ToolCalls = text.String(), calls.list()

	err = stream.Err()
	switch {
	case err == nil && finished:
		return res, nil // even if ctx ended just now: the answer is whole
	case ctx.Err() != nil:
		return res, fmt.Errorf("oai: stream stopped: %w", ctx.Err())
	case errors.Is(context.Cause(sctx), idle):
		return res, idle
	case err != nil:
		return res, streamError(err, &failed)
	}
	return res, errors.New("oai: the stream ended before the model finished (no finish_reason)")
}

// params turns r into the SDK's request.
func (p *Provider) params(r llm.Request) (openai.ChatCompletionNewParams, error) {
	model := r.Model
	if model == "" {
		model = p.model
	}
	if model == "" {
		return openai.ChatCompletionNewParams{}, errors.New("oai: no model: the request names none and Config.Model is empty")
	}
	params := openai.ChatCompletionNewParams{
		Model:         shared.ChatModel(model),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: param.NewOpt(true)},
	}
	if r.MaxTokens > 0 {
		// max_tokens, not max_completion_tokens: every compatible server
		// knows it.
		params.MaxTokens = param.NewOpt(int64(r.MaxTokens))
	}
	for i, m := range r.Messages {
		mp, err := message(m)
		if err != nil {
			return openai.ChatCompletionNewParams{}, fmt.Errorf("oai: message %d: %w", i, err)
		}
		params.Messages = append(params.Messages, mp)
	}
	for _, t := range r.Tools {
		if t.Name == "" {
			return openai.ChatCompletionNewParams{}, errors.New("oai: a tool has no name")
		}
		fd := shared.FunctionDefinitionParam{Name: t.Name, Parameters: shared.FunctionParameters(t.Parameters)}
		if fd.Parameters == nil {
			fd.Parameters = shared.FunctionParameters{"type": "object", "properties": map[string]any{}}
		}
		if t.Description != "" {
			fd.Description = param.NewOpt(t.Description)
		}
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(fd))
	}
	return params, nil
}

// message turns one llm.Message into the SDK's message.
func message(m llm.Message) (openai.ChatCompletionMessageParamUnion, error) {
	switch m.Role {
	case llm.RoleSystem:
		return openai.SystemMessage(m.Content), nil
	case llm.RoleUser:
		return openai.UserMessage(m.Content), nil
	case llm.RoleAssistant:
		var a openai.ChatCompletionAssistantMessageParam
		if m.Content != "" || len(m.ToolCalls) == 0 {
			a.Content.OfString = param.NewOpt(m.Content)
		}
		for _, tc := range m.ToolCalls {
			args := tc.Arguments
			if args == "" {
				args = "{}"
			}
			a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
				OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
					ID:       tc.ID,
					Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Name, Arguments: args},
				},
			})
		}
		return openai.ChatCompletionMessageParamUnion{OfAssistant: &a}, nil
	case llm.RoleTool:
		if m.ToolCallID == "" {
			return openai.ChatCompletionMessageParamUnion{}, errors.New("a tool message answers no tool call (empty ToolCallID)")
		}
		return openai.ToolMessage(m.Content, m.ToolCallID), nil
	}
	return openai.ChatCompletionMessageParamUnion{}, fmt.Errorf("unknown role %q", m.Role)
}

// toolCalls gathers tool calls streamed in fragments: the first fragment
// of a call carries its index, id and name, later ones (same index) more
// of its arguments.
type toolCalls struct {
	calls []llm.ToolCall
	args  []*strings.Builder
	// at maps a fragment's index to its call in calls.
	at map[int64]int
}

func (t *toolCalls) add(d openai.ChatCompletionChunkChoiceDeltaToolCall) {
	if t.at == nil {
		t.at = map[int64]int{}
	}
	i, ok := t.at[d.Index]
	// A new id at a known index is a new call: some servers send every
	// call whole at index 0.
	if !ok || (d.ID != "" && t.calls[i].ID != "" && d.ID != t.calls[i].ID) {
		i = len(t.calls)
		t.at[d.Index] = i
		t.calls = append(t.calls, llm.ToolCall{})
		t.args = append(t.args, new(strings.Builder))
	}
	c := &t.calls[i]
	if d.ID != "" {
		c.ID = d.ID
	}
	if c.Name == "" {
		c.Name = d.Function.Name // the first fragment's; some servers repeat it
	}
	t.args[i].WriteString(d.Function.Arguments)
}

func (t *toolCalls) list() []llm.ToolCall {
	if len(t.calls) == 0 {
		return nil
	}
	out := make([]llm.ToolCall, len(t.calls))
	for i, c := range t.calls {
		c.Arguments = t.args[i].String()
		out[i] = c
	}
	return out
}

// httpFailure keeps the status and body of an HTTP error response, for
// servers whose error body is not OpenAI's shape (the SDK then reports
// only that it could not decode it).
type httpFailure struct {
	status int
	body   []byte
}

func (f *httpFailure) capture(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil || res.StatusCode < 400 {
		return res, err
	}
	body, rerr := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	_ = res.Body.Close()
	if rerr != nil {
		return nil, fmt.Errorf("oai: reading the model server's %d answer: %w", res.StatusCode, rerr)
	}
	f.status, f.body = res.StatusCode, body
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// streamError explains why a stream failed.
func streamError(err error, failed *httpFailure) error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		msg, code := apiErr.Message, apiErr.Code
		if code == "" {
			code = apiErr.Type
		}
		if msg == "" && failed.status != 0 {
			msg, code = bodyMessage(failed.body)
		}
		return &APIError{StatusCode: apiErr.StatusCode, Message: msg, Code: code, err: apiErr}
	}
	if failed.status != 0 {
		msg, code := bodyMessage(failed.body)
		return &APIError{StatusCode: failed.status, Message: msg, Code: code, err: err}
	}
	var se *ssestream.StreamError
	if errors.As(err, &se) {
		msg, code := bodyMessage(se.Event.Data)
		if code != "" {
			msg += " (" + code + ")"
		}
		return &wrapError{msg: "oai: the model server sent an error mid-stream: " + msg, err: err}
	}
	return fmt.Errorf("oai: stream failed: %w", err)
}

// bodyMessage finds the message in an error body: OpenAI's
// {"error":{"message","code","type"}}, {"error":"…"} (Ollama), or
// {"message"}/{"detail"}; else the body's text.
func bodyMessage(body []byte) (msg, code string) {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		var s string
		var o struct {
			Message string          `json:"message"`
			Code    json.RawMessage `json:"code"`
			Type    string          `json:"type"`
		}
		switch {
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			return s, ""
		case json.Unmarshal(v.Error, &o) == nil && o.Message != "":
			code := strings.Trim(string(o.Code), `"`)
			if code == "" || code == "null" {
				code = o.Type
			}
			return o.Message, code
		case v.Message != "":
			return v.Message, ""
		case json.Unmarshal(v.Detail, &s) == nil && s != "":
			return s, ""
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s, ""
}
