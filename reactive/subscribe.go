package reactive

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/parley-chat/parley/functions"
)

// caller is who subscribes: an identity (nil: anonymous) and its Key,
// made once and shared by the instances keyed by it.
type caller struct {
	id  *functions.Identity
	key string
}

func callerOf(id *functions.Identity) caller { return caller{id, id.Key()} }

// attach subscribes session s's query qid to the shared instance of one
// part of (fn, canon, caller, journal), creating it (and scheduling its
// first run) if needed; canon is the arguments as canonical JSON
// (canonicalArgs).
// The caller is part of the key only where the part depends on it: whole
// non-public queries and access checks. Wait for the first result with
// ready.
func (e *Engine) attach(s *Session, qid uint32, fn *functions.Function, canon string, who caller, journal string, part functions.Part) *instance {
	if len(journal) > maxJournal || part == functions.Access {
		journal = "" // not one of ours (or not used): start afresh
	}
	key := instanceKey{fn: fn, part: part, args: canon, journal: journal}
	id := who.id
	switch part {
	case functions.Access:
		key.identity = who.key
	case functions.Whole:
		if id = fn.Caller(id); id == who.id {
			key.identity = who.key
		} else {
			key.identity = id.Key()
		}
	default:
		id = nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	in := e.instances.get(key)
	if in == nil {
		in = newInstance(key, id)
		e.instances.add(in)
		e.fresh = append(e.fresh, in)
		signal(e.wake)
	}
	if in.subs.add(subRef{s, qid}) {
		e.subscriptions++
	}
	return in
}

// canonicalArgs is decoded arguments as JSON, the same for every client
// spelling of them: part of an instance's key, and all an instance keeps
// of its arguments (decodeCanonical makes them again for each run).
// Decoded arguments were three heap objects per subscription, two with
// pointers for the garbage collector to scan.
func canonicalArgs(args reflect.Value) (string, error) {
	canon, err := json.Marshal(args.Interface())
	if err != nil {
		return "", fmt.Errorf("canonical args: %w", err)
	}
	return string(canon), nil
}

// decodeCanonical turns canonicalArgs' JSON back into fn's arguments. They
// were validated when the client's arguments were decoded, and JSON of a
// Go value decodes to an equal one, so plain json.Unmarshal does: it takes
// a fraction of validation's time. An error is an internal one.
//
// Its strings are then made parts of canon (shareStrings): a query's
// dependencies keep argument values (a conversation's id), and so they
// cost no memory beyond the instance's key.
func decodeCanonical(fn *functions.Function, canon string) (reflect.Value, error) {
	args := reflect.New(fn.Args)
	if err := json.Unmarshal([]byte(canon), args.Interface()); err != nil {
		return reflect.Value{}, fmt.Errorf("%s: decode canonical args %s: %w", fn.Name, canon, err)
	}
	shareStrings(args.Elem(), canon)
	return args.Elem(), nil
}

// shareStrings replaces each string in v (a settable value: through
// pointers, structs, slices and arrays) by an equal substring of canon
// where there is one. Strings JSON escapes, and those in maps and
// interfaces, keep their own copy.
func shareStrings(v reflect.Value, canon string) {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); s != "" {
			if i := strings.Index(canon, s); i >= 0 {
				v.SetString(canon[i : i+len(s)])
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			shareStrings(v.Elem(), canon)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				shareStrings(f, canon)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			shareStrings(v.Index(i), canon)
		}
	}
}

// maxJournal bounds the journal a client may send back; Parley's journals
// are cursors of a few dozen bytes.
const maxJournal = 1024

// ready waits for an attached instance's first result.
func ready(ctx context.Context, in *instance) error {
	select {
	case <-*in.ready.Load():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) unsubscribe(s *Session, qid uint32, in *instance) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !in.subs.remove(subRef{s, qid}) {
		return
	}
	e.subscriptions--
	if in.removed() { // the last subscriber left
		e.instances.remove(in)
		e.index.replace(in, in.deps, nil)
		in.deps = nil
		delete(e.refresh, in)
	}
}

// addSession registers a new session: it counts in Stats until
// removeSession.
func (e *Engine) addSession(s *Session) {
	e.mu.Lock()
	e.sessions[s] = struct{}{}
	e.mu.Unlock()
}

// removeSession forgets a closed session, whose subscriptions are already
// released: it no longer counts in Stats nor waits for the applied
// position.
func (e *Engine) removeSession(s *Session) {
	e.mu.Lock()
	delete(e.sessions, s)
	e.mu.Unlock()
	e.wmu.Lock()
	delete(e.waiting, s)
	e.wmu.Unlock()
}

// closedSlow counts a session closed because it could not keep up. It
// takes no lock: sessions call it with their own lock held, and from
// install with the engine's too.
func (e *Engine) closedSlow() {
	e.m.closedSlow.Inc()
	e.slowClosed.Add(1)
}

// awaitApplied registers s to be woken when the applied position advances.
func (e *Engine) awaitApplied(s *Session) {
	e.wmu.Lock()
	e.waiting[s] = struct{}{}
	e.wmu.Unlock()
	signal(e.progressWanted)
}

// anyWaiting reports whether a session waits for the applied position.
func (e *Engine) anyWaiting() bool {
	e.wmu.Lock()
	waiting := len(e.waiting) > 0
	e.wmu.Unlock()
	return waiting
}

// notifyWaiting wakes every session waiting for the applied position, and
// forgets them: each registers again if it still waits.
func (e *Engine) notifyWaiting() {
	e.wmu.Lock()
	ws := e.waiting
	e.waiting = map[*Session]struct{}{}
	e.wmu.Unlock()
	for s := range ws {
		s.signal()
	}
}
