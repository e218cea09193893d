-- The support desk's queue (package support): a customer's request for an
-- agent, in their support conversation, from the moment it is queued
-- until the chat is closed. One open request (queued or assigned) per
-- conversation; closed ones stay, for the average handle time (closed_at -
-- assigned_at of the latest closed chats) and as the desk's record. Order:
-- priority (higher first), then enqueued_at, then id. A transfer to a
-- skill queues the request again with its enqueued_at, so the customer
-- keeps their place.
CREATE TABLE support_requests (
    id              text        PRIMARY KEY,
    org_id          text        NOT NULL DEFAULT '',
    conversation_id text        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    customer_id     text        NOT NULL,
    customer_name   text        NOT NULL,
    topic           text,
    skills          text[]      NOT NULL DEFAULT '{}',
    priority        integer     NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3),
    order_id        text,
    state           text        NOT NULL CHECK (state IN ('queued', 'assigned', 'closed')),
    agent_id        text,
    agent_name      text,
    enqueued_at     timestamptz NOT NULL,
    assigned_at     timestamptz,
    closed_at       timestamptz,
    close_reason    text,
    CHECK (state <> 'assigned' OR (agent_id IS NOT NULL AND assigned_at IS NOT NULL)),
    CHECK (state <> 'queued' OR agent_id IS NULL),
    CHECK ((state = 'closed') = (closed_at IS NOT NULL))
);
CREATE UNIQUE INDEX support_requests_open ON support_requests (conversation_id) WHERE state <> 'closed';
CREATE INDEX support_requests_queue ON support_requests (org_id, priority DESC, enqueued_at, id) WHERE state = 'queued';
CREATE INDEX support_requests_agent ON support_requests (org_id, agent_id) WHERE state = 'assigned';
CREATE INDEX support_requests_handled ON support_requests (org_id, closed_at DESC) WHERE state = 'closed' AND assigned_at IS NOT NULL;
ALTER TABLE support_requests REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE support_requests;
