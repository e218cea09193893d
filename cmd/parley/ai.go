package main

import (
	"flag"
	"os"
	"time"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/assistant/llm/oai"
	"github.com/parley-chat/parley/internal/server"
)

// aiOptions are the AI assistant's flags of dev and serve.
type aiOptions struct {
	baseURL, model, keyFile string
	idle, flush, wordDelay  time.Duration
	reply, finishRetry      time.Duration
	demo                    bool // dev only: the built-in demo assistant
}

func aiFlags(fl *flag.FlagSet, serve bool) *aiOptions {
	o := &aiOptions{}
	fl.StringVar(&o.baseURL, "ai-base-url", os.Getenv("PARLEY_AI_BASE_URL"),
		"OpenAI-compatible API that assistants of provider \"openai\" use, up to /chat/completions: https://api.openai.com/v1, "+
			"http://localhost:11434/v1 (Ollama), http://localhost:8080/v1 (llama.cpp) (env PARLEY_AI_BASE_URL); empty: such assistants hand off")
	fl.StringVar(&o.model, "ai-model", os.Getenv("PARLEY_AI_MODEL"), "model of assistants that name none (env PARLEY_AI_MODEL)")
	fl.StringVar(&o.keyFile, "ai-api-key-file", os.Getenv("PARLEY_AI_API_KEY_FILE"),
		"file holding the API key of --ai-base-url (env PARLEY_AI_API_KEY_FILE); none: no Authorization header")
	fl.DurationVar(&o.idle, "ai-idle-timeout", oai.DefaultIdleTimeout, "how long the model may send nothing before its reply fails (and hands off)")
	fl.DurationVar(&o.flush, "ai-flush-interval", assistant.DefaultFlushInterval,
		"least time between two pushes of a growing answer to its viewers (tokens in between are coalesced)")
	fl.DurationVar(&o.reply, "ai-reply-timeout", assistant.DefaultRunTimeout, "bound of one assistant reply, its tool calls included (past it: a failed reply, handed off)")
	fl.DurationVar(&o.finishRetry, "ai-finish-retry", assistant.DefaultFinishRetry,
		"how long a reply's final write is retried while the database is away; a reply job's timeout is --ai-reply-timeout + this + 10s, which --jobs-rescue-after must exceed")
	fl.DurationVar(&o.wordDelay, "ai-builtin-word-delay", assistant.DefaultWordDelay, "pace of the built-in assistant's streamed words")
	if !serve {
		fl.BoolVar(&o.demo, "ai-demo", true,
			"give the default org the built-in knowledge-base assistant with demo FAQ entries, if it has no assistant")
	}
	return o
}

// apply configures cfg's assistant from the flags.
func (o *aiOptions) apply(cfg *server.Config) error {
	cfg.Assistant.FlushInterval, cfg.Assistant.RunTimeout, cfg.Assistant.FinishRetry = o.flush, o.reply, o.finishRetry
	cfg.Assistant.Builtin = assistant.Builtin{WordDelay: o.wordDelay}
	if o.baseURL == "" {
		return nil
	}
	key, err := oai.APIKeyFromFile(o.keyFile)
	if err != nil {
		return err
	}
	p, err := oai.New(oai.Config{BaseURL: o.baseURL, APIKey: key, Model: o.model, IdleTimeout: o.idle})
	if err != nil {
		return err
	}
	cfg.Assistant.OpenAI = p
	return nil
}
