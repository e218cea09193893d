package reactive

import "sync"

// staleNotifier tells sessions that asked for it (SessionConfig.Status)
// when Engine.Stale changes. Whatever Stale depends on (the stream's
// Reset, Resume and Interrupted, a batch's dbDown) calls staleChanged
// after its change; the notifier compares Stale with what it last saw and,
// when it differs, wakes those sessions, whose Take then reads Stale
// itself. It only wakes: a session coalesces a flip and its undoing into
// no message at all, and always ends up sending the current state.
type staleNotifier struct {
	mu   sync.Mutex // a leaf: held for the comparison only
	seen bool       // Stale at the last call
	init bool       // seen has been set
}

// staleChanged wakes every session that wants status messages if Stale
// differs from its value at the last call. Safe for concurrent use: the
// caller that takes mu last reads every change made before it.
func (e *Engine) staleChanged() {
	e.stale.mu.Lock()
	now := e.Stale()
	changed := !e.stale.init || now != e.stale.seen
	e.stale.seen, e.stale.init = now, true
	e.stale.mu.Unlock()
	if !changed {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for s := range e.sessions {
		if s.cfg.Status {
			s.signal()
		}
	}
}

// setDBDown records whether the last re-run batch could reach the
// database.
func (e *Engine) setDBDown(down bool) {
	if e.dbDown.Swap(down) != down {
		e.staleChanged()
	}
}
