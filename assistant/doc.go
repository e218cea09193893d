// Package assistant is Parley's AI assistant (issue 20, seed 004's
// AIAssistantService): an assistant answers customers in their support
// conversations, its answer streaming into the chat through the same
// reactive queries as every other message, with tools (an order's
// status, the FAQ, a hand-off to the desk's queue), and agents watch AI
// chats live, take them over and hand them back. Its functions are at
// "shared/assistant:<name>", and the desk's takeoverChat and resumeAi at
// "shared/support:<name>".
//
// # Assistants
//
// upsertAssistant({storeId?, name, greeting?, instructions?, model?,
// provider?, handoffRules?: {keywords?, maxFailures?}, knowledge?:
// [{question, answer}], budgets?: {conversationTokens?, dailyTokens?},
// enabled?}) configures an org's assistant, one per store and one for the
// org (no storeId): the same scope updates it, fields not given keep their
// value, knowledge replaces the FAQ entries. provider is "builtin" (the
// knowledge-base assistant, no model needed: Builtin) or "openai" (the
// OpenAI-compatible server of `--ai-base-url`, package llm/oai). Limits
// (MaxNameChars, MaxKnowledge, …) answer 400 with the field. An unknown
// storeId is 404. listAssistants() lists them, live.
//
// # A conversation's assistant
//
// A customer's support conversation (chat's customer_to_admin) gets an
// assistant when its widget calls startChat({conversationId,
// assistantId?}) — assistantId is seed 004's context.configId — or, with
// none, when the customer first writes in it while no agent holds it: the
// assistant of the conversation's order's store, else the org's, if
// enabled. Its greeting is posted once, then. getChatAssistant
// ({conversationId}) says live who answers (state active, handed_off,
// taken_over or none; streaming while a reply runs).
//
// # Replies
//
// chat tells the service of every customer message in a support
// conversation no agent holds (chat.Config.AssistantWaiting). With its
// assistant active, a reply job (river, inserted in the message's own
// transaction: a committed message is answered once, a rolled-back one
// never) runs on a node: begin (one transaction: the chat still the
// assistant's, the budgets and the rate checked, the prompt read, the run
// recorded, a message of sender type "assistant" posted with
// {streaming: true} and no text), then the provider's stream, then finish
// (one transaction: the whole text and tool steps written to the message,
// the run's log, the chat's counters, a hand-off when due).
//
// While it streams, the text so far is kept in memory on the node that
// runs it, not written: chat's message lists (getMessages,
// getMessagesPaginated) show a streaming message with the text from
// Config.Streams in its content, and depend on chat.StreamDep of it. At
// most every FlushInterval (50 ms) a stream that grew invalidates that
// key, so each query showing it re-runs once and every subscriber —
// the official convex client too — gets the text so far; a client that
// (re)subscribes mid-stream runs the query and gets it likewise. Writes
// to Postgres per answer: the message's insert and its final update (and
// the run's insert and update), whatever its length. Tool calls are
// MessageParts of the message (tool-use with its input, tool-result with
// a line for people), shown as they happen. A node's streams are its
// own: with several nodes (issue 21) the others show the text at the end,
// and a takeover, hand-off or close handled by another node does not stop
// a stream here (the stopping is told in process, after the deciding
// mutation commits: functions.MutationCtx.AfterCommit) until the cluster
// issue shares both. The end is written once, tried for about a minute
// if the database is away; a reply stopped by anything but a takeover,
// hand-off, close or leave (its timeout, the node stopping) is a failed
// one and hands the conversation off.
//
// # Tools
//
// get_order_status({orderId}) reads only the customer's own orders at a
// store of their org (another's is "order not found", as a missing one);
// search_faq({query}) searches the assistant's FAQ by Postgres full text
// (english), each entry scored by the share of the question's words it
// has (confident from MinCoverage); transfer_chat_to_agent({reason,
// skills?}) ends the reply and hands the conversation off. Tools run as
// the customer: the job carries who wrote the message, never anything the
// model says.
//
// A reply stops (its provider's request cancelled, the answer ended as
// it stood, marked interrupted "cancelled") when its customer leaves:
// they were online (heartbeats, package support's presence) and every
// session of theirs stayed gone for Config.LeaveGrace (30 s, the
// presence TTL). A reload reconnects within it, and finds the text so
// far. It stops likewise on a takeover, a hand-off and a close.
//
// # Hand-off
//
// A hand-off (transfer_chat_to_agent; a customer message asking for a
// person or with one of handoffRules.keywords; handoffRules.maxFailures
// answers in a row without a confident one; a failed reply: provider
// down, a model that hangs past its idle timeout, the reply's timeout; a
// spent budget; requestHuman, the widget's "talk to a human") sets the
// chat handed_off, queues the conversation in the desk's queue
// (support.Service.Handoff, with the reason as its topic and the skills),
// posts "Transferred to an agent: <reason>", and stops a reply streaming.
// A failed reply's message keeps what it said, marked interrupted
// "error": no answer is left streaming.
//
// getAiChats() lists for agents the conversations assistants answer now,
// live (preview, streaming, failures, tokens). takeoverChat
// ({conversationId}) gives one to the calling agent: the reply streaming
// stops at once (its provider's request is cancelled), its partial answer
// kept and marked interrupted "takeover", the conversation assigned to
// the agent, who joins. resumeAi({conversationId}) hands it back: the
// agent lets go, its open desk request is closed, and the assistant
// answers the next message. getAssistantRuns({conversationId}) shows
// agents each reply's prompt and steps (text, tool calls and results,
// errors) for review.
//
// # Guard rails
//
// Budgets: budgets.conversationTokens per conversation, and
// budgets.dailyTokens per assistant per UTC day (a store's assistant: the
// store's); spent, the conversation is handed off. Rate: at most
// Config.RunsPerMinute replies per conversation per minute, one at a
// time; later messages wait (their replies are delayed, not dropped).
// Tokens are the provider's usage, else text length / 4.
//
// # Access rules
//
// The caller's identity comes only from a verified JWT. For: a customer
// (C), store staff (S), an admin (A), no identity (N), an admin of another
// org (XA) and a guest (G), on a customer's support conversation where
// there is one (C and G: their own):
//
//	function             C    S    A    N    XA   G    notes
//	upsertAssistant      403  403  200  401  200  403  "Only admins can do this"; XA: their org's assistant
//	listAssistants       403  403  200  401  200  403  XA: their org's
//	startChat            200  403  403  401  403  200  the conversation's customer (chat's desk rule: another's is 404)
//	getChatAssistant     200  404  200  401  404  200  whoever sees the conversation (chat.ConversationAccess)
//	requestHuman         200  403  403  401  403  200  as startChat
//	getAiChats           403  403  200  401  200  403  XA: their org's
//	getAssistantRuns     403  403  200  401  404  403  XA: "Conversation not found"
//	takeoverChat         403  403  200  401  404  403  409 where no assistant answers
//	resumeAi             403  403  200  401  404  403  409 where the assistant answers, or never did
//
// # Concurrency model
//
// A Service is safe for concurrent use. Each streaming reply has a
// stream (its own mutex) and a flusher goroutine that invalidates its key
// at most every FlushInterval; the service's mutex guards the running
// replies (for cancellation) and the engine's Invalidate. Replies of one
// conversation run one at a time (begin snoozes a second one).
//
// # Several nodes
//
// Any node may run a reply (its job's), while viewers and agents are on
// every node. With Config.Fanout (package cluster's Streams, over NATS)
// the node streaming an answer publishes each flush, and its end, to the
// others, which mirror the text so far (Streams falls back on the mirror
// when the stream is not this node's) and re-run the queries showing the
// message; a stop decided on another node (takeoverChat, a hand-off, a
// close: cancelRun finds no reply here) is published with its cause's
// code (CauseTakeover, …) and the node running the reply stops it with
// that cause, so its end is written as if the stop were local. The
// customer-left stop needs no more: with a cluster's support.Presence
// every node is told of every session's change, and the node running the
// reply judges it. Without a Fanout nothing is shared and nothing more is
// paid.
//
// # Lifecycle
//
// New, Register (internal/server's Functions sets chat.Config's
// AssistantWaiting, Streams and SupportClosed), AddWorkers before the job
// queue is built, then SetPool, SetQueue and SetInvalidator. The service
// starts no goroutine but each reply's flusher, which ends with it.
package assistant
