package syncclient_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/syncclient"
)

// The tests in this file check the client's own protocol checks, which a
// correct server never triggers, so the peer is a scripted WebSocket server
// (a real socket, not a mock of one) that sends exactly what each case
// needs.

// peer is the server end of one scripted connection.
type peer struct {
	t    *testing.T
	conn *websocket.Conn
}

// scripted starts a WebSocket server that runs script on the first
// connection (after reading Connect) and returns its http:// URL.
func scripted(t *testing.T, script func(p *peer)) string {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/base/api/1.48.0/sync" {
			http.NotFound(w, r)
			return
		}
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer close(done)
		defer conn.Close()
		p := &peer{t: t, conn: conn}
		connect := p.read()
		if connect["type"] != "Connect" || connect["lastCloseReason"] != "InitialConnect" {
			t.Errorf("first message %v, want Connect", connect)
			return
		}
		script(p)
	}))
	t.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("scripted peer did not finish")
		}
		srv.Close()
	})
	return srv.URL + "/base/"
}

func (p *peer) read() map[string]any {
	_, data, err := p.conn.ReadMessage()
	if err != nil {
		p.t.Errorf("peer read: %v", err)
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		p.t.Errorf("peer decode %s: %v", data, err)
	}
	return m
}

func (p *peer) send(format string, args ...any) {
	if err := p.conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, format, args...)); err != nil {
		p.t.Errorf("peer write: %v", err)
	}
}

// drain reads until the client closes the connection.
func (p *peer) drain() {
	for {
		if _, _, err := p.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func ts(v uint64) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return base64.StdEncoding.EncodeToString(b[:])
}

func transition(start, end [3]uint64, mods string) string {
	return fmt.Sprintf(`{"type":"Transition","startVersion":{"querySet":%d,"identity":%d,"ts":%q},`+
		`"endVersion":{"querySet":%d,"identity":%d,"ts":%q},"modifications":[%s]}`,
		start[0], start[1], ts(start[2]), end[0], end[1], ts(end[2]), mods)
}

func TestMutationResolvesOnLaterTransition(t *testing.T) {
	step := make(chan struct{})
	url := scripted(t, func(p *peer) {
		m := p.read()
		assert.Equal(t, "Mutation", m["type"])
		assert.EqualValues(t, 0, m["requestId"])
		assert.Equal(t, []any{map[string]any{"a": 1.0}}, m["args"])
		// The client is already past the mutation's ts before the
		// response: that transition must not resolve it.
		p.send("%s", transition([3]uint64{0, 0, 0}, [3]uint64{0, 0, 10}, ""))
		p.send(`{"type":"MutationResponse","requestId":0,"success":true,"result":"ok","ts":%q,"logLines":[]}`, ts(5))
		p.send(`{"type":"Ping"}`)
		<-step
		p.send("%s", transition([3]uint64{0, 0, 10}, [3]uint64{0, 0, 10}, "")) // a no-op transition resolves it
		m = p.read()
		assert.Equal(t, "Mutation", m["type"])
		assert.EqualValues(t, 1, m["requestId"])
		p.send(`{"type":"MutationResponse","requestId":1,"success":false,"result":"Nope","errorData":{"code":"forbidden"},"logLines":[]}`)
		p.drain()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := syncclient.Dial(ctx, url, syncclient.Options{})
	require.NoError(t, err)
	defer c.Close()

	type result struct {
		v   json.RawMessage
		err error
	}
	res := make(chan result, 1)
	go func() {
		v, err := c.Mutation(ctx, "m:one", map[string]int{"a": 1})
		res <- result{v, err}
	}()
	require.NoError(t, c.WaitTS(ctx, 10))
	select {
	case r := <-res:
		t.Fatalf("resolved before a transition following the response: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	close(step)
	r := <-res
	require.NoError(t, r.err)
	require.JSONEq(t, `"ok"`, string(r.v))

	_, err = c.Mutation(ctx, "m:two", nil)
	var fe *syncclient.FunctionError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "forbidden", fe.Code())
	require.Equal(t, "Nope", fe.Message)
	require.Empty(t, c.ProtocolErrors())
}

func TestProtocolViolations(t *testing.T) {
	tests := []struct {
		name   string
		script func(p *peer)
		want   string
	}{
		{"wrong startVersion", func(p *peer) {
			p.send("%s", transition([3]uint64{0, 0, 7}, [3]uint64{0, 0, 8}, ""))
		}, "startVersion"},
		{"ts goes backwards", func(p *peer) {
			p.send("%s", transition([3]uint64{0, 0, 0}, [3]uint64{0, 0, 9}, ""))
			p.send("%s", transition([3]uint64{0, 0, 9}, [3]uint64{0, 0, 8}, ""))
		}, "backwards"},
		{"querySet never sent", func(p *peer) {
			p.send("%s", transition([3]uint64{0, 0, 0}, [3]uint64{1, 0, 1}, ""))
		}, "sent only up to"},
		{"result for a query never added", func(p *peer) {
			p.send("%s", transition([3]uint64{0, 0, 0}, [3]uint64{0, 0, 1},
				`{"type":"QueryUpdated","queryId":3,"value":1,"logLines":[],"journal":null}`))
		}, "never added"},
		{"unknown message", func(p *peer) { p.send(`{"type":"Surprise"}`) }, "Surprise"},
		{"fatal error", func(p *peer) { p.send(`{"type":"FatalError","error":"boom"}`) }, "boom"},
		{"response to no request", func(p *peer) {
			p.send(`{"type":"MutationResponse","requestId":4,"success":true,"result":null,"ts":%q,"logLines":[]}`, ts(1))
		}, "not in flight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := scripted(t, func(p *peer) {
				tt.script(p)
				p.send(`{"type":"Ping"}`)
				p.drain()
			})
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, err := syncclient.Dial(ctx, url, syncclient.Options{})
			require.NoError(t, err)
			defer c.Close()
			for len(c.ProtocolErrors()) == 0 {
				select {
				case <-ctx.Done():
					t.Fatal("no protocol error recorded")
				case <-time.After(5 * time.Millisecond):
				}
			}
			errs := c.ProtocolErrors()
			require.ErrorIs(t, errs[0], syncclient.ErrProtocol)
			require.Contains(t, errs[0].Error(), tt.want)
		})
	}
}

func TestQuerySetChecks(t *testing.T) {
	url := scripted(t, func(p *peer) {
		m := p.read()
		assert.Equal(t, "ModifyQuerySet", m["type"])
		assert.EqualValues(t, 0, m["baseVersion"])
		assert.EqualValues(t, 1, m["newVersion"])
		m = p.read()
		assert.EqualValues(t, 1, m["baseVersion"])
		assert.EqualValues(t, 2, m["newVersion"])
		// Query 0 gets its result in chunks; query 1 (added at querySet 2)
		// gets none although the transition covers its Add.
		whole := transition([3]uint64{0, 0, 0}, [3]uint64{2, 0, 3},
			`{"type":"QueryUpdated","queryId":0,"value":{"n":1},"logLines":[],"journal":null}`)
		half := len(whole) / 2
		p.send(`{"type":"TransitionChunk","chunk":%q,"partNumber":0,"totalParts":2,"transitionId":"x"}`, whole[:half])
		p.send(`{"type":"TransitionChunk","chunk":%q,"partNumber":1,"totalParts":2,"transitionId":"x"}`, whole[half:])
		m = p.read()
		assert.Equal(t, []any{map[string]any{"type": "Remove", "queryId": 0.0}}, m["modifications"])
		// Applying the Remove without QueryRemoved is a violation.
		p.send("%s", transition([3]uint64{2, 0, 3}, [3]uint64{3, 0, 3}, ""))
		p.send(`{"type":"Ping"}`)
		p.drain()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := syncclient.Dial(ctx, url, syncclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	a, err := c.Subscribe("q:a", nil)
	require.NoError(t, err)
	_, err = c.Subscribe("q:b", map[string]string{"x": "y"})
	require.NoError(t, err)
	u, err := a.Wait(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"n":1}`, string(u.Value))
	require.Equal(t, uint64(3), u.TS)
	require.NoError(t, a.Unsubscribe())
	require.NoError(t, c.WaitTS(ctx, 3))
	for {
		if v := c.Version(); v.QuerySet == 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no transition to querySet 3")
		case <-time.After(5 * time.Millisecond):
		}
	}
	var msgs []string
	for _, e := range c.ProtocolErrors() {
		msgs = append(msgs, e.Error())
	}
	joined := strings.Join(msgs, "\n")
	require.Contains(t, joined, "no result for query 1")
	require.Contains(t, joined, "no QueryRemoved for query 0")
	require.Len(t, msgs, 2, joined)
}

func TestJournals(t *testing.T) {
	url := scripted(t, func(p *peer) {
		m := p.read()
		assert.Equal(t, []any{map[string]any{"type": "Add", "queryId": 0.0, "udfPath": "q:page",
			"args": []any{map[string]any{}}, "journal": "j0"}}, m["modifications"])
		m = p.read()
		mods, _ := m["modifications"].([]any)
		if assert.Len(t, mods, 1) {
			assert.NotContains(t, mods[0], "journal", "Subscribe sends no journal")
		}
		p.send("%s", transition([3]uint64{0, 0, 0}, [3]uint64{2, 0, 1},
			`{"type":"QueryUpdated","queryId":0,"value":1,"logLines":[],"journal":"j1"},`+
				`{"type":"QueryFailed","queryId":1,"errorMessage":"no","logLines":[],"journal":null}`))
		// The same value with a new journal is a change, not a repeat.
		p.send("%s", transition([3]uint64{2, 0, 1}, [3]uint64{2, 0, 2},
			`{"type":"QueryUpdated","queryId":0,"value":1,"logLines":[],"journal":"j2"}`))
		p.drain()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := syncclient.Dial(ctx, url, syncclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	j0 := "j0"
	page, err := c.SubscribeJournal("q:page", nil, &j0)
	require.NoError(t, err)
	other, err := c.Subscribe("q:other", nil)
	require.NoError(t, err)
	u, err := other.Wait(ctx)
	require.NoError(t, err)
	require.True(t, u.Failed)
	require.Nil(t, u.Journal)
	require.NoError(t, c.WaitTS(ctx, 2))
	u, ok := page.Current()
	require.True(t, ok)
	require.NotNil(t, u.Journal)
	require.Equal(t, "j2", *u.Journal)
	require.Equal(t, syncclient.SubStats{Updates: 2}, page.Stats())
	require.Empty(t, c.ProtocolErrors())
}
