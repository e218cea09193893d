// Package functions is the generic runtime every domain's functions run
// on: the registry of named queries and mutations, the validation of their
// arguments, the wire error type and identities. No domain lives here: the
// chat API is package chat, and each later domain (support, assistant,
// events) is a sibling package that registers its functions with one call
// from internal/server (chat.Register(r, cfg)).
//
// # Registry
//
// Query and Mutation register typed handlers. Arguments arrive as a JSON
// object and are decoded field by field into the handler's argument struct:
// unknown fields, missing required fields and wrong types are rejected with
// a 400 *Error naming the field. Pointer fields (or omitempty) are optional.
// QueryShared splits a query into a per-caller access check and a body
// shared by every caller it admits; ScopeIdentity narrows the identity a
// query sees; Public marks a query that sees none; Admit checks a call
// once before its first attempt (rate limits).
//
// Queries run in the engine's read-only snapshot through schema.DB, which
// records what they read. Mutations run in one SERIALIZABLE transaction,
// retried on serialization failures; a (sessionId, requestId) pair is
// recorded in mutation_log in the same transaction, so a resent mutation
// returns its first result instead of running twice. An InMemory mutation
// (presence heartbeats) changes only state kept in memory: no
// transaction, no mutation_log record, ts 0; MutationCtx.Connection names
// the sync connection a call came over.
//
// # Errors
//
// *Error is the one type that crosses the wire: Status, Code and Message
// travel to clients as errorData {"code", "status", "error"}. Any other
// error is internal: transports log it once and show clients
// ErrInternal without details. Invalid, Forbidden, NotFound and Conflict
// make a domain's errors; ErrNotAuthenticated is every function's 401.
//
// # Identity
//
// The caller's identity comes only from a verified JWT (package jwtauth):
// its subject, its role (customer, store, admin) and, for store staff, the
// store they work for. A handler reads it from its context, never from
// its arguments.
//
// # Concurrency model
//
// Registration happens at start-up; afterwards a Registry is read-only and
// safe for concurrent use. A QueryCtx or MutationCtx belongs to one call.
package functions
