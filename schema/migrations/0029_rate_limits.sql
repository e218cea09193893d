-- Shared rate limits (package keyrate, keyrate.PG; issue 21): one row per
-- limit (name: "chat.messages", "guest.tokens", …) and key (a user, a
-- client address), holding the limit's theoretical arrival time (GCRA):
-- the bucket is full once tat is past, so a row whose tat is past holds
-- nothing a missing row would not, and the cleanup deletes those. ok is
-- whether the last take was granted (what RETURNING reports).
-- UNLOGGED: a crash empties the table, which only refills every bucket;
-- no WAL is written per request. Not published: no query reads it.
CREATE UNLOGGED TABLE rate_limits (
    name text        NOT NULL,
    key  text        NOT NULL,
    tat  timestamptz NOT NULL,
    ok   boolean     NOT NULL DEFAULT true,
    PRIMARY KEY (name, key)
);
