package assistant_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/assistant"
	"github.com/parley-chat/parley/assistant/llm"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/server"
	"github.com/parley-chat/parley/internal/syncclient"
	"github.com/parley-chat/parley/support"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	john      = parleytest.John
	jane      = parleytest.Jane
	staff     = parleytest.PizzaStaff
	admin     = parleytest.Admin
	acmeAdmin = functions.Identity{Subject: "admin-acme", Role: functions.RoleAdmin, Name: "Acme Support", Org: "acme"}
)

// live bounds how long a pushed change may take on a loaded machine.
const live = 10 * time.Second

type env struct {
	t testing.TB
	s *parleytest.Server
}

// newEnv starts a server whose "openai" assistants answer with provider
// (nil: none configured) and whose built-in one streams at once.
func newEnv(t testing.TB, provider llm.Provider, configure ...func(*assistant.Config)) *env {
	s := parleytest.StartConfigured(t, func(cfg *server.Config) {
		cfg.Support = support.Config{HeartbeatsPerSecond: -1}
		cfg.Support.Timers.Interval = -1
		cfg.Assistant = assistant.Config{OpenAI: provider, FlushInterval: 20 * time.Millisecond}
		for _, c := range configure {
			c(&cfg.Assistant)
		}
	})
	e := &env{t: t, s: s}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// What the reply jobs said, for the failure's reader.
		rows, err := s.DB.Query(context.Background(), `SELECT state, coalesce(errors::text, '') FROM river_job WHERE kind = 'assistant.reply'`)
		if err != nil {
			return
		}
		defer rows.Close()
		for rows.Next() {
			var state, errs string
			if rows.Scan(&state, &errs) == nil {
				t.Logf("reply job %s: %.500s", state, errs)
			}
		}
	})
	return e
}

func identity(id functions.Identity) *functions.Identity {
	if id.Subject == "" {
		return nil
	}
	return &id
}

func (e *env) query(id functions.Identity, name string, args any) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	return e.s.Server.Engine.Query(context.Background(), name, raw, identity(id))
}

func (e *env) mutate(id functions.Identity, name string, args any) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	require.NoError(e.t, err)
	res, err := e.s.Server.Engine.Mutate(context.Background(), name, raw, identity(id), functions.RequestKey{})
	return res.Value, err
}

func must[T any](t testing.TB) func(json.RawMessage, error) T { return parleytest.Must[T](t) }

func status(t testing.TB, err error) int { t.Helper(); return parleytest.Status(t, err) }

// faq is the demo knowledge the tests configure.
var faq = []map[string]string{
	{"question": "How long does shipping take?", "answer": "Shipping takes 3 to 5 business days."},
	{"question": "How do I return an item?", "answer": "Returns are free within 30 days: start one from your orders page."},
}

// configure gives the default org an assistant of provider with args
// added to the defaults.
func (e *env) configure(provider string, args map[string]any) assistant.AssistantDoc {
	e.t.Helper()
	a := map[string]any{"name": "Parley Bot", "greeting": "Hi! I'm Parley Bot.", "provider": provider, "knowledge": faq}
	for k, v := range args {
		a[k] = v
	}
	return must[assistant.AssistantDoc](e.t)(e.mutate(admin, "shared/assistant:upsertAssistant", a))
}

// support opens id's support conversation (about orderID, "" none).
func (e *env) support(id functions.Identity, orderID string) string {
	e.t.Helper()
	args := map[string]any{}
	if orderID != "" {
		args["orderId"] = orderID
	}
	ref := must[chat.ConversationRef](e.t)(e.mutate(id, "shared/chat:createOrGetConversation", args))
	return ref.ConversationID
}

func (e *env) say(id functions.Identity, convID, text string) string {
	e.t.Helper()
	return must[string](e.t)(e.mutate(id, "shared/chat:sendMessage", map[string]any{"conversationId": convID, "content": text, "messageType": "text"}))
}

func (e *env) messages(id functions.Identity, convID string) []chat.MessageDoc {
	e.t.Helper()
	page := must[chat.MessagePage](e.t)(e.query(id, "shared/chat:getMessages", map[string]any{"conversationId": convID}))
	return page.Messages
}

// answer waits until the conversation's newest message is an assistant
// answer that finished, and returns it.
func (e *env) answer(id functions.Identity, convID string, after string) chat.MessageDoc {
	e.t.Helper()
	var out chat.MessageDoc
	pgtest.Eventually(e.t, live, func() error {
		for _, m := range e.messages(id, convID) {
			if m.ID == after {
				break
			}
			if m.SenderType == chat.SenderAssistant && !m.Streaming {
				out = m
				return nil
			}
		}
		return errors.New("no finished answer yet")
	})
	return out
}

// chatState reads who answers convID.
func (e *env) chatState(id functions.Identity, convID string) assistant.ChatAssistant {
	e.t.Helper()
	return must[assistant.ChatAssistant](e.t)(e.query(id, "shared/assistant:getChatAssistant", map[string]any{"conversationId": convID}))
}

func (e *env) queueStatus(id functions.Identity, convID string) support.QueueStatus {
	e.t.Helper()
	return must[support.QueueStatus](e.t)(e.query(id, "shared/support:getMyQueueStatus", map[string]any{"conversationId": convID}))
}

// replyJobs counts the reply jobs queued for message msgID.
func (e *env) replyJobs(msgID string) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.s.DB.QueryRow(context.Background(), `SELECT count(*) FROM river_job
		WHERE kind = 'assistant.reply' AND args->>'triggerMessageId' = $1`, msgID).Scan(&n))
	return n
}

func contents(msgs []chat.MessageDoc) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Content
	}
	return out
}

// watch subscribes c to a query and returns a function that waits until
// its result satisfies ok.
func watch[T any](t testing.TB, c *syncclient.Client, name string, args any) func(what string, ok func(T) bool) T {
	return parleytest.Watch[T](t, c, live, name, args)
}

// scripted is a model whose stream the test drives: each Stream call
// takes the next turn from turns, sends its chunks as the test releases
// them, and ends as the turn says. It records the requests it got and
// whether a stream saw its context cancelled.
type scripted struct {
	turns chan turn
	mu    sync.Mutex
	reqs  []llm.Request
	// cancelled receives a stream's context error when it is cancelled.
	cancelled chan error
}

type turn struct {
	chunks chan string // closed: the text is complete
	result llm.Result  // tool calls, finish reason
	err    error       // returned after the chunks
	hang   bool        // after the chunks, wait for cancellation
}

func newScripted() *scripted {
	return &scripted{turns: make(chan turn, 8), cancelled: make(chan error, 8)}
}

func (p *scripted) Stream(ctx context.Context, r llm.Request, chunk func(string) error) (llm.Result, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, r)
	p.mu.Unlock()
	var tn turn
	select {
	case tn = <-p.turns:
	case <-ctx.Done():
		p.cancelled <- ctx.Err()
		return llm.Result{}, ctx.Err()
	}
	var text strings.Builder
	for {
		select {
		case c, ok := <-tn.chunks:
			if !ok {
				if tn.hang {
					<-ctx.Done()
					p.cancelled <- ctx.Err()
					return llm.Result{Text: text.String()}, ctx.Err()
				}
				res := tn.result
				res.Text = text.String()
				return res, tn.err
			}
			text.WriteString(c)
			if err := chunk(c); err != nil {
				return llm.Result{}, err
			}
		case <-ctx.Done():
			p.cancelled <- ctx.Err()
			return llm.Result{Text: text.String()}, ctx.Err()
		}
	}
}

func (p *scripted) requests() []llm.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]llm.Request(nil), p.reqs...)
}

// text is a turn of fixed chunks, sent at once.
func text(chunks ...string) turn {
	ch := make(chan string, len(chunks))
	for _, c := range chunks {
		ch <- c
	}
	close(ch)
	return turn{chunks: ch, result: llm.Result{FinishReason: "stop"}}
}
