package reactive

import (
	"context"
	"encoding/json"
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

// Mutate runs a mutation (HTTP API and sessions).
func (e *Engine) Mutate(ctx context.Context, udfPath string, args json.RawMessage, id *functions.Identity, key functions.RequestKey) (functions.MutationResult, error) {
	fn, err := e.lookup(udfPath, functions.KindMutation)
	if err != nil {
		return functions.MutationResult{}, err
	}
	v, err := fn.DecodeArgs(args)
	if err != nil {
		return functions.MutationResult{}, err
	}
	start := time.Now()
	res, err := fn.RunMutation(ctx, e.cfg.Pool, id, v, key)
	e.m.mutations.Inc()
	e.m.mutationSeconds.Observe(time.Since(start).Seconds())
	return res, err
}
