// Package oai is an llm.Provider that speaks the OpenAI-compatible
// chat-completions API (OpenAI, llama.cpp's server, vLLM, Ollama, …) over
// a streamed request, through the maintained SDK
// github.com/openai/openai-go/v3.
//
// A Provider sends one POST {BaseURL}/chat/completions with "stream": true
// (and stream_options.include_usage, which servers that do not count
// usage ignore), calls the chunk callback with each piece of text as it
// arrives, gathers the tool calls the model streams in fragments, and
// returns the whole llm.Result when the model finishes.
//
// It never hangs: a server that sends nothing for Config.IdleTimeout —
// before its first byte or in the middle of a stream — is abandoned with
// an error that says so. It never retries: a failed request is reported
// at once (the SDK's automatic retries are off), so a caller that already
// showed part of an answer never sees it twice.
//
// An empty Config.APIKey sends no Authorization header at all (and
// ignores OPENAI_API_KEY in the environment), which is what local servers
// that need no key expect.
package oai
