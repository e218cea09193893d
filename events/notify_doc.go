package events

// # Notification functions
//
// Email notifications (seeds 000 and 001) tell a participant by mail of
// the messages they miss. Each user has a mode: "immediate" (the
// default, for a user who never chose), "digest" or "off".
//
//	function                      C    S    A    G    N    notes
//	getNotificationSettings       200  200  200  403  401  the caller's own: {mode, email, emailSource, emailEnabled}
//	updateNotificationSettings    200  200  200  403  401  the caller's own; {mode?, email?}: an absent field keeps its value, email "" removes the address set
//
// C is a customer, S a store's staff, A an admin, G a guest (403: guests
// get no mail; their tokens are short-lived and carry no address), N no
// identity. Nobody reads or changes another user's settings. The tests
// (notify_access_test.go) check the table cell by cell.
//
// # Addresses
//
// A user's mail goes to the address they set (updateNotificationSettings),
// else their token's optional email claim (functions.Identity.Email;
// `parley token --email`), else their account's (users.email; the demo
// users have one). The claim is recorded in user_emails by the activity
// tracker's batched writes (internal/activity) when a node first sees it
// or sees it change, and by the settings functions: no call pays a
// statement for it. An address set is not verified: whoever holds a
// user's token can send that user's notifications elsewhere.
//
// # Offline mail
//
// A periodic river job (NotifyConfig.ScanInterval, on river's leader, so
// once cluster-wide) runs ScanOffline: it finds the participants who are
// offline (no user_activity row, or last seen more than OfflineAfter ago
// and no open session), in mode immediate with an address, with unread
// news in a conversation with a message in the last Lookback: a message
// of someone else's (in a one-to-one conversation, of the other side, and
// not yet is_read) newer than what they read (last_read_at) and than
// their last mail (notified_at), and who are not in a quiet period. A
// participant's quiet period starts when they are mailed (notified_at)
// and ends when they read past it or come back (last_seen_at passes it):
// a burst of messages makes one mail per conversation. In one
// transaction the scan sets their notified_at, records each mail
// (notification_emails) and inserts its job; sendMessage does nothing for
// any of it (no statement, no job: bench d's throughput is untouched).
//
// The mail job (events.mail) locks its mail's row, skips it if it is no
// longer pending or wanted (the mode changed, everything was read), sends
// it through the Mailer and marks it sent, all in one transaction. A
// failed send (the SMTP server is down) rolls back and river retries it
// with backoff (RetryBase doubling to RetryMax, 120 attempts), so an
// outage delays a notification and never loses it. The Message-ID is a
// function of (user, conversation, notified_at): a mail sent again after a
// crash between its send and its commit is recognisably the same. The mail
// quotes the unread messages (the latest ten), links the thread
// (BaseURL/c/<id>, the web app's page) and carries an unsubscribe link
// (List-Unsubscribe, with RFC 8058 one-click POST): GET or POST
// /api/notifications/unsubscribe?token=… with a token signed by
// UnsubscribeKey (HMAC-SHA256 of the user's id; it does not expire) sets
// the user's mode to off.
//
// # Digests
//
// A periodic job every DigestInterval (default daily) runs ScanDigests:
// each user in mode digest with an address and conversations of unread
// news since their last mail gets one digest for the period (aligned on
// the Unix epoch) listing them, each with its unread count, latest
// message and link. The digest's id is its (user, period): the run
// records it with ON CONFLICT DO NOTHING in the transaction that sets the
// conversations' notified_at and inserts the job, so a second run of the
// period, a restart or a second node sends nothing twice. Users without
// unread news get none.
//
// # Concurrency model
//
// Scans run on river's leader; a scan locks the participant rows it
// marks (FOR UPDATE SKIP LOCKED), so two overlapping scans never decide
// one mail twice. A mail job holds its row's lock while it sends, so a
// rescued duplicate run waits and then finds it sent. The Mailer is
// called from river's workers concurrently.
//
// # Lifecycle
//
// Without a Mailer no scan is scheduled and mail jobs still queued are
// skipped; the settings functions work either way. Everything durable is
// in Postgres (notified_at, notification_emails, river's jobs): a node
// may stop at any point.
