-- When each message of a group or direct channel reached each of its
-- participants, and when they read it (seed 003's per-recipient
-- delivered/read times). A participant's positions (delivered_up_to,
-- last_read_at) say whether; a mark says when: each time a position moves
-- (one acknowledged batch, one read), one row records the new position
-- and the time. A message was delivered to a participant at the time of
-- the first of their marks that reaches it. One-to-one conversations keep
-- read_at on the message itself and need none.
CREATE TABLE receipt_marks (
    conversation_id text        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    up_to           timestamptz NOT NULL,
    user_id         text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('delivered', 'read')),
    at              timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, up_to, user_id, kind)
);
ALTER TABLE receipt_marks REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE receipt_marks;
