-- Domain events (package events): one row per fact a mutation committed
-- (message.created, conversation.transferred, …), written in the
-- mutation's own transaction just before its COMMIT (a transactional
-- outbox). seq orders them: within a conversation, the writer holds a
-- per-conversation advisory lock from taking its seq until it commits, so
-- seq order there is commit order. id is the public id (webhook-id).
CREATE TABLE events (
    seq             bigserial   PRIMARY KEY,
    id              text        NOT NULL UNIQUE,
    type            text        NOT NULL,
    ts              timestamptz NOT NULL,
    org_id          text        NOT NULL DEFAULT '',
    conversation_id text,
    message_id      text,
    actor_type      text        NOT NULL,
    actor_id        text,
    data            jsonb       NOT NULL
);
CREATE INDEX events_conversation ON events (conversation_id, seq) WHERE conversation_id IS NOT NULL;
CREATE INDEX events_ts ON events (ts);
ALTER TABLE events REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE events;

-- Webhook endpoints, registered by an org's admins. events lists the
-- event types sent ('*' for all). secret is the Standard Webhooks signing
-- secret (whsec_ and base64).
CREATE TABLE webhooks (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL DEFAULT '',
    url         text        NOT NULL,
    events      text[]      NOT NULL,
    secret      text        NOT NULL,
    enabled     boolean     NOT NULL DEFAULT true,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    disabled_at timestamptz
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at);
ALTER TABLE webhooks REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE webhooks;

-- One event's delivery to one endpoint: written with the event (its river
-- job in the same transaction), then by each attempt. status: pending
-- (waiting for its first or next attempt), succeeded, dead (retries ran
-- past the horizon, or the endpoint was disabled; replayDelivery revives
-- it). No foreign keys: the event's transaction must not fail because an
-- endpoint was deleted a moment before; deleteWebhook deletes its rows.
CREATE TABLE webhook_deliveries (
    id              text        PRIMARY KEY,
    webhook_id      text        NOT NULL,
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text,
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    -- the start of the current retry window (creation, or the last replay)
    retry_since     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC, id);
ALTER TABLE webhook_deliveries REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE webhook_deliveries;

-- The guard of a mutation's commit (package events): fails with a
-- serialization failure, which the runtime retries, when an enabled
-- endpoint of org would receive one of types but is not among known (the
-- node's cached list of endpoints is stale: the retry reloads it). Under
-- SERIALIZABLE, an endpoint created after the mutation's snapshot orders
-- the mutation before it, so no event is missed and none delivered to an
-- endpoint that did not yet exist.
CREATE FUNCTION events_check_webhooks(org text, types text[], known text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks w WHERE w.org_id = org AND w.enabled
               AND (w.events && types OR '*' = ANY (w.events)) AND NOT (w.id = ANY (known))) THEN
        RAISE EXCEPTION 'parley: webhooks changed' USING ERRCODE = '40001';
    END IF;
END $$;
