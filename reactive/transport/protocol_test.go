package transport_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
)

// recorder is a transport without a socket: it records the frames the
// protocol core writes through it and how it closes. After accept frames
// its writes fail (negative: never).
type recorder struct {
	accept int
	frames []json.RawMessage
	closed *closing
}

type closing struct {
	reason     string
	authFailed bool
}

var errRecorderFull = errors.New("recorder: the client went away")

func (r *recorder) WriteFrame(b []byte) error {
	if r.accept >= 0 && len(r.frames) == r.accept {
		return errRecorderFull
	}
	r.frames = append(r.frames, append(json.RawMessage(nil), b...))
	return nil
}

func (r *recorder) CloseWith(reason string, authFailed bool) {
	r.closed = &closing{reason: reason, authFailed: authFailed}
}

// transition is what the tests read of a Transition frame.
type transition struct {
	EndVersion struct {
		QuerySet uint32 `json:"querySet"`
		Identity uint32 `json:"identity"`
	} `json:"endVersion"`
	Modifications []struct {
		Type string `json:"type"`
	} `json:"modifications"`
}

// types returns the type of every frame recorded.
func (r *recorder) types(t *testing.T) []string {
	types := []string{}
	for _, f := range r.frames {
		var m struct{ Type string }
		require.NoError(t, json.Unmarshal(f, &m), "%s", f)
		types = append(types, m.Type)
	}
	return types
}

// The protocol core needs nothing of a WebSocket: a transport of its own
// hands it client messages and is given, in the protocol's order, the
// frames to send (messages, then the transition, then the close) and how
// to close. The session runs on the real engine and database.
func TestProtocolThroughATransportOfItsOwn(t *testing.T) {
	s := parleytest.Start(t)
	tok := s.Token(t, parleytest.John)
	connect := `{"type":"Connect","sessionId":"s1","connectionCount":0}`
	tests := []struct {
		name     string
		messages []string
		handled  bool // how the protocol took the last message
		accept   int  // frames the transport takes before its writes fail
		frames   []string
		// end is the transition's end version (query set, identity) and
		// mods its modifications' types, when frames has a Transition.
		end    [2]uint32
		mods   []string
		closed *closing
		open   bool // writeOutbox's answer: the connection lives on
	}{
		{
			name: "a query set",
			messages: []string{connect, `{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[
				{"type":"Add","queryId":0,"udfPath":"shared/chat:getChatSettings","args":[{}]}]}`},
			handled: true, accept: -1, frames: []string{"Transition"}, end: [2]uint32{1, 0}, mods: []string{"QueryUpdated"},
			open: true,
		},
		{
			name: "messages, then the transition, then the close",
			messages: []string{connect,
				`{"type":"Authenticate","baseVersion":0,"tokenType":"User","value":"` + tok + `"}`,
				`{"type":"Action","requestId":0,"udfPath":"shared/chat:none","args":[{}]}`,
				`{"type":"Authenticate","baseVersion":1,"tokenType":"User","value":"not a token"}`},
			handled: true, accept: -1, frames: []string{"ActionResponse", "AuthError", "Transition"},
			end: [2]uint32{0, 1}, mods: []string{},
			closed: &closing{reason: "authentication failed", authFailed: true},
		},
		{
			name:     "a protocol violation",
			messages: []string{connect, `{"type":"Subscribe"}`},
			accept:   -1, frames: []string{"FatalError"},
			closed: &closing{reason: "unknown message type Subscribe"},
		},
		{
			name: "a failed write ends the outbox",
			messages: []string{connect, `{"type":"Action","requestId":0,"udfPath":"shared/chat:none","args":[{}]}`,
				`{"type":"Authenticate","baseVersion":0,"tokenType":"User","value":"not a token"}`},
			handled: true, accept: 1, frames: []string{"ActionResponse"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wakes := make(chan struct{}, 1)
			sess := s.Server.HTTP.NewSession(func() {
				select {
				case wakes <- struct{}{}:
				default:
				}
			})
			t.Cleanup(sess.Close)
			for i, m := range tt.messages {
				want := tt.handled || i < len(tt.messages)-1
				require.Equal(t, want, s.Server.HTTP.Handle(t.Context(), sess, []byte(m)), "message %d: %s", i, m)
			}
			select {
			case <-wakes:
			default:
				t.Fatal("the session has something to send but did not say so")
			}

			rec := &recorder{accept: tt.accept}
			require.Equal(t, tt.open, s.Server.HTTP.WriteOutbox(rec, sess.Take()))
			require.Equal(t, tt.frames, rec.types(t))
			require.Equal(t, tt.closed, rec.closed)
			if i := slices.Index(tt.frames, "Transition"); i >= 0 {
				var tr transition
				require.NoError(t, json.Unmarshal(rec.frames[i], &tr))
				require.Equal(t, tt.end, [2]uint32{tr.EndVersion.QuerySet, tr.EndVersion.Identity})
				mods := []string{}
				for _, m := range tr.Modifications {
					mods = append(mods, m.Type)
				}
				require.Equal(t, tt.mods, mods)
			}
			if !tt.open {
				return
			}
			rec = &recorder{accept: -1}
			require.True(t, s.Server.HTTP.WriteOutbox(rec, sess.Take()))
			require.Empty(t, rec.frames, "everything was sent")
		})
	}
}
