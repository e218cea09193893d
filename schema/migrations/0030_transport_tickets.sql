-- Tickets from POST /api/tickets kept in Postgres (package pgtickets;
-- issue 21), so that a ticket issued by one node is good on every node,
-- once. Only the SHA-256 of a ticket is stored, never the ticket.
-- identity is the functions.Identity its JWT proved (JSON) and
-- token_expires_at that token's exp (NULL: none). A used ticket is kept
-- (used_at) until its row is swept, so that its reuse is told apart from
-- a forgery; rows past expires_at by a ticket's lifetime are deleted.
-- UNLOGGED: a crash forgets outstanding tickets (a minute's worth), and
-- clients get new ones. Not published: no query reads it.
CREATE UNLOGGED TABLE transport_tickets (
    hash             bytea       PRIMARY KEY CHECK (length(hash) = 32),
    user_key         text        NOT NULL,
    identity         jsonb       NOT NULL,
    token_expires_at timestamptz,
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz
);
CREATE INDEX transport_tickets_user ON transport_tickets (user_key, expires_at) WHERE used_at IS NULL;
CREATE INDEX transport_tickets_expiry ON transport_tickets (expires_at);
