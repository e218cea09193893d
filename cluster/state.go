package cluster

// The state shared over NATS core pub/sub (Presence: a support.Presence,
// support.Config.Presence; Streams: an assistant.Fanout,
// assistant.Config.Fanout) is sent at most once: what a lost message
// would have said is healed by the next heartbeat (presence), the next
// whole text or the answer's final write (streams), or the TTL. The
// subjects are parley.<prefix>.presence[.sync] and
// parley.<prefix>.assistant.stream and .cancel; every node of a cluster
// uses the same prefix. Each is built on the node's *nats.Conn,
// subscribes in its constructor, and has a Run(ctx) for the server's
// errgroup that sweeps what expired and, when ctx is done, closes it.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// statePrefix is "parley.<prefix>", checked to be one subject token.
func statePrefix(prefix string) (string, error) {
	if prefix == "" {
		prefix = "default"
	}
	for _, r := range prefix {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == 0x7f {
			return "", fmt.Errorf("cluster: prefix %q: one NATS subject token (no spaces, dots or wildcards)", prefix)
		}
	}
	return "parley." + prefix, nil
}

// stateNodeID is node with a random per-process suffix (a random id when
// node is empty).
func stateNodeID(node string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cluster: node id: %w", err)
	}
	if node == "" {
		return hex.EncodeToString(b[:]), nil
	}
	return node + "/" + hex.EncodeToString(b[:]), nil
}

// stateWarner logs a warning at most once a minute (a NATS outage fails
// every publish).
type stateWarner struct {
	mu   sync.Mutex
	last time.Time
}

func (w *stateWarner) log(l *slog.Logger, msg string, attrs ...any) {
	w.mu.Lock()
	now := time.Now()
	ok := now.Sub(w.last) >= time.Minute
	if ok {
		w.last = now
	}
	w.mu.Unlock()
	if ok {
		l.Warn(msg, attrs...)
	}
}
