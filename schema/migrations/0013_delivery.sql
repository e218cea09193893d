-- Delivery status (seed 003's sent → delivered → read) and participants'
-- activity (seed 000's last_seen_at).
--
-- A participant's delivered position: the creation time of the newest
-- message one of their clients has acknowledged receiving (markDelivered),
-- and when it did. One write per acknowledged batch, not per message; a
-- message is delivered to a participant when the position reaches it.
ALTER TABLE conversation_participants
    ADD COLUMN delivered_up_to timestamptz,
    ADD COLUMN delivered_at    timestamptz;

-- When each user was last active (an authenticated call, an open
-- session), written at most once per user per 30 seconds by each node, in
-- batches; online_until is how long an open session vouches for them. Kept
-- apart from users, so that these writes re-run no query that reads names.
CREATE TABLE user_activity (
    user_id      text PRIMARY KEY,
    last_seen_at timestamptz NOT NULL,
    online_until timestamptz NOT NULL
);
ALTER TABLE user_activity REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE user_activity;
