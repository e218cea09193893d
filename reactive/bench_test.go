package reactive

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/schema"
)

// The engine's hot paths without a database: what one write costs between
// the change arriving and the sessions' transitions being built. Encoding
// transitions for the wire is measured in reactive/transport; whole-system
// load is `parley bench`.

// messagePage returns a getMessages result of at least size bytes, encoded
// the way runOne encodes results (json.Marshal).
func messagePage(size, seed int) json.RawMessage {
	var page chat.MessagePage
	for i := 0; ; i++ {
		page.Messages = append(page.Messages, chat.MessageDoc{
			ID: fmt.Sprintf("m%015d", seed+i), CreationTime: 1.7e12 + float64(i), ConversationID: "c000000000000001",
			SenderID: "u000000000000001", SenderType: "customer", SenderName: "Ada Lovelace", MessageType: "text",
			Content: fmt.Sprintf("Message %d: \"is the order <shipped>?\" — ok 👍", i),
		})
		b, err := json.Marshal(page)
		if err != nil {
			panic(err)
		}
		if len(b) >= size {
			return b
		}
	}
}

var benchSizes = []struct {
	name string
	size int
}{{"1KB", 1 << 10}, {"10KB", 10 << 10}, {"100KB", 100 << 10}}

// BenchmarkDecodeCanonical measures what each run pays to make its
// arguments from the instance's canonical JSON, which is all an instance
// keeps of them.
func BenchmarkDecodeCanonical(b *testing.B) {
	reg := functions.NewRegistry()
	chat.Register(reg, chat.Config{})
	fn, err := reg.Lookup("shared/chat:getMessages")
	if err != nil {
		b.Fatal(err)
	}
	args, err := fn.DecodeArgs(json.RawMessage(`{"conversationId":"c000000000000001","limit":20}`))
	if err != nil {
		b.Fatal(err)
	}
	canon, err := canonicalArgs(args)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeCanonical(fn, canon); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResultHash measures newResult, run once per re-run instance to
// decide whether its subscribers are sent anything.
func BenchmarkResultHash(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("value="+sz.name, func(b *testing.B) {
			v := messagePage(sz.size, 0)
			b.SetBytes(int64(len(v)))
			b.ReportAllocs()
			for b.Loop() {
				newResult(v, nil, `{"cursor":"m000000000000042"}`)
			}
		})
	}
	b.Run("error", func(b *testing.B) {
		err := &functions.Error{Status: 429, Code: functions.CodeRateLimited, Message: "Too many messages",
			Data: map[string]any{"retryAfterMs": 1500}}
		b.ReportAllocs()
		for b.Loop() {
			newResult(nil, err, "")
		}
	})
}

// messageRow is a messages row as pgoutput delivers it with REPLICA
// IDENTITY FULL: every column of the table (schema/migrations), text format.
func messageRow(id, conv string, read bool) []Column {
	row := []Column{
		col("id", id), col("conversation_id", conv), col("sender_id", "u000000000000001"),
		col("sender_type", "customer"), col("message_type", "text"),
		col("content", "Hello, is my order on its way? It was due yesterday."),
		{Name: "image_file_id", Null: true}, col("is_read", "f"), {Name: "read_at", Null: true},
		col("is_deleted", "f"), {Name: "deleted_at", Null: true}, {Name: "deleted_by", Null: true},
		col("created_at", "2025-06-01 12:00:00.123456+00"),
	}
	if read {
		row[7] = col("is_read", "t")
		row[8] = col("read_at", "2025-06-01 12:00:05.5+00")
	}
	return row
}

// BenchmarkIndexMatchRow matches full-width messages rows against an index
// in which every instance watches its own conversation (as getMessages,
// getConversations and getUnreadCount do), so exactly one instance matches
// however many are idle: the cost must not grow with the instance count.
func BenchmarkIndexMatchRow(b *testing.B) {
	changes := []struct {
		name   string
		change Change
	}{
		{"insert", Change{Table: "messages", Op: OpInsert, New: messageRow("m000000000000042", "c7", false)}},
		{"update", Change{Table: "messages", Op: OpUpdate,
			Old: messageRow("m000000000000042", "c7", false), New: messageRow("m000000000000042", "c7", true)}},
		{"delete", Change{Table: "messages", Op: OpDelete, Old: messageRow("m000000000000042", "c7", true)}},
	}
	for _, n := range []int{1_000, 100_000} {
		x := newDepIndex()
		for i := range n {
			conv := fmt.Sprintf("c%d", i)
			replaceDeps(x, &instance{}, nil, []schema.Dep{
				{Table: "messages", Column: "conversation_id", Value: conv},
				{Table: "conversations", Column: "id", Value: conv},
				{Table: "users", Column: "id", Value: fmt.Sprintf("u%015d", i)},
			})
		}
		for _, c := range changes {
			b.Run(fmt.Sprintf("instances=%d/%s", n, c.name), func(b *testing.B) {
				out := map[*instance]struct{}{}
				b.ReportAllocs()
				for b.Loop() {
					clear(out)
					x.match(&c.change, out)
				}
				if len(out) != 1 {
					b.Fatalf("matched %d instances, want 1", len(out))
				}
			})
		}
	}
}

// BenchmarkFanout publishes a new result of one instance subscribed by n
// sessions and has every session take its transition, as each connection's
// writer does: install (hash compare, queryChanged per subscriber) plus n
// Takes. ns/session is the cost per viewer. query=public is one instance
// of a public query; query=shared is a shared query's body, each session
// with its own identity and cached access check (getMessages).
func BenchmarkFanout(b *testing.B) {
	for _, query := range []string{"public", "shared"} {
		for _, n := range []int{1, 100, 10_000} {
			b.Run(fmt.Sprintf("query=%s/sessions=%d", query, n), func(b *testing.B) {
				e, in, sessions := fanoutEngine(b, "bench:"+query, n)
				// Alternate two values so every install is a change.
				results := [2]*Result{newResult(messagePage(1<<10, 0), nil, ""), newResult(messagePage(1<<10, 1), nil, "")}
				deps := compileDeps([]schema.Dep{{Table: "messages", Column: "conversation_id", Value: "c1"}})
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					e.install([]runOut{{in: in, res: results[i%2], deps: deps}})
					for _, s := range sessions {
						select {
						case <-s.Wake():
						default:
							b.Fatal("session not woken")
						}
						if out := s.Take(); len(out.Transition.GetModifications()) != 1 {
							b.Fatalf("transition with %d modifications, want 1", len(out.Transition.GetModifications()))
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/session")
			})
		}
	}
}

type benchArgs struct {
	ConversationID string `json:"conversationId"`
}

// fanoutEngine returns an engine whose pool never connects, with n
// sessions (identities u0…) subscribed to fn({conversationId: "c1"}), each
// having taken its first transition, and the instance that computes the
// query's value (a shared query's body). Instead of Run, a goroutine
// installs every new instance's first result: null for access checks, an
// empty page otherwise.
func fanoutEngine(b *testing.B, fn string, n int) (*Engine, *instance, []*Session) {
	b.Helper()
	cfg, err := pgxpool.ParseConfig("postgres://bench@127.0.0.1:1/bench")
	if err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg) // connects lazily: never here
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	reg := functions.NewRegistry()
	page := func(*functions.QueryCtx, benchArgs) (chat.MessagePage, error) {
		return chat.MessagePage{}, nil
	}
	functions.Query(reg, "bench:public", page, functions.Public())
	functions.QueryShared(reg, "bench:shared", func(*functions.QueryCtx, benchArgs) error { return nil }, page)
	e, err := New(Config{Pool: pool, Registry: reg})
	if err != nil {
		b.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	b.Cleanup(func() { cancel(); <-ran })
	go func() {
		defer close(ran)
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.wake:
			}
			e.mu.Lock()
			fresh := e.fresh
			e.fresh = nil
			e.mu.Unlock()
			outs := make([]runOut, 0, len(fresh))
			for _, in := range fresh {
				v := json.RawMessage(`{"messages":[],"isDone":true}`)
				if in.key.part == functions.Access {
					v = json.RawMessage(`null`)
				}
				outs = append(outs, runOut{in: in, res: newResult(v, nil, "")})
			}
			e.install(outs)
		}
	}()

	sessions := make([]*Session, 0, n)
	b.Cleanup(func() {
		for _, s := range sessions {
			s.Close()
		}
	})
	add := []QueryAdd{{QueryID: 1, UDFPath: fn, Args: json.RawMessage(`{"conversationId":"c1"}`)}}
	for i := range n {
		s := e.NewSession(SessionConfig{})
		sessions = append(sessions, s)
		id := &functions.Identity{Subject: fmt.Sprintf("u%d", i), Role: functions.RoleCustomer}
		if err := s.Authenticate(ctx, 0, id); err != nil {
			b.Fatal(err)
		}
		if err := s.ModifyQuerySet(ctx, 0, 1, add, nil); err != nil {
			b.Fatal(err)
		}
		<-s.Wake()
		if out := s.Take(); len(out.Transition.GetModifications()) != 1 {
			b.Fatal("no first result")
		}
	}
	var in *instance
	e.mu.Lock()
	for x := range e.instances.all() {
		if x.key.part != functions.Access {
			in = x
		}
	}
	e.mu.Unlock()
	if in == nil || in.subs.len() != n {
		b.Fatalf("no instance with %d subscribers", n)
	}
	return e, in, sessions
}
