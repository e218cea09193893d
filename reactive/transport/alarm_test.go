package transport

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// waitFor is a generous bound on an alarm that is due: it fails a test
// that waits for one that never comes, and says nothing about speed.
const waitFor = 10 * time.Second

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatal("no alarm ran")
		panic("unreachable")
	}
}

func TestAlarmsRunInTimeOrder(t *testing.T) {
	var s alarms
	ran := make(chan int, 3)
	// Set latest first, so the runtime timer is moved earlier twice.
	for _, i := range []int{2, 1, 0} {
		s.after(time.Duration(i+1)*20*time.Millisecond, func() { ran <- i })
	}
	for want := range 3 {
		require.Equal(t, want, receive(t, ran))
	}
}

func TestAlarmRunsNotBeforeItsTime(t *testing.T) {
	var s alarms
	ran := make(chan time.Time, 1)
	start := time.Now()
	s.after(30*time.Millisecond, func() { ran <- time.Now() })
	require.GreaterOrEqual(t, receive(t, ran).Sub(start), 30*time.Millisecond)
}

func TestStoppedAlarmDoesNotRun(t *testing.T) {
	var s alarms
	ran := make(chan string, 2)
	a := s.after(20*time.Millisecond, func() { ran <- "stopped" })
	s.after(40*time.Millisecond, func() { ran <- "kept" })
	require.True(t, a.Stop())
	require.False(t, a.Stop(), "stopping twice")
	// Alarms run in time order, so the stopped one had its chance
	// before the kept one ran.
	require.Equal(t, "kept", receive(t, ran))
	require.Empty(t, ran)
}

func TestResetMovesAnAlarm(t *testing.T) {
	var s alarms
	ran := make(chan string, 2)
	a := s.after(time.Hour, func() { ran <- "moved" })
	s.after(60*time.Millisecond, func() { ran <- "fixed" })
	a.reset(20 * time.Millisecond) // earlier than the other
	require.Equal(t, "moved", receive(t, ran))
	require.Equal(t, "fixed", receive(t, ran))

	a.reset(10 * time.Millisecond) // after it ran: scheduled again
	require.Equal(t, "moved", receive(t, ran))
	require.False(t, a.Stop(), "it ran")

	b := s.after(20*time.Millisecond, func() { ran <- "later" })
	b.reset(time.Hour) // later than it was: it must not run at the old time
	s.after(60*time.Millisecond, func() { ran <- "marker" })
	require.Equal(t, "marker", receive(t, ran))
	require.True(t, b.Stop())
}

// A connection's ping alarm sets itself again from its callback.
func TestAlarmCanResetItselfFromItsCallback(t *testing.T) {
	var s alarms
	var n atomic.Int32
	done := make(chan struct{})
	var a *alarm
	a = s.after(time.Hour, func() {
		if n.Add(1) == 5 {
			close(done)
			return
		}
		a.reset(time.Millisecond)
	})
	a.reset(time.Millisecond) // a is set before the callback can run
	receive(t, done)
	require.Equal(t, int32(5), n.Load())
}

// Many goroutines setting, moving and stopping alarms at once: every
// alarm that is not stopped runs exactly once, no stopped one runs, and
// the heap ends empty.
func TestAlarmsUnderConcurrentUse(t *testing.T) {
	var s alarms
	const workers, each = 8, 200
	var ran, want sync.WaitGroup
	counts := make([]atomic.Int32, workers*each)
	var stopped [workers * each]bool
	for w := range workers {
		ran.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range each {
				k := w*each + i
				want.Add(1)
				short := time.Duration(rng.IntN(20)) * time.Millisecond
				// Half start an hour away, so that a reset surely finds
				// them waiting; the rest may run before anything else.
				far := rng.IntN(2) == 0
				first := short
				if far {
					first = time.Hour
				}
				a := s.after(first, func() {
					counts[k].Add(1)
					want.Done()
				})
				switch {
				case !far && rng.IntN(2) == 0, far && rng.IntN(2) == 0:
					if a.Stop() {
						stopped[k] = true
						want.Done()
					}
				case far:
					a.reset(short)
				}
			}
		})
	}
	ran.Wait()
	finished := make(chan struct{})
	go func() { want.Wait(); close(finished) }()
	receive(t, finished)
	for k := range counts {
		if stopped[k] {
			require.Zero(t, counts[k].Load(), "alarm %d was stopped", k)
		} else {
			require.Equal(t, int32(1), counts[k].Load(), "alarm %d", k)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Empty(t, s.due)
}

// An alarm runs when it is due, not only when something later wakes the
// set: each of these alarms is set after an earlier-firing reference and
// must run before a runtime timer due well after it; an alarm due later
// stays pending meanwhile.
func TestAlarmRunsWhenDue(t *testing.T) {
	var s alarms
	ran := make(chan string, 5)
	s.after(time.Hour, func() { ran <- "hour" }) // the timer first set far away
	s.after(20*time.Millisecond, func() { ran <- "soon" })
	s.after(40*time.Millisecond, func() { ran <- "next" }) // the timer set again as "soon" runs
	later := s.after(time.Second, func() { ran <- "later" })
	time.AfterFunc(300*time.Millisecond, func() { ran <- "reference" })
	require.Equal(t, "soon", receive(t, ran))
	require.Equal(t, "next", receive(t, ran))
	require.Equal(t, "reference", receive(t, ran), "the alarm due in a second ran early")
	require.True(t, later.Stop())

	// Moved earlier while the timer waits for something later.
	moved := s.after(time.Hour, func() { ran <- "moved" })
	moved.reset(20 * time.Millisecond)
	time.AfterFunc(300*time.Millisecond, func() { ran <- "reference" })
	require.Equal(t, "moved", receive(t, ran))
	require.Equal(t, "reference", receive(t, ran))
}
