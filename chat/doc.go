// Package chat is the chat API of the API document (shared/chat:*):
// conversations between customers and stores or support, their messages
// (text, images, system and transfer notices), read state, typing
// indicators, and the support desk's transfer and block. Register adds
// every function to a functions.Registry; internal/server calls it once.
//
// The package owns its tables' access: read.go (with read_groups.go and
// read_search.go) reads conversations,
// messages, typing_state and the files attached to messages, recording
// each read's key as a dependency (schema.DB.Record) so the engine can
// re-run a query when a commit changes what it read; write.go holds every
// statement of chat's that writes them, run in the mutation's transaction.
// Package media creates the files rows and the upload URLs (through the
// chat.Media interface, in the same transaction); chat only attaches a
// file to its message. Handlers
// check who may do what and decide what to write; they hold no SQL.
//
// # Access rules
//
// The caller's identity comes only from a verified JWT (package jwtauth):
// its subject, its role (customer, store, admin, or guest: see # Guests)
// and, for store staff, the store they work for. Who may see a conversation: its customer, the staff
// of its store (store conversations only), a group's participants, and
// every admin. Who speaks in it (sends, marks read, types): its customer;
// its store's staff in a store conversation; admins in a support
// conversation; a group's participants. Admins moderate every conversation
// (they see it, post system notices, block, close) without becoming a
// member of a group. A caller outside a conversation learns nothing about
// it: 404, not 403. The table gives the status for a store conversation
// (and a support one, or a group, where it differs) for: the
// conversation's customer (C), another customer (OC), staff of its store
// (S), staff of another store (OS), an admin (A), no identity (N), and two
// callers of another org (see # Organizations): the conversation's
// customer's subject with a token for that org (XC) and that org's admin
// (XA); and a guest (G), whose own support conversation is as C's support
// conversation is to C (the tests' guest variant: G takes C's column and
// C another customer's). The group is John's (C) with two of Pizza
// Palace's staff (S); A is not in it.
//
//	function                     C    OC   S    OS   A    N    XC   XA   G    notes
//	createOrGetConversation      200  404  403  403  403  401  404  403  403  OC, XC: "Order not found" (not their order, or not in their org); G: 403 with an order or a store, {} opens its support conversation
//	createOrGetStoreSupportConversation  403  403  200  404  200  401  403  404  403  with S's store; OS, XA: "Store not found"; see # Store support; G: 403, as customers
//	sendMessage (text)           200  404  200  404  403  401  404  404  404  A: 200 in support; S: 404 in support; group: as store
//	sendMessage (system)         400  400  400  400  200  401  400  404  400  "system" is for admins only
//	sendMessage (image)          200  404  200  404  403  401  404  404  404  as text; the file must be the caller's own unattached upload
//	sendMessage (location)       200  404  200  404  403  401  404  404  404  as text; lat in [-90, 90], lng in [-180, 180], label ≤ 200 characters
//	sendMessage (meeting)        200  404  200  404  403  401  404  404  404  as text; see # Meetings
//	editMessage (C's message)    200  404  403  404  403  401  404  404  404  only the sender, within the edit window (admins: any time); S: 404 in support
//	getMessageHistory            200  404  200  404  200  401  404  404  404  whoever sees the conversation; S: 404 in support
//	searchMessages               200  404  200  404  200  401  404  404  404  with conversationId; without, each searches what they may see; S: 404 in support
//	markMessagesAsRead           200  404  200  404  403  401  404  404  404  A: 200 in support; S: 404 in support; group: as store
//	markDelivered                200  404  200  404  403  401  404  404  404  as markMessagesAsRead; see # Delivery; G: 200 in its own support conversation
//	getParticipants              200  404  200  404  200  401  404  404  404  whoever sees the conversation; S: 404 in support; G: 200 in its own support conversation
//	archiveConversation          200  404  200  404  200  401  404  404  404  S: 404 in support
//	deleteMessage (C's message)  200  404  403  404  200  401  404  404  404  only the sender or an admin; S: 404 in support
//	updateTypingStatus           200  404  200  404  403  401  404  404  404  A: 200 in support; S: 404 in support; group: as store
//	getTypingIndicators          200  404  200  404  200  401  404  404  404  never lists the caller; S: 404 in support
//	getConversation              200  404  200  404  200  401  404  404  404  S: 404 in support; a group's lists its participants
//	getMessages                  200  404  200  404  200  401  404  404  404  S: 404 in support
//	getMessagesPaginated         200  404  200  404  200  401  404  404  404  S: 404 in support
//	getConversations             200  200  200  200  200  401  200  200  200  each sees their own list (one-to-one conversations); see # Inboxes; G: its support conversations
//	getConversationsPaginated    200  200  200  200  200  401  200  200  200  as getConversations, a page at a time
//	getUnreadCount               200  200  200  200  200  401  200  200  200  each sees their own total (one-to-one conversations)
//	getGroupConversations        200  200  200  200  200  401  200  200  200  each sees the groups they are in
//	getOrCreateDirectChannel     200  404  200  404  200  401  404  404  403  with S's colleague; see # Direct channels for who may write to whom; G: 403, guests have no direct channels (A naming one: 403)
//	getDirectChannels            200  200  200  200  200  401  200  200  200  each sees their own direct channels
//	createGroupConversation      200  404  200  404  200  401  404  404  403  adding S's colleague; see # Groups for whom each may add; XC, XA: another org's user; G: 403, guests join no group (A adding one: 403)
//	canChatWithStore             200  200  403  403  403  401  404  403  403  customers only; XC: "Store not found" (another org's); G: 403
//	setConversationSubject       200  404  200  404  200  401  404  404  404  those who speak in it, and admins; posts a notice; S: 404 in support
//	isChatEnabled                200  200  200  200  200  200  200  200  200  the chat switch of the caller's org (and of storeId's store: 404 for another org's)
//	getChatSettings              200  200  200  200  200  200  200  200  200  public; the caller's org's (the default org's without a token)
//	generateUploadUrl            200  200  200  200  200  401  200  200  403  a single-use URL for the caller's own upload; G: 403, guests upload nothing
//	transferConversation         403  404  403  404  400  401  404  404  404  support only: A 200 in support, 400 on a store conversation or group; S: 404 in support
//	blockConversation            403  404  403  404  200  401  404  404  404  also unblockConversation; S: 404 in support
//	closeConversation            403  404  200  404  200  401  404  404  404  also reopenConversation; the store side and admins; S: 404 in support;
//	                                                                          group: its creator (C 200) and admins, S 403
//	claimGuestThreads            200  200  403  403  403  401  400  403  403  customers only, with a guest token of their org (XC: 400); see # Guests
//
// In a store ↔ support thread (store_to_admin, Pizza Palace's) the store's
// staff (S) and admins (A) speak, as a customer and admins do in a support
// conversation, and nobody else sees it: C, OC, OS, XC, XA, G 404. Tested so
// for sendMessage, markMessagesAsRead, markDelivered, getMessages,
// getConversation, getParticipants, searchMessages, updateTypingStatus,
// closeConversation and reopenConversation (S and A 200) and
// transferConversation (A 200, S 403).
//
// # Guests
//
// A guest is a visitor without an account (a shop's chat widget; seed 001's
// guest_id_for_live_chat) with a short-lived token that Parley mints itself
// (POST /api/guest, package internal/guestauth; role guest, a subject of
// its own, "guest_…"; package jwtauth says why no other token can pose as
// one). A guest is a customer without orders: it opens its support
// conversation with createOrGetConversation({}) (with an orderId or
// storeId: 403 "Guests can only chat with support: sign in to do this"),
// and there sends (text, locations, meetings), edits, deletes, types, marks
// read, acknowledges delivery (markDelivered), archives, sets the subject
// and reads (getParticipants too) as the conversation's customer does;
// lists, totals and search cover its own conversations. Its messages and
// typing speak for the customer side (senderType and userType "customer");
// its name is the token's. A guest cannot reach another guest's
// conversation, nor any other (404, as anyone outside one). Store
// conversations, store ↔ support threads, groups (starting one, or being
// added to one: only an admin could name a guest, 403), direct channels
// (opening one, or being named in one: only an admin could, 403;
// getDirectChannels lists none), uploads (generateUploadUrl: anonymous
// storage for anyone) and canChatWithStore are 403 for guests. Lists show a
// guest's conversations with customerIsGuest.
//
// claimGuestThreads({guestToken}) is how a guest who signs in keeps what it
// said: a customer calls it with the token it had as a guest, which must
// verify as a guest's (Config.Guests: signature, expiry, role) of the
// caller's org (else 400 naming guestToken and why: "guestToken: token
// expired"). In the mutation's one transaction every conversation of the
// guest's becomes the customer's: its customer, the guest's participant row
// and the guest's messages (their sender, and who deleted or edited them);
// a conversation the customer already has about the same subject (type,
// store, order: its support conversation) takes the guest's instead — the
// messages move there with their times, interleaving in time order, the
// participants join with the later read and delivery state, the later last
// message and preview win, the conversation stays active if either was and
// blocked if either was, and the emptied guest conversation is deleted. The
// unread counters follow the moved messages (their triggers count a row out
// of one conversation and into the other), and every live query sees the
// move: its rows change (REPLICA IDENTITY FULL carries the old customer and
// conversation to the guest's subscriptions, which then answer 404).
// Nothing is lost or counted twice. It returns {claimedConversationIds,
// movedMessages, threads: [{guestConversationId, conversationId, merged,
// messages}]}; claiming again finds nothing left and returns none. The
// guest's token still opens a new support conversation until it expires,
// never a claimed one. The chat switch does not stop a claim, which keeps
// what was said and sends nothing.
//
// # Inboxes
//
// getConversations({status?, limit?, kind?, orderId?, storeId?,
// unreadOnly?}) lists the caller's one-to-one conversations of one status
// ("active" unless given), newest activity first: a customer's own, their
// store's for its staff (with its customers and with support), every
// support conversation of the org for admins (customers' and stores'). The
// filters only narrow that list: kind ("customer_to_store",
// "customer_to_admin" or "store_to_admin"), orderId (about that order),
// storeId (with that store; customers' support conversations have none),
// unreadOnly (those where the caller's side has unread messages:
// unreadCountCustomer for customers, unreadCountRecipient for a store's
// staff in each of the store's conversations and for admins in a
// customer's, unreadCountCustomer for admins in a store's thread with
// support). getUnreadCount sums the same counts. A filter outside the
// caller's list (an admin's kind "customer_to_store", another store's
// storeId, someone else's order) lists nothing, as a filter that matches
// nothing does: it tells nobody what exists. A malformed one is 400,
// naming the argument. getConversationsPaginated({paginationOpts, status?,
// kind?, orderId?, storeId?, unreadOnly?}) takes the same filters and
// answers usePaginatedQuery ({page, isDone, continueCursor, splitCursor?,
// pageStatus?}) as getMessagesPaginated does: keyset pages on (latest
// activity, id), so no inbox has a load cap, and a page that has run keeps
// its range, growing and shrinking in place. A conversation with a new
// message moves to the top: it leaves its page and joins the first (whose
// range has no newer bound) while every page's bounds stay, so nothing is
// shown twice or skipped. Both are live: a conversation entering or
// leaving a filter (a message arrives, the caller's side reads, a status
// changes) re-runs them. A store's staff share one instance per arguments,
// as do a support team's admins. Indexes conversations_store and
// conversations_type find a store's or support's conversations of a
// status, and a page is the top of their sort by latest activity: no index
// holds the activity, which every message moves (an index on it cost
// sendMessage 40% of its peak throughput, 0020_inbox_hot.sql);
// conversations_order serves orderId, and a list filtered by order
// depends on that order's conversations only.
//
// # Groups
//
// createGroupConversation({participantIds, title?}) starts a group of the
// caller and the users named, up to Config.MaxGroupSize participants (20
// unless set), its creator included. Whom each may add: a customer, only
// staff of a store they may message directly (an active order there,
// messaging on; otherwise 403 with canChatWithStore's reason when they
// have an order there); store staff, only colleagues of their store;
// admins, anyone. Any other user is 404 "User not found: <id>", the same
// answer as for an id that does not exist. Members are those added at
// creation. A group has an optional title (at most 100 characters) and no
// customer or store: its customerId is empty. getConversations and
// getUnreadCount cover one-to-one conversations, whose lists are shared by
// a store's or support's whole team; getGroupConversations lists the
// caller's groups, each with its participants and the caller's own
// unreadCount. Read state in a group is a position per participant:
// markMessagesAsRead moves it to the latest message, or to the newest of
// messageIds, never back, and reports the others' messages it newly
// covers; a group's unreadCountCustomer and unreadCountRecipient are 0.
// A message's time is after its conversation's latest (the conversation
// is locked), so a position never passes a message still to commit,
// whatever the senders' clocks. Archiving a group (any member, or an
// admin) archives it for every member, as for any conversation; a new
// message brings it back.
//
// # Store support
//
// createOrGetStoreSupportConversation({storeId?, orderId?}) opens (or
// finds) the thread between a store's staff and the marketplace's support
// (store_to_admin; seed 000's vendor ↔ admin): one per store and order, or
// per store without one. Staff open their own store's (storeId defaults
// to it; another store is 404 "Store not found"); admins name the store
// (400 without storeId); customers are 403. orderId must be an order of
// that store (404 "Order not found"). The thread has a store and no
// customer; in it the store is the asking side, as a customer is in a
// support conversation: each side marks the other's messages read, and a
// message is delivered when the other side has it. The counters keep a
// column per party: the store's unread count is unreadCountRecipient, as
// in its conversations with customers, so a store's total is one column
// over all of them; support's is unreadCountCustomer. Admins take it by answering (assignedAdminId), transfer
// it, block it; the store's staff and admins close it. The store's chat
// switch does not apply (it is the store's chat with customers); the
// org's does. It is in the store's inbox and in support's.
//
// # Direct channels
//
// getOrCreateDirectChannel({userId}) returns the direct channel of the
// caller and userId (seed 001), creating it the first time: one per pair
// of users of an org, whichever of the two asks, found by its key
// direct:<idA>:<idB> (the ids in byte order; ConversationDoc.channelKey).
// Who may write to whom: anyone to an admin of their org (support), admins
// to anyone; otherwise as for adding to a group (a customer, staff of a
// store they may message; staff, their colleagues). Any other user is 404
// "User not found: <id>". The two are its participants, as in a group:
// only they see it and speak in it, with read positions of their own;
// admins moderate it (see it, block, close), and either of the two may
// close it. getDirectChannels({status?, limit?}) lists the caller's, each
// with both participants and the caller's own unreadCount; the
// one-to-one lists and totals do not include them.
//
// # Delivery
//
// Seed 003's sent → delivered → read, per recipient. markDelivered
// ({conversationId, upToMessageId}) says one of the caller's clients has
// received the conversation's messages up to that one: it moves the
// caller's delivered position (conversation_participants.delivered_up_to,
// a message's creation time) forward, never back, in one statement per
// batch, and writes nothing when the position is already there (another
// of the caller's clients was first). @parley/client's useChat and the web
// app call it when a result brings messages of others; staff and support
// who acknowledge become participants, as when they send or read. In
// getMessages and getMessagesPaginated, every message but notices and
// deleted ones has a status: "read" when the other side read it (a group:
// every other participant), "delivered" when a client of the other side
// has it (a group: of every other participant; what was read was
// received), else "sent"; in a group, deliveredTo and readBy name the
// others it has reached. In a group or direct channel, receipts say for
// each other participant when it reached them (deliveredAt) and when they
// read it (readAt): each move of a position there is also a row of
// receipt_marks (the new position and its time), and a message's time is
// that of the first mark that reached it, which later marks do not move.
// (One-to-one conversations keep readAt on the message itself.) A state
// change re-runs the thread's page once, for everyone watching it.
//
// # Participants
//
// getParticipants({conversationId}) lists who takes part (seed 000's
// participant model: the customer from creation, store staff and support
// from their first send, read or acknowledgement, a group's members),
// with lastReadAt, lastDeliveredAt, lastSeenAt and isOnline. Activity is
// kept in user_activity by package internal/activity from every
// authenticated call and open session, written at most once per user per
// 30 seconds (going online or offline at once), in one statement per
// second for all users; a user is online while one of their sessions is
// open, and goes offline, live, when the last closes or its node stops
// vouching for it.
//
// # Edits and meetings
//
// editMessage({messageId, content}) replaces the content of a text message
// or the caption of an image, location or meeting. Only the sender may
// (403 "Only the sender can edit this message"), within Config.EditWindow
// of sending (15 minutes unless set; 403 "Messages can only be edited
// within 15 minutes of sending"); admins' own messages have no window.
// Notices cannot be edited (400), nor a deleted message (409), nor
// anything in a blocked or closed conversation (403, as sending). The
// message gets editedAt, the conversation's preview follows when it is the
// latest, and the replaced version is kept: getMessageHistory({messageId})
// lists every version, oldest first, the last being the current content,
// to whoever may see the conversation; a deleted message's history is
// empty, its content being hidden from everyone.
//
// # Meetings
//
// sendMessage with messageType "meeting" schedules a call:
// meeting: {title (1 to 200 characters), startsAt (milliseconds since the
// epoch, from an hour ago to a year ahead), durationMinutes (1 to 1440),
// joinUrl (an absolute http or https URL, no credentials)}; content is an
// optional caption, and the preview "Meeting: <title>" without one.
//
// # Search
//
// searchMessages({query, conversationId?, limit?, cursor?}) finds messages
// by their words (Postgres full text, the 'simple' configuration: no
// stemming, any language; websearch syntax: words, "a phrase", -word, or),
// best first (ts_rank, then newest), among what the caller may see: one
// conversation's with conversationId (404 for an outsider), else a
// customer's conversations and groups, a store's and its staff member's
// groups, or every conversation of an admin's org. Deleted messages never
// match; the query is a parameter, never part of the SQL; an index
// (messages_search) serves it, and statistics of the words
// (messages_words) let the planner tell a rare word from a common one. The
// newest SearchCandidates (5,000) matches are ranked: a word in a third of
// a million messages costs that many, not all of them (beyond it, the
// result is the best of the newest 5,000). The result is live: a new message that
// matches joins it. (Without conversationId a search depends on every
// message: each new one re-runs the open searches, which are few and
// short-lived next to the threads and lists.)
//
// # The chat switch
//
// Seed 001's chat_v1_enabled: chat_settings.chat_enabled (per org) and
// stores.chat_enabled. While the org's is off, every chat mutation of a
// customer or of store staff answers 403 "Chat is disabled"; while a
// store's is off, so do those on its conversations and starting one with
// it, or a group with its staff (canChatWithStore gives the reason "Chat
// is disabled"). Admins are not stopped (they moderate), queries keep working,
// read-only, and isChatEnabled({storeId?}) tells clients which. A caller
// outside a conversation still gets 404 first.
//
// # Organizations
//
// A token's optional org claim (Identity.Org; none is the default org,
// "") scopes everything: users, stores and conversations carry their
// org_id, orders and staff belong to their store's, and a caller sees and
// changes only their org's. A conversation of another org is not found
// (404, as one that does not exist), whatever the role: admins are admins
// of their org only. Lists and totals cover the caller's org; a store, an
// order, a transfer's admin or a group's participant of another org is not
// found. Settings are per org: an org's chat_settings row (org_id), else
// the default org's. A subject is one users row, kept in the org it was
// first seen in (which decides whom it may be added to and its uploads'
// limits); a token of another org for the same subject sees only that
// org's conversations. The domains still to come (support queues, agents,
// assistants) scope by Identity.Org the same way.
//
// # Images
//
// generateUploadUrl returns a short-lived, single-use upload URL bound to
// the caller (package media serves it). sendMessage with messageType
// "image" attaches imageAttachment.fileId, which must be an upload of the
// caller's that no message has yet (else 404 "File not found", as for an
// id that does not exist; 409 if it is already attached). The type, size
// and dimensions shown are what the server measured and stored; of what
// the client declares, only fileName is kept (for display), and a declared
// fileSize over the settings' maxImageSizeMB is the document's 400 "Image
// size exceeds 5MB limit". getMessages and getMessagesPaginated list image
// messages with imageAttachment: the stored file's facts and signed,
// expiring URLs of the image and its thumbnail, valid for that
// conversation only. They are the same for every caller the access check
// admits (the body is shared), and the query re-runs before they expire.
//
// Sending to a blocked conversation is 403 "Conversation is blocked"; to a
// closed one 403 "Conversation is closed" — except admins' system notices,
// which are moderation and always get through. closeConversation (with an
// optional reason, at most 500 characters) and reopenConversation post a
// system message saying who closed or reopened it, and why.
//
// Notices (system messages) also say who created a group, who transferred
// a conversation to whom, who blocked or unblocked it, who changed its
// subject, and who joined: the first admin to answer a support
// conversation (a customer's or a store's) takes it, and "<name> joined
// the conversation" comes just before the answer. A join notice is posted
// read (it asks nothing of anyone, so no unread count shows it). Staff
// answering their store's conversations join it silently (as participants
// only: a notice there would cost the busiest path a statement).
//
// # The support desk
//
// Package support queues customers' support conversations and lets agents
// take, transfer and close them, through desk.go's exported hooks, run in
// the desk's mutation: OpenSupportConversation (createOrGetConversation
// for the caller), LockDeskConversation (a customer's support
// conversation, locked, the caller's access checked), DeskAssign
// (assignedAdminId), DeskJoin (the join notice), DeskNotice (a system
// notice), DeskReopen and CloseSupportConversation (closeConversation).
// They write chat's rows and emit chat's events as chat's own functions
// do; the desk decides who may call them. Config.SupportWaiting, when
// set, tells the desk of a customer's message in their support
// conversation while no admin holds it (the desk may queue it);
// Config.SupportClosed of each conversation closeConversation closes (the
// desk closes its open request); Config.SupportAssigned of each customer's
// support conversation an admin takes by answering or receives by
// transferConversation (the desk gives them its open request).
//
// # Rate limits
//
// sendMessage, updateTypingStatus and generateUploadUrl are limited per
// user by a token bucket each (ratelimit.go), applied through
// functions.Admit once per call. A sendMessage or generateUploadUrl whose
// token is due within Config.RateLimitWait (5 s by default) waits for it,
// holding no database connection, and runs (functions.AdmitAfter): the
// bucket leaks at the configured rate and the waiting calls queue in
// order, so a client that replays what it queued offline loses nothing.
// A call beyond the wait, and any typing update over its limit, gets 429
// rate_limited with retryAfterMs. The buckets live in this process by default; with
// Config.RateLimits set to keyrate.PG.Limiter they are rows in Postgres
// that every node shares (internal/server's SharedState).
//
// # Concurrency model
//
// Register runs at start-up. Handlers run concurrently, one call each;
// the rate limiters are safe for concurrent use, and nothing else in the
// package is shared between calls.
package chat
