package transport

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/reactive"
)

// messagePage returns a getMessages result of at least size bytes, encoded
// the way the engine encodes results (json.Marshal).
func messagePage(size int) json.RawMessage {
	var page chat.MessagePage
	for i := 0; ; i++ {
		page.Messages = append(page.Messages, chat.MessageDoc{
			ID: fmt.Sprintf("m%015d", i), CreationTime: 1.7e12 + float64(i), ConversationID: "c000000000000001",
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

// benchTransition is a transition of n QueryUpdated modifications with
// values of about size bytes, every other one with a pagination journal.
func benchTransition(n, size int) *reactive.Transition {
	v := messagePage(size)
	t := &reactive.Transition{Start: reactive.Version{QuerySet: 3, Identity: 1, TS: 0x1_2345_6789},
		End: reactive.Version{QuerySet: 3, Identity: 1, TS: 0x1_2345_9999}}
	for i := range n {
		m := reactive.Modification{Type: reactive.QueryUpdated, QueryID: uint32(i), Value: v}
		if i%2 == 1 {
			m.Journal = `{"cursor":"m000000000000042","end":"m000000000000001"}`
		}
		t.Modifications = append(t.Modifications, m)
	}
	return t
}

func BenchmarkEncodeTransition(b *testing.B) {
	failed := &reactive.Transition{End: reactive.Version{QuerySet: 1, TS: 42},
		Modifications: []reactive.Modification{{Type: reactive.QueryFailed, QueryID: 7,
			Err: &functions.Error{Status: 429, Code: functions.CodeRateLimited, Message: "Too many messages",
				Data: map[string]any{"retryAfterMs": 1500}}}}}
	cases := []struct {
		name string
		t    *reactive.Transition
	}{
		{"mods=1/value=1KB", benchTransition(1, 1<<10)},
		{"mods=1/value=10KB", benchTransition(1, 10<<10)},
		{"mods=1/value=100KB", benchTransition(1, 100<<10)},
		{"mods=50/value=1KB", benchTransition(50, 1<<10)},
		{"mods=1/failed", failed},
		{"mods=1/failed-no-data", &reactive.Transition{End: reactive.Version{QuerySet: 1, TS: 42},
			Modifications: []reactive.Modification{{Type: reactive.QueryFailed, QueryID: 7, Err: chat.ErrConversationNotFound}}}},
	}
	for _, c := range cases {
		want, err := referenceTransition(c.t)
		if err != nil {
			b.Fatal(err)
		}
		// json: the reference, json.Marshal of wire structs (the encoder
		// before appendTransition). pooled: appendTransition into a pooled
		// buffer, as the writer does. fresh: appendTransition into nil.
		b.Run(c.name+"/encoder=json", func(b *testing.B) {
			b.SetBytes(int64(len(want)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := referenceTransition(c.t); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/encoder=pooled", func(b *testing.B) {
			b.SetBytes(int64(len(want)))
			b.ReportAllocs()
			for b.Loop() {
				buf := transitionBuffers.Get().(*[]byte)
				*buf = appendTransition((*buf)[:0], c.t)
				putTransitionBuffer(buf)
			}
		})
		b.Run(c.name+"/encoder=fresh", func(b *testing.B) {
			b.SetBytes(int64(len(want)))
			b.ReportAllocs()
			for b.Loop() {
				appendTransition(nil, c.t)
			}
		})
	}
}

func BenchmarkEncodeMutationResponse(b *testing.B) {
	m := &reactive.MutationResponse{RequestID: 12, Success: true, TS: 0x1_2345_6789,
		Value: json.RawMessage(`{"messageId":"m000000000000042","conversationId":"c000000000000001"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeMessage(m); err != nil {
			b.Fatal(err)
		}
	}
}

// discardFrames is a transport that drops every frame: what remains is the
// protocol core's own cost of writing an outbox.
type discardFrames struct{ n int }

func (d *discardFrames) writeFrame(b []byte) error {
	d.n += len(b)
	return nil
}

func (*discardFrames) closeWith(string, bool) {}

// BenchmarkWriteOutbox measures writeOutbox through a frameWriter: a
// transition alone costs no allocation (its buffer is pooled), a message
// costs what encodeMessage costs.
func BenchmarkWriteOutbox(b *testing.B) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	response := &reactive.MutationResponse{RequestID: 12, Success: true, TS: 0x1_2345_6789,
		Value: json.RawMessage(`{"messageId":"m000000000000042","conversationId":"c000000000000001"}`)}
	cases := []struct {
		name string
		out  reactive.Outbox
	}{
		{"transition/mods=1/value=1KB", reactive.Outbox{Transition: benchTransition(1, 1<<10)}},
		{"transition/mods=50/value=1KB", reactive.Outbox{Transition: benchTransition(50, 1<<10)}},
		{"response+transition/mods=1/value=1KB", reactive.Outbox{Messages: []any{response}, Transition: benchTransition(1, 1<<10)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := &discardFrames{}
			if !s.writeOutbox(w, c.out) {
				b.Fatal("writeOutbox closed the connection")
			}
			b.SetBytes(int64(w.n))
			b.ReportAllocs()
			for b.Loop() {
				s.writeOutbox(w, c.out)
			}
		})
	}
}
