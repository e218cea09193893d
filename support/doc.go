// Package support is the live-support desk (shared/support:*), the
// sibling of package chat whose support conversations it serves: agents'
// profiles, presence, transcripts and ICE servers so far (issue 19, items
// 1, 2, 6 and 7); the queue, agents' actions and timers come next.
// Register adds its
// functions to a functions.Registry; internal/server calls it once.
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
// transaction, no mutation_log record) and the entries live in a Presence,
// in this process's memory (MemoryPresence) until the cluster issue backs
// the interface with its shared transport. The queries that read presence
// record dependencies on keys of a table no Postgres table has
// ("@presence": a user of an org; an org's agents); when a beat, a leave
// or an expiry changes a user's presence (status or session count, not a
// mere refresh), the Presence tells the service, which hands those keys
// to the engine's Invalidate, which re-runs the dependent queries in its
// next batch. Expiry is noticed by a sweep every min(TTL/4, 250ms), so a
// change shows within a second. A name shown by getOnlineAgents is the
// token's of the agent's newest session and is not live by itself.
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
//	getIceServers        200  200  200  401  200  200  TURN credentials of the caller's own; also GET /api/ice-servers
//	getTranscript        200  200  200  401  404  404  chat's rule for the conversation (C: John's; S: its store's staff); also GET /api/transcript?conversationId=
//
// # Concurrency model
//
// A Service is safe for concurrent use. MemoryPresence takes one mutex
// for every beat, leave, read and sweep, and calls its change function
// after releasing it; the service then takes its own lock (a leaf) to
// read the engine's Invalidate, which never blocks. Handlers run
// concurrently, one call each.
//
// # Lifecycle
//
// New, then Register before the engine is built (whose IdentityLeft is
// the service's), then SetInvalidator with the engine's Invalidate; Run
// sweeps expired entries until its context ends, and returns then.
//
// # Invariants
//
// A heartbeat costs a map update and, only when the user's presence
// changes, an invalidation: never a database write. A presence change
// re-runs every query that read that user's (or that org's agents')
// presence; over-invalidation is allowed, a missed one is a bug.
package support
