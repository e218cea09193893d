package assistant

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/parley-chat/parley/assistant/llm"
)

// Builtin is the knowledge-base assistant: a Provider with no model,
// which `parley dev` answers support conversations with, no network and
// no key needed. It drives the same tools a model would: a question
// about an order (the conversation's, or an id in the message) calls
// get_order_status; anything else calls search_faq, and the best entry
// that covers at least half of the question's words is the answer.
// Without one it says so (a failed answer: the hand-off rules count
// them). Its answers stream word by word, WordDelay apart.
type Builtin struct {
	// WordDelay paces the streamed words. Zero streams them at once.
	WordDelay time.Duration
}

// FinishNoAnswer is the finish reason of a Builtin answer that found
// nothing confident to say.
const FinishNoAnswer = "no_answer"

// NoAnswer is what Builtin says when it has no confident answer.
const NoAnswer = "I'm not sure I can answer that."

var (
	orderWords = regexp.MustCompile(`(?i)\b(order|orders|package|parcel|shipped|shipping status|delivery status|where is|tracking|arrive|status)\b`)
	orderID    = regexp.MustCompile(`\b(?:order[_-]?|ord[_-])[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\b`)
	aboutOrder = regexp.MustCompile(`(?m)^Order: (\S+)$`)
)

// Stream implements llm.Provider.
func (b Builtin) Stream(ctx context.Context, r llm.Request, chunk func(string) error) (llm.Result, error) {
	if len(r.Messages) == 0 {
		return llm.Result{}, fmt.Errorf("builtin: no messages")
	}
	last := r.Messages[len(r.Messages)-1]
	if last.Role == llm.RoleTool {
		return b.say(ctx, b.answerFrom(r.Messages), chunk)
	}
	question := ""
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == llm.RoleUser {
			question = r.Messages[i].Content
			break
		}
	}
	if strings.TrimSpace(question) == "" {
		return b.say(ctx, "How can I help you?", chunk)
	}
	if id := b.orderIn(r, question); id != "" && orderWords.MatchString(question) {
		return call(ToolOrderStatus, map[string]string{"orderId": id}), nil
	}
	return call(ToolSearchFAQ, map[string]string{"query": question}), nil
}

// orderIn is the order a question is about: an id in it, else the
// conversation's (the system prompt's "Order:" line).
func (Builtin) orderIn(r llm.Request, question string) string {
	if m := orderID.FindString(question); m != "" {
		return m
	}
	for _, m := range r.Messages {
		if m.Role == llm.RoleSystem {
			if s := aboutOrder.FindStringSubmatch(m.Content); s != nil {
				return s[1]
			}
		}
	}
	return ""
}

func call(tool string, args map[string]string) llm.Result {
	raw, _ := json.Marshal(args)
	return llm.Result{FinishReason: "tool_calls", ToolCalls: []llm.ToolCall{{ID: "call_" + tool, Name: tool, Arguments: string(raw)}}}
}

// answerFrom composes the answer from the latest tool results.
func (Builtin) answerFrom(msgs []llm.Message) string {
	var out []string
	for i := len(msgs) - 1; i >= 0 && msgs[i].Role == llm.RoleTool; i-- {
		var res toolResult
		if json.Unmarshal([]byte(msgs[i].Content), &res) != nil {
			continue
		}
		switch {
		case res.Error != "":
			out = append(out, "Sorry — "+res.Error+".")
		case res.Order != nil:
			o := res.Order
			out = append(out, fmt.Sprintf("Your order %s from %s is %s (total %s, ordered %s).", o.ID, o.Store, o.Status, o.Total, o.Date))
		case len(res.Entries) > 0 && res.Entries[0].Confident:
			out = append(out, res.Entries[0].Answer)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, " ")
}

// say streams text word by word; empty text is a failed answer.
func (b Builtin) say(ctx context.Context, text string, chunk func(string) error) (llm.Result, error) {
	finish := "stop"
	if text == "" {
		text, finish = NoAnswer, FinishNoAnswer
	}
	words := strings.SplitAfter(text, " ")
	for _, w := range words {
		if b.WordDelay > 0 {
			select {
			case <-ctx.Done():
				return llm.Result{}, ctx.Err()
			case <-time.After(b.WordDelay):
			}
		} else if ctx.Err() != nil {
			return llm.Result{}, ctx.Err()
		}
		if err := chunk(w); err != nil {
			return llm.Result{}, err
		}
	}
	return llm.Result{Text: text, FinishReason: finish, Usage: llm.Usage{CompletionTokens: len(words)}}, nil
}
