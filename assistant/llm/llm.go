// Package llm is what the assistant asks of a language model: a streamed
// chat completion with tool calls. The assistant domain (package
// assistant) runs the conversation; a Provider only turns a Request into
// a stream of text and, at its end, the tools the model wants called.
// Package oai speaks the OpenAI-compatible chat-completions API (OpenAI,
// llama.cpp, vLLM, Ollama); the assistant's built-in knowledge-base
// provider answers with no model at all.
package llm

import "context"

// Roles of a Message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one turn the model sees.
type Message struct {
	Role    string
	Content string
	// ToolCalls are the calls an assistant turn made (RoleAssistant).
	ToolCalls []ToolCall
	// ToolCallID is the call a RoleTool turn answers.
	ToolCallID string
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of its arguments (an object).
	Parameters map[string]any
}

// ToolCall is one call the model asked for.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is the JSON object the model wrote (not validated).
	Arguments string
}

// Request is one completion.
type Request struct {
	// Model names the model; empty means the provider's default.
	Model    string
	Messages []Message
	Tools    []Tool
	// MaxTokens bounds the answer; zero means the provider's default.
	MaxTokens int
}

// Usage is what a completion cost, as the provider counts it (zero when
// it does not say).
type Usage struct {
	PromptTokens     int
	CompletionTokens int
}

// Result is a finished completion: all its text, the tool calls it ended
// with (none when it answered), why it stopped ("stop", "tool_calls",
// "length", …) and its usage.
type Result struct {
	Text         string
	ToolCalls    []ToolCall
	FinishReason string
	Usage        Usage
}

// Provider streams completions. Stream calls chunk with each piece of
// text as it arrives, in order (a chunk error stops the stream and is
// returned), and returns the whole Result at the end. Cancelling ctx
// stops the provider's stream (the HTTP request is aborted) and returns
// ctx's error. A provider that stops sending for longer than its idle
// timeout fails with an error that says so, never hangs.
type Provider interface {
	Stream(ctx context.Context, r Request, chunk func(text string) error) (Result, error)
}
