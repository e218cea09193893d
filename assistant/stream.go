package assistant

import (
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/schema"
)

// streams keeps the text so far of the answers this node streams
// (chat.Streams). Tokens are appended in memory; at most every interval a
// stream that grew invalidates its message's key, so every query showing
// the message re-runs once and pushes the text so far to all its
// subscribers. Nothing is written to Postgres until the answer ends.
// With a Fanout, each flush and the end are also published to the other
// nodes, and Partial falls back on the streams of theirs it mirrors.
// Safe for concurrent use.
type streams struct {
	interval   time.Duration
	keep       time.Duration // how long an ended stream stays readable
	invalidate func() func(keys ...schema.Dep)
	fanout     Fanout // nil: one node

	mu sync.Mutex
	m  map[string]*stream
}

type stream struct {
	msgID string
	mu    sync.Mutex
	text  strings.Builder
	parts []chat.MessagePart
	dirty bool
	stop  chan struct{}
}

func newStreams(interval time.Duration, invalidate func() func(keys ...schema.Dep)) *streams {
	return &streams{interval: interval, keep: 30 * time.Second, invalidate: invalidate, m: map[string]*stream{}}
}

// Partial implements chat.Streams.
func (ss *streams) Partial(msgID string) (string, []chat.MessagePart, bool) {
	ss.mu.Lock()
	st := ss.m[msgID]
	ss.mu.Unlock()
	if st == nil {
		if ss.fanout != nil {
			return ss.fanout.Partial(msgID)
		}
		return "", nil, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.text.String(), st.parts, true
}

// open starts msgID's stream and its flusher.
func (ss *streams) open(msgID string) *stream {
	st := &stream{msgID: msgID, stop: make(chan struct{})}
	ss.mu.Lock()
	ss.m[msgID] = st
	ss.mu.Unlock()
	go ss.flush(st)
	return st
}

// flush invalidates st's key each interval in which it grew (and, with a
// Fanout, publishes it), until close (then publishes its end).
func (ss *streams) flush(st *stream) {
	t := time.NewTicker(ss.interval)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			if ss.fanout != nil {
				// The end, after the last flush: the whole text.
				text, parts := st.snapshot()
				ss.fanout.Publish(st.msgID, text, parts, true)
			}
			return
		case <-t.C:
		}
		st.mu.Lock()
		dirty := st.dirty
		st.dirty = false
		st.mu.Unlock()
		if dirty {
			if f := ss.invalidate(); f != nil {
				f(chat.StreamDep(st.msgID))
			}
			if ss.fanout != nil {
				text, parts := st.snapshot()
				ss.fanout.Publish(st.msgID, text, parts, false)
			}
		}
	}
}

// close stops st's flusher (which tells the other nodes of its end). Its
// text stays readable for a while: until the engine has applied the final
// write, a re-run still reads the row as streaming and shows the text
// from here.
func (ss *streams) close(st *stream) {
	close(st.stop)
	time.AfterFunc(ss.keep, func() {
		ss.mu.Lock()
		if ss.m[st.msgID] == st {
			delete(ss.m, st.msgID)
		}
		ss.mu.Unlock()
	})
}

// count is how many streams are open or kept.
func (ss *streams) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

func (st *stream) append(text string) {
	st.mu.Lock()
	st.text.WriteString(text)
	st.dirty = true
	st.mu.Unlock()
}

func (st *stream) addPart(p chat.MessagePart) {
	st.mu.Lock()
	st.parts = append(st.parts, p)
	st.dirty = true
	st.mu.Unlock()
}

func (st *stream) snapshot() (string, []chat.MessagePart) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.text.String(), append([]chat.MessagePart{}, st.parts...)
}
