package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/parley-chat/parley/assistant/llm"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/jobs"
	"github.com/parley-chat/parley/schema"
)

// replyArgs is a reply's job: the customer message it answers, and the
// customer it acts for (its tools see what they may see).
type replyArgs struct {
	ConversationID   string `json:"conversationId"`
	TriggerMessageID string `json:"triggerMessageId"`
	CustomerID       string `json:"customerId"`
	CustomerName     string `json:"customerName"`
	Role             string `json:"role"`
	Org              string `json:"org"`
}

func (replyArgs) Kind() string { return "assistant.reply" }

// A reply is tried at most three times (a node that died mid-answer, the
// database away at its end).
func (replyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueAssistant, MaxAttempts: 3}
}

type replyWorker struct {
	river.WorkerDefaults[replyArgs]
	s *Service
}

func (w *replyWorker) Timeout(*river.Job[replyArgs]) time.Duration { return w.s.LongestJob() }

func (w *replyWorker) Work(ctx context.Context, job *river.Job[replyArgs]) error {
	return w.s.reply(ctx, job.Args)
}

// Internal mutations: a reply's two transactions, before and after the
// model streams.
const (
	internalBegin  = "assistant/internal:begin"
	internalFinish = "assistant/internal:finish"
)

// beginArgs and beginResult: the reply's start.
type beginArgs struct {
	ConversationID   string `json:"conversationId"`
	TriggerMessageID string `json:"triggerMessageId"`
}

type promptMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type beginResult struct {
	// Skip: no reply (the chat is not the assistant's any more, or this
	// message was answered); SnoozeMs: try again later (another reply
	// runs, or the conversation's rate is spent).
	Skip        bool            `json:"skip"`
	SnoozeMs    int64           `json:"snoozeMs"`
	RunID       string          `json:"runId"`
	MessageID   string          `json:"messageId"`
	AssistantID string          `json:"assistantId"`
	Provider    string          `json:"provider"`
	Model       string          `json:"model"`
	Prompt      []promptMessage `json:"prompt"`
}

// finishArgs: the reply's end.
type finishArgs struct {
	ConversationID string             `json:"conversationId"`
	RunID          string             `json:"runId"`
	MessageID      string             `json:"messageId"`
	Text           string             `json:"text"`
	Parts          []chat.MessagePart `json:"parts"`
	// Outcome: done, no_answer, transfer, cancelled, failed.
	Outcome  string    `json:"outcome"`
	Cause    string    `json:"cause"`
	Error    string    `json:"error"`
	Tokens   int       `json:"tokens"`
	Steps    []step    `json:"steps"`
	Transfer *transfer `json:"transfer"`
}

// Outcomes of a reply.
const (
	outcomeDone      = "done"
	outcomeNoAnswer  = "no_answer"
	outcomeTransfer  = "transfer"
	outcomeCancelled = "cancelled"
	outcomeFailed    = "failed"
)

func (s *Service) runInternal(ctx context.Context, name string, id *functions.Identity, args any, out any) error {
	fn, err := s.internal.Lookup(name)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	v, err := fn.DecodeArgs(raw)
	if err != nil {
		return err
	}
	res, err := fn.RunMutationAdmitted(ctx, s.pool, id, v, functions.RequestKey{}, &functions.Admission{})
	if err != nil {
		return err
	}
	return json.Unmarshal(res.Value, out)
}

// reply answers one customer message: begin (a streaming message), the
// model's stream with its tool rounds, finish (the whole answer, written
// once).
func (s *Service) reply(ctx context.Context, a replyArgs) error {
	id := &functions.Identity{Subject: a.CustomerID, Name: a.CustomerName, Role: functions.Role(a.Role), Org: a.Org}
	var b beginResult
	if err := s.runInternal(ctx, internalBegin, id, beginArgs{ConversationID: a.ConversationID, TriggerMessageID: a.TriggerMessageID}, &b); err != nil {
		return err
	}
	if b.SnoozeMs > 0 {
		return river.JobSnooze(time.Duration(b.SnoozeMs) * time.Millisecond)
	}
	if b.Skip {
		return nil
	}
	st := s.streams.open(b.MessageID)
	defer s.streams.close(st)
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rctx, stop := context.WithTimeout(rctx, s.cfg.RunTimeout)
	defer stop()
	s.mu.Lock()
	s.running[a.ConversationID] = &activeRun{cancel: cancel, org: a.Org, customer: a.CustomerID}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, a.ConversationID)
		s.mu.Unlock()
	}()

	f := s.stream(rctx, id, b, st)
	f.ConversationID, f.RunID, f.MessageID = a.ConversationID, b.RunID, b.MessageID
	if f.Outcome == outcomeCancelled {
		f.Cause = causeName(context.Cause(rctx))
	}
	// The end is written even when the job's context is done (a stop):
	// a streaming message must not be left streaming.
	// The whole answer is only here: the write is tried for
	// Config.FinishRetry (the database failing over) before the job gives
	// up on it.
	var err error
	giveUp := time.Now().Add(s.cfg.FinishRetry)
	for attempt, wait := 0, 250*time.Millisecond; ; attempt, wait = attempt+1, min(2*wait, 10*time.Second) {
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), finishAttemptTimeout)
		var done struct{}
		err = s.runInternal(wctx, internalFinish, id, f, &done)
		wcancel()
		if err == nil {
			return nil
		}
		s.cfg.Logger.Warn("assistant: finish reply", slog.String("conversation", a.ConversationID), slog.Int("attempt", attempt+1), slog.Any("error", err))
		if time.Now().Add(wait).After(giveUp) {
			return fmt.Errorf("assistant: finish reply: %w", err)
		}
		time.Sleep(wait)
	}
}

// finishAttemptTimeout bounds one attempt of a reply's final write.
const finishAttemptTimeout = 10 * time.Second

// stopped reports whether err is one of the reasons the service stops a
// reply on purpose (takeover, hand-off, close, the customer left).
func stopped(err error) bool {
	return errors.Is(err, errTakeover) || errors.Is(err, errHandoff) || errors.Is(err, errClosed) || errors.Is(err, errLeft)
}

func causeName(err error) string {
	switch {
	case errors.Is(err, errTakeover):
		return "takeover"
	case errors.Is(err, errHandoff), errors.Is(err, errClosed), errors.Is(err, errLeft):
		return "cancelled"
	}
	return "error"
}

// step is one entry of a run's log.
type step struct {
	Type   string `json:"type"` // text, tool-use, tool-result, error
	Tool   string `json:"tool,omitempty"`
	Text   string `json:"text,omitempty"`
	Input  string `json:"input,omitempty"`
	Output string `json:"output,omitempty"`
}

// stream runs the model over b's prompt, tool round after tool round,
// into st, and says how it ended.
func (s *Service) stream(ctx context.Context, id *functions.Identity, b beginResult, st *stream) finishArgs {
	var provider llm.Provider
	switch b.Provider {
	case ProviderBuiltin:
		provider = s.cfg.Builtin
	case ProviderOpenAI:
		provider = s.cfg.OpenAI
	}
	steps := []step{}
	out := func(f finishArgs) finishArgs {
		f.Text, f.Parts = st.snapshot()
		f.Steps = steps
		return f
	}
	if provider == nil {
		return out(finishArgs{Outcome: outcomeFailed, Error: "no " + b.Provider + " provider is configured (--ai-base-url)"})
	}
	req := llm.Request{Model: b.Model, Tools: tools()}
	for _, m := range b.Prompt {
		req.Messages = append(req.Messages, llm.Message{Role: m.Role, Content: m.Content})
	}
	tokens := 0
	for round := 0; ; round++ {
		res, err := provider.Stream(ctx, req, func(text string) error {
			st.append(text)
			return nil
		})
		tokens += res.Usage.PromptTokens + res.Usage.CompletionTokens
		if res.Usage.CompletionTokens == 0 {
			tokens += len(res.Text) / 4
		}
		if res.Text != "" {
			steps = append(steps, step{Type: "text", Text: res.Text})
		}
		if err != nil {
			if ctx.Err() != nil && stopped(context.Cause(ctx)) {
				return out(finishArgs{Outcome: outcomeCancelled, Tokens: tokens})
			}
			// Anything else that ended the stream (the reply's timeout, the
			// node stopping) is a failure: the customer is handed to the
			// queue rather than left with half an answer.
			steps = append(steps, step{Type: "error", Text: err.Error()})
			return out(finishArgs{Outcome: outcomeFailed, Error: err.Error(), Tokens: tokens})
		}
		if len(res.ToolCalls) == 0 {
			outcome := outcomeDone
			if res.FinishReason == FinishNoAnswer {
				outcome = outcomeNoAnswer
			}
			return out(finishArgs{Outcome: outcome, Tokens: tokens})
		}
		if round >= s.cfg.ToolRounds {
			return out(finishArgs{Outcome: outcomeFailed, Error: fmt.Sprintf("the model called tools %d rounds in a row", round+1), Tokens: tokens})
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant, Content: res.Text, ToolCalls: res.ToolCalls})
		for _, call := range res.ToolCalls {
			st.addPart(chat.MessagePart{Type: "tool-use", CallID: call.ID, Tool: call.Name, Input: call.Arguments})
			steps = append(steps, step{Type: "tool-use", Tool: call.Name, Input: call.Arguments})
			r := runTool(ctx, s.pool, id, b.AssistantID, call)
			raw, _ := json.Marshal(r)
			st.addPart(chat.MessagePart{Type: "tool-result", CallID: call.ID, Tool: call.Name, Output: r.line(call.Name), Error: r.Error != ""})
			steps = append(steps, step{Type: "tool-result", Tool: call.Name, Output: string(raw)})
			if r.Transfer != nil {
				return out(finishArgs{Outcome: outcomeTransfer, Transfer: r.Transfer, Tokens: tokens})
			}
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleTool, Content: string(raw), ToolCallID: call.ID})
		}
	}
}

// begin starts a reply to a.TriggerMessageID, as its customer: checked
// again under the chat's lock (the assistant still answers, no agent
// holds it, budgets and rate left), it records the run and posts the
// streaming message.
func (s *Service) begin(c *functions.MutationCtx, a beginArgs) (beginResult, error) {
	conv, err := chat.SupportConversation(c, a.ConversationID)
	if errors.Is(err, schema.ErrNoRow) {
		return beginResult{Skip: true}, nil
	}
	if err != nil {
		return beginResult{}, err
	}
	row, err := lockChat(c.Ctx, c.Tx, conv.ID)
	if errors.Is(err, schema.ErrNoRow) {
		return beginResult{Skip: true}, nil
	}
	if err != nil {
		return beginResult{}, err
	}
	if row.state != StateActive || conv.AssignedAdminID != nil || conv.CustomerID != c.Identity().Subject {
		return beginResult{Skip: true}, nil
	}
	asst, err := assistantByID(c.Ctx, c.Tx, row.org, row.assistantID)
	if err != nil {
		return beginResult{}, err
	}
	// A run of this message already: finished (answered), or left by a
	// node that died (its message ends as interrupted, and it runs anew).
	var prevState string
	var prevMsg *string
	err = c.Tx.QueryRow(c.Ctx, `SELECT state, message_id FROM assistant_runs WHERE trigger_message_id = $1 FOR UPDATE`, a.TriggerMessageID).
		Scan(&prevState, &prevMsg)
	switch {
	case err == nil && prevState != "running":
		return beginResult{Skip: true}, nil
	case err == nil:
		if prevMsg != nil {
			if _, err := chat.AssistantFinish(c, conv.ID, *prevMsg, "", nil, "error"); err != nil {
				return beginResult{}, err
			}
		}
		if _, err := c.Tx.Exec(c.Ctx, `DELETE FROM assistant_runs WHERE trigger_message_id = $1`, a.TriggerMessageID); err != nil {
			return beginResult{}, fmt.Errorf("restart run: %w", err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return beginResult{}, fmt.Errorf("read run: %w", err)
	}
	now := c.Now()
	var others, recent, today int
	if err := c.Tx.QueryRow(c.Ctx, `SELECT
			(SELECT count(*) FROM assistant_runs WHERE conversation_id = $1 AND state = 'running' AND started_at > $2::timestamptz - $3::interval),
			(SELECT count(*) FROM assistant_runs WHERE conversation_id = $1 AND started_at > $2::timestamptz - interval '1 minute'),
			(SELECT coalesce(sum(tokens), 0) FROM assistant_runs WHERE assistant_id = $4 AND started_at >= date_trunc('day', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`,
		conv.ID, now, s.LongestJob().String(), asst.id).Scan(&others, &recent, &today); err != nil {
		return beginResult{}, fmt.Errorf("read runs: %w", err)
	}
	if others > 0 {
		return beginResult{SnoozeMs: 500}, nil // one answer at a time: this one follows
	}
	if recent >= s.cfg.RunsPerMinute {
		return beginResult{SnoozeMs: 5000}, nil
	}
	if row.tokensUsed >= asst.convBudget || today >= asst.dayBudget {
		reason := "The assistant's budget for this conversation is spent"
		if today >= asst.dayBudget {
			reason = "The assistant's budget for today is spent"
		}
		return beginResult{Skip: true}, s.handoff(c, &conv, &row, asst, reason, nil)
	}
	hist, err := chat.RecentMessages(c, conv.ID, s.cfg.History)
	if err != nil {
		return beginResult{}, err
	}
	prompt := []promptMessage{{Role: llm.RoleSystem, Content: systemPrompt(asst, conv, c.Identity())}}
	for _, m := range hist {
		switch {
		case m.Streaming || m.Content == "" || m.MessageType == "system":
		case m.SenderType == "customer":
			prompt = append(prompt, promptMessage{Role: llm.RoleUser, Content: m.Content})
		case m.SenderType == chat.SenderAssistant:
			prompt = append(prompt, promptMessage{Role: llm.RoleAssistant, Content: m.Content})
		default:
			prompt = append(prompt, promptMessage{Role: llm.RoleAssistant, Content: "[" + m.SenderName + ", support agent] " + m.Content})
		}
	}
	msgID, err := chat.AssistantPost(c, &conv, sender(asst), "", true)
	if err != nil {
		return beginResult{}, err
	}
	raw, err := json.Marshal(prompt)
	if err != nil {
		return beginResult{}, err
	}
	runID := schema.NewID("run")
	if _, err := c.Tx.Exec(c.Ctx, `INSERT INTO assistant_runs (id, org_id, conversation_id, assistant_id, store_id, trigger_message_id,
			message_id, state, prompt, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9)`,
		runID, row.org, conv.ID, asst.id, asst.storeID, a.TriggerMessageID, msgID, raw, now); err != nil {
		return beginResult{}, fmt.Errorf("record run: %w", err)
	}
	return beginResult{RunID: runID, MessageID: msgID, AssistantID: asst.id, Provider: asst.provider, Model: asst.model, Prompt: prompt}, nil
}

func systemPrompt(a assistantRow, conv chat.Conversation, customer *functions.Identity) string {
	var b strings.Builder
	fmt.Fprintf(&b, "You are %s, a customer support assistant. Answer briefly and only from the tools' results; "+
		"call transfer_chat_to_agent when the customer wants a person or you cannot help.\n", a.name)
	if a.instructions != "" {
		b.WriteString(a.instructions + "\n")
	}
	if customer.Name != "" {
		fmt.Fprintf(&b, "Customer: %s\n", customer.Name)
	}
	if conv.OrderID != nil {
		fmt.Fprintf(&b, "Order: %s\n", *conv.OrderID)
	}
	return b.String()
}

// finish writes a reply's end: the message's whole text and parts, the
// run's log, the chat's counters, and a hand-off where the reply asked
// for one, failed, or was the last failure the rules allow.
func (s *Service) finish(c *functions.MutationCtx, a finishArgs) (struct{}, error) {
	var none struct{}
	conv, err := chat.SupportConversation(c, a.ConversationID)
	if err != nil {
		return none, err
	}
	interrupted := ""
	switch a.Outcome {
	case outcomeCancelled:
		interrupted = a.Cause
	case outcomeFailed:
		interrupted = "error"
	}
	text := a.Text
	if text == "" && a.Outcome == outcomeTransfer {
		text = "Let me get you a person who can help."
	}
	if _, err := chat.AssistantFinish(c, conv.ID, a.MessageID, text, a.Parts, interrupted); err != nil {
		return none, err
	}
	state := map[string]string{outcomeDone: "done", outcomeNoAnswer: "done", outcomeTransfer: "handed_off",
		outcomeCancelled: "cancelled", outcomeFailed: "failed"}[a.Outcome]
	var errText *string
	if a.Error != "" {
		errText = &a.Error
	}
	if a.Steps == nil {
		a.Steps = []step{}
	}
	steps, err := json.Marshal(a.Steps)
	if err != nil {
		return none, err
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE assistant_runs SET state = $2, steps = $3, tokens = $4, error = $5, ended_at = $6 WHERE id = $1`,
		a.RunID, state, steps, a.Tokens, errText, c.Now()); err != nil {
		return none, fmt.Errorf("record run: %w", err)
	}
	row, err := lockChat(c.Ctx, c.Tx, conv.ID)
	if err != nil {
		return none, err
	}
	failures := 0
	if a.Outcome == outcomeNoAnswer || a.Outcome == outcomeFailed {
		failures = row.failures + 1
	}
	if _, err := c.Tx.Exec(c.Ctx, `UPDATE assistant_chats SET failures = $2, tokens_used = tokens_used + $3, updated_at = $4
		WHERE conversation_id = $1`, conv.ID, failures, a.Tokens, c.Now()); err != nil {
		return none, fmt.Errorf("record chat: %w", err)
	}
	if row.state != StateActive {
		return none, nil // taken over, or handed off, meanwhile
	}
	asst, err := assistantByID(c.Ctx, c.Tx, row.org, row.assistantID)
	if err != nil {
		return none, err
	}
	switch {
	case a.Outcome == outcomeTransfer:
		return none, s.handoff(c, &conv, &row, asst, a.Transfer.Reason, a.Transfer.Skills)
	case a.Outcome == outcomeFailed:
		s.cfg.Logger.Warn("assistant reply failed", slog.String("conversation", conv.ID), slog.String("error", a.Error))
		return none, s.handoff(c, &conv, &row, asst, "The assistant is unavailable right now", nil)
	case failures >= asst.maxFailures:
		return none, s.handoff(c, &conv, &row, asst, "The assistant could not answer", nil)
	}
	return none, nil
}

// RunDoc is one reply as agents review it: its prompt and its steps.
type RunDoc struct {
	ID               string          `json:"_id"`
	ConversationID   string          `json:"conversationId"`
	AssistantID      string          `json:"assistantId"`
	TriggerMessageID string          `json:"triggerMessageId"`
	MessageID        *string         `json:"messageId"`
	State            string          `json:"state" ts:"running|done|handed_off|cancelled|failed"`
	Prompt           json.RawMessage `json:"prompt" tstype:"{role: string, content: string}[]"`
	Steps            json.RawMessage `json:"steps" tstype:"{type: string, tool?: string, text?: string, input?: string, output?: string}[]"`
	Tokens           int             `json:"tokens"`
	Error            *string         `json:"error"`
	StartedAt        int64           `json:"startedAt"`
	EndedAt          *int64          `json:"endedAt"`
}

// MaxRunsListed bounds getAssistantRuns.
const MaxRunsListed = 50

// getAssistantRuns lists a conversation's latest replies for agents of
// its org, newest first, live.
func (s *Service) getAssistantRuns(c *functions.QueryCtx, a ConversationArgs) ([]RunDoc, error) {
	id, err := s.requireAgent(c.Identity())
	if err != nil {
		return nil, err
	}
	if err := chat.ConversationAccess(c, a.ConversationID); err != nil {
		return nil, err
	}
	c.DB.Record(schema.Dep{Table: "assistant_runs", Column: "conversation_id", Value: a.ConversationID})
	rows, err := c.DB.Querier().Query(c.Ctx, `SELECT id, conversation_id, assistant_id, trigger_message_id, message_id, state, prompt, steps,
			tokens, error, (extract(epoch FROM started_at) * 1000)::bigint, (extract(epoch FROM ended_at) * 1000)::bigint
		FROM assistant_runs WHERE conversation_id = $1 AND org_id = $2 ORDER BY started_at DESC LIMIT $3`, a.ConversationID, id.Org, MaxRunsListed)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := []RunDoc{}
	var r RunDoc
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.ConversationID, &r.AssistantID, &r.TriggerMessageID, &r.MessageID, &r.State,
		&r.Prompt, &r.Steps, &r.Tokens, &r.Error, &r.StartedAt, &r.EndedAt}, func() error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}
