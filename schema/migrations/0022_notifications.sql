-- Email notifications (package events; seeds 000 and 001): offline mail
-- and unread digests.
--
-- A participant's notified_at is when they were last told, by mail, of
-- the conversation's unread messages (an offline mail or a digest). They
-- are in a quiet period, and get no other offline mail about it, until
-- they read (last_read_at passes it) or come back (their user_activity's
-- last_seen_at passes it).
ALTER TABLE conversation_participants ADD COLUMN notified_at timestamptz;

-- The address each user's token claims (the optional email claim),
-- written by the activity tracker's batched writes only when it changed,
-- and by the notification settings functions.
CREATE TABLE user_emails (
    user_id    text        PRIMARY KEY,
    email      text        NOT NULL,
    updated_at timestamptz NOT NULL
);
ALTER TABLE user_emails REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE user_emails;

-- A user's own choice: mode off, immediate (the default, for a user
-- without a row) or digest, and an address that overrides the token's
-- and the account's (users.email).
CREATE TABLE notification_settings (
    user_id    text        PRIMARY KEY,
    mode       text        NOT NULL DEFAULT 'immediate' CHECK (mode IN ('off', 'immediate', 'digest')),
    email      text,
    updated_at timestamptz NOT NULL
);
ALTER TABLE notification_settings REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE notification_settings;

-- Every notification mail, written with its river job in the
-- transaction that decided it (the offline scan, the digest run) and
-- marked sent in the transaction of the job that sent it: a mail is
-- decided once and sent at most once per successful job. id is the
-- Message-ID's left part, a function of (kind, user, conversation or
-- period, notified_at), so a digest's id is its (user, period): a second
-- run of a period inserts nothing. since is where the mail's unread
-- messages begin (exclusive); conversation_ids the conversations it is
-- about.
CREATE TABLE notification_emails (
    id               text        PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind IN ('message', 'digest')),
    user_id          text        NOT NULL,
    conversation_ids text[]      NOT NULL,
    since            timestamptz,
    notified_at      timestamptz NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'skipped')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text,
    sent_at          timestamptz
);
CREATE INDEX notification_emails_user ON notification_emails (user_id, notified_at DESC);
