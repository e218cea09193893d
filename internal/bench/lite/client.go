package lite

import (
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

// Query is one query a Client subscribes; its id is its index in
// Options.Queries.
type Query struct {
	Path string
	Args any
}

// Options configures a Client.
type Options struct {
	// Token authenticates the session (tokenType User).
	Token string
	// SessionID is the Connect message's sessionId.
	SessionID string
	// Queries are subscribed at once; query i gets id i.
	Queries []Query
	// OnMessages, if set, receives the value of query 0 of every
	// Transition that updates it, undecoded, and when its frame was read.
	// It is called by the reader goroutine only, and value is valid only
	// until it returns. Nil means the values are only counted.
	OnMessages func(value []byte, at time.Time)
	// ReadBufferSize is the socket's read buffer: larger frames are read
	// in parts. Zero means 4 KiB.
	ReadBufferSize int
	// HandshakeTimeout bounds the WebSocket handshake. Zero means 30s.
	HandshakeTimeout time.Duration
}

// maxProtocolErrors bounds the protocol errors a Client keeps.
const maxProtocolErrors = 100

// Client is a passive sync-protocol session (see the package doc). Safe
// for concurrent use.
type Client struct {
	conn       *websocket.Conn
	queries    int
	onMessages func(value []byte, at time.Time) // called by the reader only
	done       chan struct{}                    // closed when the reader exits
	closeOnce  sync.Once
	pushes     atomic.Int64 // query results received

	wmu sync.Mutex // serialises writes; taken before mu

	mu        sync.Mutex // guards the fields below
	closing   bool
	err       error
	protoErrs []error
	nextReq   uint32
	calls     map[uint32]call
	seen      []bool        // per query id: a result arrived
	unseen    int           // queries still without a first result
	first     chan struct{} // closed when every query has a result
	firstErr  error         // a first result that failed
}

// call is a mutation waiting for its MutationResponse.
type call struct {
	udfPath string
	ch      chan callResult // buffered: the reader never blocks on it
}

// callResult is a mutation's outcome: its result, or why it failed.
type callResult struct {
	value json.RawMessage
	err   error
}

// SyncURL returns the sync endpoint of the server at base: its scheme
// becomes ws (wss for https or wss) and /api/<version>/sync is appended to
// its path.
func SyncURL(base string) (string, error) {
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

// Dial connects to the server at base, authenticates with opts.Token and
// adds opts.Queries; it returns without waiting for results (see
// WaitFirst).
func Dial(ctx context.Context, base string, opts Options) (*Client, error) {
	u, err := SyncURL(base)
	if err != nil {
		return nil, err
	}
	if opts.ReadBufferSize <= 0 {
		opts.ReadBufferSize = 4 << 10
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 30 * time.Second
	}
	d := websocket.Dialer{HandshakeTimeout: opts.HandshakeTimeout, ReadBufferSize: opts.ReadBufferSize, WriteBufferSize: 4 << 10}
	conn, _, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	qs := opts.Queries
	c := &Client{conn: conn, queries: len(qs), onMessages: opts.OnMessages, done: make(chan struct{}),
		calls: map[uint32]call{}, seen: make([]bool, len(qs)), unseen: len(qs), first: make(chan struct{})}
	mods := make([]any, len(qs))
	for i, q := range qs {
		mods[i] = map[string]any{"type": "Add", "queryId": i, "udfPath": q.Path, "args": []any{q.Args}}
	}
	reason := "InitialConnect"
	for _, m := range []any{
		map[string]any{"type": "Connect", "sessionId": opts.SessionID, "connectionCount": 0, "lastCloseReason": reason,
			"clientTs": time.Now().UnixMilli()},
		map[string]any{"type": "Authenticate", "tokenType": "User", "value": opts.Token, "baseVersion": 0},
		map[string]any{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": mods},
	} {
		if err := conn.WriteJSON(m); err != nil {
			conn.Close()
			return nil, fmt.Errorf("write: %w", err)
		}
	}
	go c.read() // owned: Close waits for it
	return c, nil
}

// WaitFirst waits until every query has its first result. It returns the
// first of those that failed, if one did.
func (c *Client) WaitFirst(ctx context.Context) error {
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

func (c *Client) read() {
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
	for _, cl := range c.calls {
		cl.ch <- callResult{err: c.err}
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

func (c *Client) violation(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.protoErrs) < maxProtocolErrors {
		c.protoErrs = append(c.protoErrs, fmt.Errorf("%w: "+format, append([]any{syncclient.ErrProtocol}, args...)...))
	}
}

// dispatch handles one server message, read at at. It walks the message
// once: a Transition's modifications are handled where they stand.
func (c *Client) dispatch(data []byte, at time.Time) {
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
func (c *Client) modification(data []byte, i int, at time.Time) int {
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
		return end // QueryRemoved: the client never removes
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

func (c *Client) mutationResponse(data []byte) {
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
	cl, ok := c.calls[*m.RequestID]
	delete(c.calls, *m.RequestID)
	c.mu.Unlock()
	if !ok {
		c.violation("MutationResponse for request %d, which is not in flight", *m.RequestID)
		return
	}
	if m.Success {
		cl.ch <- callResult{value: m.Result} // Unmarshal copied it out of data
		return
	}
	fe := &syncclient.FunctionError{UDFPath: cl.udfPath}
	_ = json.Unmarshal(m.Result, &fe.Message)
	_ = json.Unmarshal(m.ErrorData, &fe.Data)
	cl.ch <- callResult{err: fe}
}

// Mutation calls udfPath with args and returns when its MutationResponse
// arrives: nil on success, a *syncclient.FunctionError when the function
// failed.
func (c *Client) Mutation(ctx context.Context, udfPath string, args any) error {
	_, err := c.Call(ctx, udfPath, args)
	return err
}

// Call is Mutation that also returns the mutation's result, undecoded.
func (c *Client) Call(ctx context.Context, udfPath string, args any) (json.RawMessage, error) {
	a, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	ch := make(chan callResult, 1)
	c.wmu.Lock()
	c.mu.Lock()
	if c.err != nil || c.closing {
		err := c.err
		c.mu.Unlock()
		c.wmu.Unlock()
		return nil, cmpErr(err, syncclient.ErrClosed)
	}
	id := c.nextReq
	c.nextReq++
	c.calls[id] = call{udfPath: udfPath, ch: ch}
	c.mu.Unlock()
	err = c.conn.WriteJSON(map[string]any{"type": "Mutation", "requestId": id, "udfPath": udfPath,
		"args": []json.RawMessage{a}})
	c.wmu.Unlock()
	if err != nil {
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("mutation %s: write: %w", udfPath, err)
	}
	select {
	case res := <-ch:
		return res.value, res.err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("mutation %s (request %d): %w", udfPath, id, ctx.Err())
	}
}

func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// Pushes counts the query results received so far.
func (c *Client) Pushes() int64 { return c.pushes.Load() }

// Done is closed when the connection has ended and the reader exited.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended; nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// ProtocolErrors returns the problems seen so far.
func (c *Client) ProtocolErrors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.protoErrs...)
}

// Close closes the connection and waits for the reader. Further calls
// only wait.
func (c *Client) Close() {
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
