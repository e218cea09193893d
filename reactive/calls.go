package reactive

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/functions"
)

// lookup returns the function registered as udfPath, which must be of
// kind: an unknown name is the registry's error, another kind is invalid.
func (e *Engine) lookup(udfPath string, kind functions.Kind) (*functions.Function, error) {
	fn, err := e.cfg.Registry.Lookup(udfPath)
	if err != nil {
		return nil, err
	}
	if fn.Kind != kind {
		return nil, functions.Invalid("%s is a %s, not a %s", udfPath, fn.Kind, kind)
	}
	return fn, nil
}

// Query runs a query once, outside any subscription (HTTP API).
func (e *Engine) Query(ctx context.Context, udfPath string, args json.RawMessage, id *functions.Identity) (json.RawMessage, error) {
	e.seen(id)
	fn, err := e.lookup(udfPath, functions.KindQuery)
	if err != nil {
		return nil, err
	}
	v, err := fn.DecodeArgs(args)
	if err != nil {
		return nil, err
	}
	var out functions.QueryOutput
	err = pgx.BeginTxFunc(ctx, e.cfg.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		out, err = fn.RunQuery(ctx, tx, id, v, time.Now(), "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(out.Value)
}

// Mutate runs a mutation (HTTP API and sessions). A mutation that cannot
// reach the database (functions.Unreachable) is run again, with backoff,
// until it gets through or DBGrace has passed; then its error is the
// caller's (ErrUnavailable on the wire). It is run again only where that
// cannot apply it twice: it failed before its COMMIT was sent, or it has a
// request key, whose mutation_log record a rerun finds if the lost COMMIT
// went through (functions.ErrOutcomeUnknown). A keyed call whose COMMIT's
// outcome is unknown waits past the grace, until a rerun reaches the
// database or ctx ends; an unkeyed one fails with ErrOutcomeUnavailable
// (mayHaveCommitted on the wire).
func (e *Engine) Mutate(ctx context.Context, udfPath string, args json.RawMessage, id *functions.Identity, key functions.RequestKey) (functions.MutationResult, error) {
	e.seen(id)
	fn, err := e.lookup(udfPath, functions.KindMutation)
	if err != nil {
		return functions.MutationResult{}, err
	}
	v, err := fn.DecodeArgs(args)
	if err != nil {
		return functions.MutationResult{}, err
	}
	start := time.Now()
	deadline := start.Add(e.cfg.DBGrace)
	unknown := false                // an attempt may have committed
	adm := new(functions.Admission) // one admission for every run of the call
	for wait := dbRetryFirst; ; wait = min(2*wait, dbRetryMax) {
		res, err := fn.RunMutationAdmitted(ctx, e.cfg.Pool, id, v, key, adm)
		// Until an attempt reaches the database (and the call returns).
		unknown = unknown || errors.Is(err, functions.ErrOutcomeUnknown)
		rerun := err != nil && functions.Unreachable(err)
		switch {
		case rerun && unknown:
			// Only a keyed call's mutation_log record can tell whether the
			// lost COMMIT went through: it waits for the database (or for
			// its caller to go) past the grace, and its answer is the
			// truth, never a guess a client might resend. An unkeyed one
			// fails at once as ErrOutcomeUnknown.
			rerun = key.SessionID != ""
		case rerun:
			rerun = time.Now().Add(wait).Before(deadline)
		}
		if !rerun {
			e.m.mutations.Inc()
			e.m.mutationSeconds.Observe(time.Since(start).Seconds())
			return res, err
		}
		e.m.mutationDBRetries.Inc()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return functions.MutationResult{}, ctx.Err()
		}
		key.Resumed = true // the lost attempt may have committed: look it up first
	}
}

// Backoff of a mutation waiting for the database to come back.
const (
	dbRetryFirst = 50 * time.Millisecond
	dbRetryMax   = time.Second
)

// seen tells Config.Activity of a call by id.
func (e *Engine) seen(id *functions.Identity) {
	if e.cfg.Activity != nil && id != nil {
		e.cfg.Activity.Seen(id)
	}
}
