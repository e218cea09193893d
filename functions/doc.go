// Package functions owns the registry of named queries and mutations, the
// validation of their arguments, the wire error type, identities, and the
// chat domain itself (shared/chat:*).
//
// # Registry
//
// Query and Mutation register typed handlers. Arguments arrive as a JSON
// object and are decoded field by field into the handler's argument struct:
// unknown fields, missing required fields and wrong types are rejected with
// a 400 *Error naming the field. Pointer fields (or omitempty) are optional.
//
// Queries run in the engine's read-only snapshot through schema.DB, which
// records what they read. Mutations run in one SERIALIZABLE transaction,
// retried on serialization failures; a (sessionId, requestId) pair is
// recorded in mutation_log in the same transaction, so a resent mutation
// returns its first result instead of running twice.
//
// # Errors
//
// *Error is the one type that crosses the wire: Status, Code and Message
// travel to clients as errorData {"code", "status", "error"}. Any other
// error is internal: transports log it once and show clients
// ErrInternal without details.
//
// # Access rules
//
// The caller's identity comes only from a verified JWT (package jwtauth).
//
//	function                 customer (own)  other customer  store staff (own store)  other store  admin          no identity
//	createOrGetConversation  ok              —               403                      403          403            401
//	sendMessage              ok              404             ok                       404          ok on support  401
//	                                                                                               403 on store
//	markMessagesAsRead       ok              404             ok                       404          ok             401
//	getMessages              ok              404             ok                       404          ok             401
//	getUnreadCount           own total       own total       store total              store total  support total  401
//
// A caller outside a conversation learns nothing about it: 404, not 403.
// A blocked conversation refuses messages with 403 "Conversation is blocked".
//
// # Concurrency model
//
// Registration happens at start-up; afterwards a Registry is read-only and
// safe for concurrent use. A QueryCtx or MutationCtx belongs to one call.
package functions
