// Package support is the live-support desk (shared/support:*), the
// sibling of package chat whose support conversations it serves: agents'
// profiles, presence, the queue and agents' actions, inactivity timers,
// transcripts and ICE servers (issue 19).
// Register adds its functions to a functions.Registry; internal/server
// calls it once.
//
// # Agents
//
// Agents are users with role admin (any admin token may act as one). An
// agent's profile (table support_agents, per org and user) holds skills
// (short lower-case words routing matches: billing, shipping, es; at most
// 20, each at most 32 letters, digits, '-' or '_'; stored normalised,
// sorted, without duplicates), capacity (concurrent chats, 1 to 50) and
// the status the agent sets (online, away, offline). An admin without a
// row has the defaults: no skills, capacity 5, status online.
// getMyAgentProfile returns the caller's, live; updateAgentProfile({skills?,
// capacity?, status?}) changes the fields given (a 400 names a wrong one).
// The effective status, what routing sees, is online when the agent set
// online and a session of theirs is live and not idle; away when they set
// away or every live session is idle; offline when they set offline or
// have no live session.
//
// # Presence
//
// Each sync connection (WebSocket) keeps a presence entry alive by
// calling heartbeat({idle?, idleSeconds?}) over it; the entry expires
// Config.PresenceTTL (30s, `--presence-ttl`) after its last beat, and goes
// at once when its connection closes or takes another identity (a logout:
// reactive.Config.IdentityLeft). A
// session is away when the client says idle, or reports idleSeconds of at
// least Config.AwayAfter (5 minutes). A user is online while any of their
// sessions (tabs, devices) is live and not idle, away while all their
// live sessions are idle, offline with none. Presence is per org: a
// subject's token of another org is another user there.
// getPresence({userIds}) returns the presence of up to 100 users of the
// caller's org (anyone else's is offline: it tells nothing of who exists);
// getOnlineAgents({skill?}) lists the org's agents whose effective status
// is online or away, by name. Both are live.
//
// A client that reconnects is offline from its old connection's close to
// its new connection's first beat (@parley/client's startPresence beats
// as soon as it is connected): dropping at once was chosen over a grace
// period so that leaving shows within a second. Like every call, a beat
// counts as activity for chat's getParticipants (package
// internal/activity: at most one user_activity write per user per 30s,
// batched), which is not presence.
//
// heartbeat is limited per user (Config.HeartbeatsPerSecond: 2 a second,
// bursts of 20; 429 rate_limited with retryAfterMs beyond), since a client
// flipping idle would re-run the queries that read its presence each
// time. Heartbeats write no row: heartbeat is an InMemory mutation (no
// transaction, no mutation_log record) and the entries live in a Presence:
// in this process's memory (MemoryPresence) on one node, shared by every
// node of a cluster over NATS (package cluster's Presence, which tells of
// other nodes' changes too). The queries that read presence
// record dependencies on keys of a table no Postgres table has
// ("@presence": a user of an org; an org's agents); when a beat, a leave
// or an expiry changes a user's presence (status or session count, not a
// mere refresh), the Presence tells the service, which hands those keys
// to the engine's Invalidate, which re-runs the dependent queries in its
// next batch. Expiry is noticed by a sweep every min(TTL/4, 250ms), so a
// change shows within a second. A name shown by getOnlineAgents is the
// token's of the agent's newest session and is not live by itself.
//
// # The queue
//
// requestSupport({topic?, skills?, priority?, orderId?}) opens (or finds)
// the calling customer's (or guest's) support conversation through chat
// (chat.OpenSupportConversation: createOrGetConversation's checks and
// answers) and queues it: a support_requests row (durable, in Postgres),
// with the skills an agent must all have, a priority (low, normal, high,
// urgent; normal by default; the customer's say, which a shop's client
// sets) and a notice in the thread ("Waiting for an agent: <topic>";
// posted read and leaving the conversation's preview, so it counts as
// nobody's unread message and the queue shows what the customer wrote). A
// blocked conversation asks for nobody (403). With Config.QueueOnMessage
// (`--support-queue-on-message`, off by default until the AI assistant
// issue says who else may hold a conversation) a customer's message in
// their support conversation while no agent holds it queues it too, once
// (CustomerWrote, chat's Config.SupportWaiting): default priority, no
// skills, no notice. A
// conversation has at most one open request (queued or assigned): asking
// again returns it (created false); a closed conversation is reopened by a
// new request. The queue is per org, ordered by priority (higher first),
// then enqueuedAt, then id. getQueue lists it for agents (position, from
// 1; enqueuedAt; skills; customer; the conversation's preview), the first
// MaxQueueListed with the count of all. getMyQueueStatus({conversationId})
// answers whoever sees the conversation (chat's rule) with its latest
// request's state (none, queued, assigned, closed), its position (every
// queued request before it, whatever its skills, plus one), and
// etaSeconds = ceil(position / availableAgents) * avgHandleTimeSeconds,
// where availableAgents counts the org's agents whose effective status is
// online (not away), with fewer open chats than their capacity and every
// skill the request needs, and avgHandleTimeSeconds is the average time
// from assignment to close over the org's Config.HandleTimeWindow (50)
// latest closed chats, Config.AvgHandleTime (5 minutes,
// `--support-avg-handle-time`) before any. With no agent available
// etaSeconds is null. Results carry timestamps (enqueuedAt, assignedAt,
// milliseconds since the epoch), never a ticking wait: a result changes
// when the queue, a profile or an agent's presence does, not every second,
// and the client counts the wait. Both queries depend on the org's
// support_requests (any change re-runs them: positions, loads and handle
// times move together), its support_agents and its agents' presence.
// Since a pick moves every waiting customer, the org's desk (positions,
// the agents with free capacity, the average) is read once per re-run
// batch and shared by every customer's run (functions.Memoized): each run
// is one indexed read of its conversation's request and arithmetic.
//
// # Agents' actions
//
// takeoverChat and resumeAi, the desk's actions on a chat the AI
// assistant holds, are at "shared/support:<name>" but registered, and
// documented in their access table, by package assistant, which owns the
// assistant's state; Handoff and HasOpenRequest are its ways into the
// queue (a hand-off queues the conversation; an open request makes the
// assistant step aside).
//
// pickNext() takes the org's best queued request the caller may handle
// (its skills within theirs), while their open chats are fewer than their
// capacity; else it answers conversationId null and a reason:
// capacity_full, no_matching_request (requests wait, none the caller may
// take) or queue_empty. Taking is atomic: the request row is locked (FOR
// UPDATE SKIP LOCKED, so a concurrent pick takes the next one), and the
// mutation's serializable transaction fails and runs again if another took
// it or changed the caller's load meanwhile: two agents never get the same
// chat, nor one beyond their capacity. Picks at once do conflict: their
// predicate reads (the queue's head, the agents' loads, all in
// support_requests) make Postgres fail some of them to serialize, and the
// runtime runs them again (six agents picking 30 requests in a tight loop
// took up to 10 of its 24 attempts); keeping loads in a per-agent row
// would leave them conflicting only over the rows they take, for the
// benchmark's 200 agents. claim({conversationId}) takes one
// conversation: its queued request, or a request made for a support
// conversation that asked for nobody (409 when another agent holds it, or
// at capacity). Taking assigns the conversation in chat too
// (assignedAdminId; the agent becomes a participant) and posts chat's join
// notice, "<name> joined the conversation". transferChat({conversationId,
// toAgentId | toSkill, note?}) hands an open request to an agent who is
// online or away with free capacity (offline or unknown: 400 naming them;
// at capacity: 409; the holder: 409) or back to the queue, at its place
// (its enqueuedAt), needing toSkill; it posts "Transferred to Maria" or
// "Transferred to Billing" (and ": <note>"). closeChat({conversationId,
// reason?}) closes the conversation through chat's closeConversation (its
// notice and its 500-character reason) and its open request (its handle
// time counts from then on); a conversation closed from the inbox
// (shared/chat:closeConversation) closes its open request too
// (ConversationClosed, chat's Config.SupportClosed), so its agent's place
// is free again. Likewise an admin who answers a queued conversation from
// the inbox (chat's sendMessage, which assigns it to them) takes its
// request, and chat's transferConversation hands the request over
// (ConversationAssigned, chat's Config.SupportAssigned; capacity is not
// checked there). Handle time runs from the first assignment, across
// transfers. Every action emits an event with its commit (support.queued,
// support.assigned, support.transferred, support.closed; EventData), and
// the customer's getMyQueueStatus and thread follow live. pickNext, claim
// and transferChat lock the request before the conversation;
// requestSupport, closeChat and chat's hooks the conversation first (a
// deadlock between them is rolled back and run again, as every
// serialization failure is).
//
// # Customer history
//
// getCustomerHistory({conversationId}) gives agents (admins of the
// conversation's org) the customer's context beside a chat: who they are
// (customerId, customerName, customerIsGuest) and what they asked before,
// their support requests in the org but this conversation's open one,
// newest first (the first MaxHistoryListed, 20, with requestCount
// counting all): topic, skills, priority, orderId, state, the agent who
// held it (agentId, agentName), enqueuedAt, assignedAt, closedAt
// (milliseconds since the epoch) and closeReason. A customer's support
// conversation is reopened by a new request, so their earlier chats are
// mostly requests of the same conversation; requests of their other
// conversations (other orders) are listed too, open ones included. It
// also lists their other conversations (with support, with stores; the
// first MaxHistoryListed by latest activity): id, type, status, orderId,
// store, the latest message's preview and time (chat.CustomerConversations).
// A conversation that does not exist or is another org's is 404 "Conversation
// not found", another kind than a customer's support conversation 400,
// as the agents' actions answer (chat.DeskConversation). It is live: it
// depends on the customer's requests (support_requests by customer_id,
// so a request of theirs queued, taken or closed re-runs it) and
// conversations (a message in one re-runs it; the console shows their
// previews), not on the org's queue; an org's admins share its instances.
//
// # Timers
//
// An assigned chat has inactivity timers (seed 004: a 4-minute warning,
// a 30-minute close; Config.Timers). Its silence starts at the agent's
// last word (an admin's message) or the assignment, whichever is later.
// While the customer has not answered it: after WarnAfter a notice "Are
// you still there? This chat closes in N minutes without a reply." and a
// support.warned event, once per silence (warned_at); after CloseAfter the
// chat closes as closeChat closes it (the notice "<agent> closed this
// conversation: no reply for N minutes", support.closed). When instead the
// customer has the last word and the agent has not answered for
// AgentReplyIn, support.agent_silent and, by AgentSilence, either the chat
// goes back to the queue at its place (requeue: unassigned, a notice "No
// answer from <agent> for N minutes: back in the queue…",
// support.transferred) or only a notice (alert), once per unanswered
// message (alerted_at). Any message starts a new silence: that is how
// activity cancels a timer.
//
// The timers are not held anywhere but in the rows: a periodic river job
// (on the leader, so once cluster-wide) runs CheckTimers every Interval,
// which finds the chats due from the messages' and the request's times
// (one statement) and runs, for each, an internal mutation (in a registry
// of the service's own, which no client can name) on behalf of the agent
// who holds it; that mutation locks the request and checks again before
// it acts. So a restart forgets nothing (the rows say what is due), two
// checks at once act once, and a timer never acts on a chat its agent no
// longer holds (taken, transferred, closed: the check finds it so).
//
// # ICE servers
//
// getIceServers (and GET /api/ice-servers, the same query for a bearer
// token, answered as plain JSON with Cache-Control: no-store) returns
// {iceServers: [{urls, username?, credential?}], expiresAt}, the shape an
// RTCPeerConnection takes: the STUN servers of Config.ICE, then its TURN
// servers with a credential of the caller's own in the TURN REST API
// scheme: username "<expiry, Unix seconds>:<user>" (user: the subject, or
// "<org>/<subject>" in an org), credential the base64 HMAC-SHA1 of the
// username keyed with the secret shared with the TURN server (coturn's
// use-auth-secret), which checks it without asking Parley. Expiries sit on
// a grid of half the lifetime (CredentialTTL, 1 hour), so a credential is
// good for between half and all of it and the calls of one window give
// one answer; the query asks to re-run when its credential enters the
// second half (QueryCtx.RefreshAt), so a subscriber always holds one good
// for at least half the lifetime. `parley dev` runs a real TURN/STUN
// server on loopback (internal/devturn) with a secret kept in its data
// directory; `parley serve` takes --stun-url, --turn-url, --turn-secret.
//
// # Transcripts
//
// getTranscript({conversationId, format?, timeZone?}) renders a whole
// conversation for whoever may read it (chat's rule, the same instance
// for all of them: QueryShared with chat.ConversationAccess), as
// {filename, mimeType, content, messageCount, truncated}: format json (a
// TranscriptDoc), text or html; every message oldest first, notices
// ("Maria has joined", a close's reason) included, a deleted message as
// "(deleted)", an image as its signed link (which expires, as in
// getMessages), locations and meetings spelled out; every time in the
// viewer's IANA time zone (default UTC; the zone database is built in).
// html is html/template's: what people wrote is escaped, and the download
// serves it with a Content-Security-Policy that runs nothing. At most
// MaxTranscriptMessages (the newest; truncated says so), read in pages
// (chat.ReadTranscript). GET /api/transcript?conversationId=&format=&timeZone=
// with a bearer token serves the same as a file to save.
//
// # Access rules
//
// The caller's identity comes only from a verified JWT. For: a customer
// (C), store staff (S), an admin (A), no identity (N), an admin of another
// org (XA) and a guest (G):
//
//	function             C    S    A    N    XA   G    notes
//	getMyAgentProfile    403  403  200  401  200  403  "Only admins can do this", as chat's admin-only functions; XA: their org's profile
//	updateAgentProfile   403  403  200  401  200  403  skills, capacity and status validated (400)
//	heartbeat            200  200  200  401  200  200  over a sync connection only (over HTTP: 400)
//	getPresence          200  200  200  401  200  200  XA: the default org's users are offline to it
//	getOnlineAgents      403  403  200  401  200  403  XA: their org's agents, none of the default org's
//	requestSupport       200  403  403  401  403  200  customers and guests (chat's createOrGetConversation's answers); topic, skills, priority validated (400)
//	getQueue             403  403  200  401  200  403  XA: their org's queue
//	getMyQueueStatus     200  404  200  401  404  200  whoever sees the conversation (chat.ConversationAccess); C, G: their own
//	getCustomerHistory   403  403  200  401  404  403  agents of the conversation's org; XA: "Conversation not found"; not a customer's support conversation: 400
//	pickNext             403  403  200  401  200  403  XA: their org's queue (nothing: null and a reason)
//	claim                403  403  200  401  404  403  C: the conversation's customer; XA: "Conversation not found"; 409 another agent's or capacity full
//	transferChat         403  403  200  401  404  403  to an offline or unknown agent: 400; to one at capacity: 409
//	closeChat            403  403  200  401  404  403  the reason as closeConversation's (400 beyond 500 characters)
//	getIceServers        200  200  200  401  200  200  TURN credentials of the caller's own; also GET /api/ice-servers
//	getTranscript        200  200  200  401  404  404  chat's rule for the conversation (C: John's; S: its store's staff); also GET /api/transcript?conversationId=
//
// # Concurrency model
//
// A Service is safe for concurrent use. MemoryPresence takes one mutex
// for every beat, leave, read and sweep, and calls its change function
// after releasing it; the service then takes its own lock (a leaf) to
// read the engine's Invalidate, which never blocks. Handlers run
// concurrently, one call each. The queue keeps no state in memory: its
// rows are in Postgres, and concurrent actions on them are ordered by row
// locks and the mutations' serializable transactions (see # Agents'
// actions).
//
// # Lifecycle
//
// New, then Register before the engine is built (whose IdentityLeft is
// the service's) and before chat's configuration is (internal/server's
// Functions sets chat.Config's SupportClosed and SupportAssigned, and
// SupportWaiting with Config.QueueOnMessage, to the service's), then
// SetInvalidator with the engine's Invalidate; Run sweeps expired entries
// until its context ends, and returns then.
//
// # Invariants
//
// A heartbeat costs a map update and, only when the user's presence
// changes, an invalidation: never a database write. A presence change
// re-runs every query that read that user's (or that org's agents')
// presence; over-invalidation is allowed, a missed one is a bug. A
// conversation has at most one open request (an index says so); an open
// request is assigned exactly when an agent holds it, and chat's
// assignedAdminId names the same agent once an agent has taken it.
package support
