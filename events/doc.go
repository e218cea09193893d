// Package events is the events domain (shared/events:*): the log of
// domain events every mutation's commit writes (message.created,
// message.edited, message.deleted, message.read, conversation.created,
// conversation.archived, conversation.transferred, conversation.blocked,
// conversation.unblocked, conversation.closed, conversation.reopened; and
// the support desk's support.queued, support.assigned,
// support.transferred, support.closed), the webhook endpoints admins
// register, and the signed deliveries of events to them.
//
// # Where events come from: a transactional outbox
//
// A mutation emits events (functions.MutationCtx.Emit); Service is the
// registry's functions.Outbox, which writes them in the mutation's own
// transaction, on the batch that commits it (no extra round trip): an
// event exists exactly when its mutation committed, never for one that
// rolled back, and once for a mutation a client resent (its replay emits
// nothing). Chosen over deriving events from the replication stream
// because the outbox knows the actor and the intent (a transfer, not "a
// row changed"), and because it is durable by itself: a temporary slot
// holds no WAL while Parley is down, and even a permanent one would need
// its own exactly-once bookkeeping. Rows that another program writes
// straight into the tables update subscribers (the engine follows the
// WAL) but are no events. Within a conversation, the writer holds a
// per-conversation advisory lock from taking an event's seq to its
// commit, so seq order is commit order there; across conversations no
// order is promised.
//
// # Webhooks
//
// Each event an enabled endpoint of the caller's org wants becomes a
// delivery row and a river job (package internal/jobs) in the same
// transaction. The node keeps a list of enabled endpoints (read again
// every CacheTTL); the commit's batch checks, in SQL, that no enabled
// endpoint is missing from it and fails with a serialization failure
// otherwise, which the runtime retries with a fresh list: no event is
// missed however stale the list. A delivery is a POST of the event's
// envelope signed per Standard Webhooks (webhook-id = the event id, the
// same on every attempt; webhook-timestamp; webhook-signature = "v1," and
// the base64 HMAC-SHA256 of id.timestamp.body keyed with the secret's
// bytes), bounded by DeliveryTimeout, retried with exponential backoff and
// jitter until RetryHorizon, then dead; replayDelivery revives one.
// Deliveries run on their own river queue, apart from every client push
// and from each other, so a slow endpoint delays nothing else. Without
// AllowPrivate, endpoints on private, loopback and link-local addresses
// are refused at registration and at every dial (after resolution), and
// redirects are not followed.
//
// # Access rules
//
// The caller's identity comes only from a verified JWT. For: a customer
// (C), store staff (S), an admin (A), no identity (N), and an admin of
// another org (XA):
//
//	function               C    S    A    N    XA   notes
//	createWebhook          403  403  200  401  200  XA's own org's endpoint; url, events and secret validated (400)
//	listWebhooks           403  403  200  401  200  each admin sees their org's endpoints; no secrets
//	disableWebhook         403  403  200  401  404  "Webhook not found" for another org's
//	deleteWebhook          403  403  200  401  404  deletes its deliveries too
//	getWebhookDeliveries   403  403  200  401  404  newest first; status filter
//	replayDelivery         403  403  200  401  404  409 "Webhook is disabled"
//	getConversationEvents  200  200  200  401  404  whoever sees the conversation (chat's rule: chat.ConversationAccess)
//
// # Concurrency model
//
// A Service is safe for concurrent use. Write runs on the mutation's
// goroutine; the endpoint list is behind a mutex, read again through the
// mutation's own transaction (never the pool, which a transaction waiting
// for the mutex could have emptied). Deliveries and pruning run on river's
// worker goroutines.
//
// # Lifecycle
//
// New, then Register (functions and outbox) and AddWorkers/Periodic
// before the job queue is built, then SetQueue. The service starts no
// goroutine of its own: the job queue's Run works its jobs.
package events
