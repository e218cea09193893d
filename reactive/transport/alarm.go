package transport

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// alarms runs callbacks at set times, all of them from one runtime timer.
// It stands in for a time.AfterFunc or socket deadline per connection (its
// ping, its token's expiry, its write timeout): the runtime keeps timers
// in a heap per P and, whenever a modified timer comes due, walks every
// timer of that heap. pgx modifies a timer on every query it sends (its
// 15 ms guard against a write/read deadlock), so those walks come dozens
// of times a second, and with timers per idle connection each walk grew
// with the number of connections: at 10,000 connections it took
// milliseconds, a delay every change could fall into. Here a connection's
// times cost slots in a heap of our own, which nothing walks.
//
// The alarms due at one firing run one after another on the timer's
// goroutine, outside the lock: they must be quick, and may set or stop
// alarms. (A later firing may run alongside them.)
type alarms struct {
	mu    sync.Mutex
	due   alarmHeap
	timer *time.Timer // fires at due[0].at; nil until the first alarm
}

// alarm is one callback's time. Its fields belong to its alarms' lock.
type alarm struct {
	set *alarms
	fn  func()
	at  time.Time
	i   int // index in set.due; -1 while not scheduled
}

// after returns an alarm that runs fn once d has passed.
func (s *alarms) after(d time.Duration, fn func()) *alarm {
	a := s.unset(fn)
	a.reset(d)
	return a
}

// unset returns an alarm for fn that is not scheduled until reset.
func (s *alarms) unset(fn func()) *alarm {
	return &alarm{set: s, fn: fn, i: -1}
}

// reset schedules the alarm to run d from now, replacing any earlier
// schedule, including after it has run.
func (a *alarm) reset(d time.Duration) {
	s := a.set
	at := time.Now().Add(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	a.at = at
	if a.i < 0 {
		heap.Push(&s.due, a)
	} else {
		heap.Fix(&s.due, a.i)
	}
	if s.due[0] == a {
		s.armLocked(at)
	}
}

// Stop unschedules the alarm. It reports whether it did: false means the
// alarm had run or was running, or was not scheduled. As with
// time.AfterFunc, a run already under way when the alarm was reset is not
// stopped by the true that the new schedule's Stop returns. (Exported:
// an alarm is a reactive.Expiry.)
func (a *alarm) Stop() bool {
	s := a.set
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.i < 0 {
		return false
	}
	heap.Remove(&s.due, a.i)
	// The timer may now fire early, for an alarm no longer first; fire
	// then finds nothing due and sets it again.
	return true
}

// armLocked sets the runtime timer to fire at at.
func (s *alarms) armLocked(at time.Time) {
	d := max(time.Until(at), 0)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.fire)
		return
	}
	s.timer.Reset(d)
}

// fire runs the alarms that are due and sets the timer for the next.
func (s *alarms) fire() {
	var run []func()
	s.mu.Lock()
	now := time.Now()
	for len(s.due) > 0 && !s.due[0].at.After(now) {
		a := heap.Pop(&s.due).(*alarm)
		run = append(run, a.fn)
	}
	if len(s.due) > 0 {
		s.armLocked(s.due[0].at)
	}
	s.mu.Unlock()
	for _, fn := range run {
		fn()
	}
}

// ticker returns a channel signalled every d (a signal not yet received
// is not repeated) and the function that stops it, from the server's
// alarms rather than a runtime timer of its own.
func (s *Server) ticker(d time.Duration) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	var stopped atomic.Bool
	var a *alarm
	a = s.alarms.unset(func() {
		if stopped.Load() {
			return // a run under way as stop ran: not set again
		}
		notify(ch)
		a.reset(d)
	})
	a.reset(d)
	return ch, func() {
		stopped.Store(true)
		a.Stop()
	}
}

// alarmHeap orders alarms by time, for container/heap.
type alarmHeap []*alarm

func (h alarmHeap) Len() int           { return len(h) }
func (h alarmHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h alarmHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].i = i
	h[j].i = j
}

func (h *alarmHeap) Push(x any) {
	a := x.(*alarm)
	a.i = len(*h)
	*h = append(*h, a)
}

func (h *alarmHeap) Pop() any {
	old := *h
	n := len(old)
	a := old[n-1]
	old[n-1] = nil
	a.i = -1
	*h = old[:n-1]
	return a
}
