package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/internal/syncclient"
)

// liteClient is a passive sync-protocol session for the generator's many
// sessions (b's viewers, d's sessions, c's idle ones): syncclient decodes
// every frame with encoding/json and checks the protocol, which at 1,000
// viewers × 20 writes/s costs the generator more CPU than the server spends
// producing the pushes. liteClient instead scans each Transition for just
// the modifications' queryId and the span of their value, and hands the
// value of query 0 (getMessages) to onMessages, if set, without decoding
// it. A session with onMessages reuses one read buffer; an idle one keeps
// none between its rare frames. It does not verify the protocol (a
// syncclient session does);
// it reports AuthError, FatalError and frames it cannot parse as protocol
// errors. It also sends sendMessage mutations: one resolves at its
// MutationResponse, which the server releases only after the mutation's
// push.
//
// Concurrency: one reader goroutine (started by dialLite, ended by close
// or the connection's end) owns the read side and calls onMessages; writes
// are serialised by wmu; mu guards the rest.
type liteClient struct {
	conn       *websocket.Conn
	queries    int
	onMessages func(value []byte, at time.Time) // called by the reader only
	done       chan struct{}                    // closed when the reader exits
	closeOnce  sync.Once
	pushes     atomic.Int64 // query results received

	wmu sync.Mutex

	mu        sync.Mutex // guards the fields below
	closing   bool
	err       error
	protoErrs []error
	nextReq   uint32
	calls     map[uint32]chan error
	seen      []bool        // per query id: a result arrived
	unseen    int           // queries still without a first result
	first     chan struct{} // closed when every query has a result
	firstErr  error         // a first result that failed
}

// liteQuery is one query a liteClient subscribes; its id is its index.
type liteQuery struct {
	path string
	args any
}

func syncURLOf(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "https", "wss":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path += "/api/" + syncclient.DefaultClientVersion + "/sync"
	return u.String(), nil
}

// dialLite connects, authenticates with tok and adds qs (query i gets id
// i); it returns without waiting for results (see waitFirst). readBuf is
// the socket's read buffer: larger frames are read in parts.
func dialLite(ctx context.Context, base, sessionID, tok string, qs []liteQuery, onMessages func([]byte, time.Time), readBuf int) (*liteClient, error) {
	u, err := syncURLOf(base)
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{HandshakeTimeout: dialTimeout, ReadBufferSize: readBuf, WriteBufferSize: 4 << 10}
	conn, _, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	c := &liteClient{conn: conn, queries: len(qs), onMessages: onMessages, done: make(chan struct{}),
		calls: map[uint32]chan error{}, seen: make([]bool, len(qs)), unseen: len(qs), first: make(chan struct{})}
	mods := make([]any, len(qs))
	for i, q := range qs {
		mods[i] = map[string]any{"type": "Add", "queryId": i, "udfPath": q.path, "args": []any{q.args}}
	}
	reason := "InitialConnect"
	for _, m := range []any{
		map[string]any{"type": "Connect", "sessionId": sessionID, "connectionCount": 0, "lastCloseReason": reason,
			"clientTs": time.Now().UnixMilli()},
		map[string]any{"type": "Authenticate", "tokenType": "User", "value": tok, "baseVersion": 0},
		map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": mods},
	} {
		if err := conn.WriteJSON(m); err != nil {
			conn.Close()
			return nil, fmt.Errorf("write: %w", err)
		}
	}
	go c.read() // owned: close waits for it
	return c, nil
}

// waitFirst waits until every query has its first result.
func (c *liteClient) waitFirst(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	case <-c.first:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.firstErr
	}
}

func (c *liteClient) read() {
	var buf []byte
	var err error
	for {
		var r io.Reader
		if _, r, err = c.conn.NextReader(); err != nil {
			break
		}
		buf, err = readAllInto(buf[:0], r)
		if err != nil {
			break
		}
		c.dispatch(buf, time.Now())
		if c.onMessages == nil {
			buf = nil
		}
	}
	c.mu.Lock()
	if c.closing || err == nil {
		c.err = syncclient.ErrClosed
	} else {
		c.err = fmt.Errorf("%w: %w", syncclient.ErrClosed, err)
	}
	for _, ch := range c.calls {
		ch <- c.err
	}
	clear(c.calls)
	c.mu.Unlock()
	_ = c.conn.Close()
	close(c.done)
}

// readAllInto reads r to its end into buf, growing it only when needed.
func readAllInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (c *liteClient) violation(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.protoErrs) < maxLiteErrors {
		c.protoErrs = append(c.protoErrs, fmt.Errorf("%w: "+format, append([]any{syncclient.ErrProtocol}, args...)...))
	}
}

const maxLiteErrors = 100

// dispatch handles one server message, read at at. It walks the message
// once: a Transition's modifications are handled where they stand.
func (c *liteClient) dispatch(data []byte, at time.Time) {
	var typ []byte
	end := members(data, skipSpace(data, 0), func(key []byte, i int) int {
		switch string(key) {
		case "type":
			e := skipValue(data, i)
			if e >= 0 {
				typ = data[i:e]
			}
			return e
		case "modifications": // only in a Transition
			return elements(data, i, func(j int) int { return c.modification(data, j, at) })
		}
		return skipValue(data, i)
	})
	if end < 0 {
		c.violation("unparseable message %.200q", data)
		return
	}
	switch string(typ) {
	case `"Transition"`, `"Ping"`:
	case `"MutationResponse"`:
		c.mutationResponse(data)
	default:
		c.violation("%.300s", data)
	}
}

// modification handles the modification at data[i] and returns the index
// past it, or -1.
func (c *liteClient) modification(data []byte, i int, at time.Time) int {
	var typ, value []byte
	id := -1
	end := members(data, i, func(key []byte, j int) int {
		e := skipValue(data, j)
		if e < 0 {
			return e
		}
		switch string(key) {
		case "type":
			typ = data[j:e]
		case "queryId":
			id = parseUint(data[j:e])
		case "value":
			value = data[j:e]
		}
		return e
	})
	if end < 0 || id < 0 || id >= c.queries {
		return -1
	}
	failed := string(typ) == `"QueryFailed"`
	if !failed && string(typ) != `"QueryUpdated"` {
		return end // QueryRemoved: the bench never removes
	}
	c.pushes.Add(1)
	c.mu.Lock()
	if !c.seen[id] {
		c.seen[id] = true
		if failed && c.firstErr == nil {
			c.firstErr = fmt.Errorf("query %d failed: %.300s", id, data[i:end])
		}
		if c.unseen--; c.unseen == 0 {
			close(c.first)
		}
	}
	c.mu.Unlock()
	if id == 0 && !failed && c.onMessages != nil {
		c.onMessages(value, at)
	}
	return end
}

func (c *liteClient) mutationResponse(data []byte) {
	var m struct {
		RequestID *uint32         `json:"requestId"`
		Success   bool            `json:"success"`
		Result    json.RawMessage `json:"result"`
		ErrorData json.RawMessage `json:"errorData"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.RequestID == nil {
		c.violation("bad MutationResponse %.200q", data)
		return
	}
	c.mu.Lock()
	ch := c.calls[*m.RequestID]
	delete(c.calls, *m.RequestID)
	c.mu.Unlock()
	if ch == nil {
		c.violation("MutationResponse for request %d, which is not in flight", *m.RequestID)
		return
	}
	if m.Success {
		ch <- nil
		return
	}
	fe := &syncclient.FunctionError{UDFPath: fnSend}
	_ = json.Unmarshal(m.Result, &fe.Message)
	_ = json.Unmarshal(m.ErrorData, &fe.Data)
	ch <- fe
}

// mutation calls udfPath and returns when its MutationResponse arrives.
func (c *liteClient) mutation(ctx context.Context, udfPath string, args any) error {
	a, err := json.Marshal(args)
	if err != nil {
		return err
	}
	ch := make(chan error, 1)
	c.wmu.Lock()
	c.mu.Lock()
	if c.err != nil || c.closing {
		err := c.err
		c.mu.Unlock()
		c.wmu.Unlock()
		return cmpErr(err, syncclient.ErrClosed)
	}
	id := c.nextReq
	c.nextReq++
	c.calls[id] = ch
	c.mu.Unlock()
	err = c.conn.WriteJSON(map[string]any{"type": "Mutation", "requestId": id, "udfPath": udfPath,
		"args": []json.RawMessage{a}})
	c.wmu.Unlock()
	if err != nil {
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
		return fmt.Errorf("mutation %s: write: %w", udfPath, err)
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
		return fmt.Errorf("mutation %s (request %d): %w", udfPath, id, ctx.Err())
	}
}

func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// Err is why the connection ended; nil while it is open.
func (c *liteClient) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// ProtocolErrors returns the problems seen so far.
func (c *liteClient) ProtocolErrors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.protoErrs...)
}

// close closes the connection and waits for the reader.
func (c *liteClient) close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		c.wmu.Lock()
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
		c.wmu.Unlock()
		_ = c.conn.Close()
	})
	<-c.done
}

// ---- a JSON scanner just deep enough for server messages ----

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string whose opening quote
// is at b[i], or -1.
func skipString(b []byte, i int) int {
	i++
	for {
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			return -1
		}
		j := i + k
		bs := 0
		for p := j - 1; p >= i && b[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return j + 1
		}
		i = j + 1
	}
}

// skipValue returns the index just past the value starting at b[i] (no
// leading space), or -1. It checks brackets and strings, not literals.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\t' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// members walks the object at b[i]: for every member it calls fn with
// the key (without quotes) and the index of the value, and fn returns the
// index just past the value (or -1). It returns the index just past the
// object, or -1 when b is not an object it can walk.
func members(b []byte, i int, fn func(key []byte, at int) int) int {
	if i >= len(b) || b[i] != '{' {
		return -1
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for i < len(b) {
		if b[i] != '"' {
			return -1
		}
		end := skipString(b, i)
		if end < 0 {
			return -1
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		if i = fn(key, skipSpace(b, i+1)); i < 0 {
			return -1
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return -1
		}
		if b[i] == '}' {
			return i + 1
		}
		if b[i] != ',' {
			return -1
		}
		i = skipSpace(b, i+1)
	}
	return -1
}

// elements walks the array at b[i] (null is an empty one): fn gets the
// index of every element and returns the index just past it (or -1). It
// returns the index just past the array, or -1.
func elements(b []byte, i int, fn func(at int) int) int {
	if i < len(b) && b[i] == 'n' {
		return skipValue(b, i)
	}
	if i >= len(b) || b[i] != '[' {
		return -1
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for i < len(b) {
		if i = fn(i); i < 0 {
			return -1
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return -1
		}
		if b[i] == ']' {
			return i + 1
		}
		if b[i] != ',' {
			return -1
		}
		i = skipSpace(b, i+1)
	}
	return -1
}

func parseUint(b []byte) int {
	if len(b) == 0 || len(b) > 9 {
		return -1
	}
	n := 0
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return -1
		}
		n = n*10 + int(ch-'0')
	}
	return n
}
