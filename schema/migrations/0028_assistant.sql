-- The AI assistant (package assistant, issue 20). An org's assistants,
-- one per store or one for the org (store_id NULL), each with its
-- knowledge base (FAQ entries, searched by full text); which assistant
-- holds a support conversation and in what state; every run (a reply)
-- with its prompt and tool steps, for agents to review.
CREATE TABLE assistants (
    id                  text        PRIMARY KEY,
    org_id              text        NOT NULL DEFAULT '',
    store_id            text        REFERENCES stores (id),
    name                text        NOT NULL,
    greeting            text        NOT NULL DEFAULT '',
    instructions        text        NOT NULL DEFAULT '',
    provider            text        NOT NULL CHECK (provider IN ('builtin', 'openai')),
    model               text        NOT NULL DEFAULT '',
    handoff_keywords    text[]      NOT NULL DEFAULT '{}',
    max_failures        integer     NOT NULL DEFAULT 2 CHECK (max_failures BETWEEN 1 AND 20),
    conversation_budget integer     NOT NULL DEFAULT 20000 CHECK (conversation_budget > 0),
    daily_budget        integer     NOT NULL DEFAULT 1000000 CHECK (daily_budget > 0),
    enabled             boolean     NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE UNIQUE INDEX assistants_scope ON assistants (org_id, coalesce(store_id, ''));
ALTER TABLE assistants REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE assistants;

CREATE TABLE assistant_faq (
    id           text        PRIMARY KEY,
    assistant_id text        NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    question     text        NOT NULL,
    answer       text        NOT NULL,
    position     integer     NOT NULL,
    search       tsvector    GENERATED ALWAYS AS (to_tsvector('english', question || ' ' || answer)) STORED
);
CREATE INDEX assistant_faq_assistant ON assistant_faq (assistant_id, position);
CREATE INDEX assistant_faq_search ON assistant_faq USING gin (search);
ALTER TABLE assistant_faq REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE assistant_faq;

-- A support conversation an assistant answers: active until it hands
-- off (to the queue) or an agent takes over; resumeAi makes it active
-- again. failures counts answers in a row it had no confident answer to.
CREATE TABLE assistant_chats (
    conversation_id text        PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    org_id          text        NOT NULL DEFAULT '',
    assistant_id    text        NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    state           text        NOT NULL CHECK (state IN ('active', 'handed_off', 'taken_over')),
    failures        integer     NOT NULL DEFAULT 0,
    tokens_used     integer     NOT NULL DEFAULT 0,
    reason          text,
    agent_id        text,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX assistant_chats_org ON assistant_chats (org_id, state);
ALTER TABLE assistant_chats REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE assistant_chats;

-- One reply: the customer message it answers, the assistant's message,
-- the prompt it sent and each step (text, tool calls, tool results).
CREATE TABLE assistant_runs (
    id                 text        PRIMARY KEY,
    org_id             text        NOT NULL DEFAULT '',
    conversation_id    text        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    assistant_id       text        NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    store_id           text,
    trigger_message_id text        NOT NULL,
    message_id         text,
    state              text        NOT NULL CHECK (state IN ('running', 'done', 'handed_off', 'cancelled', 'failed')),
    prompt             jsonb       NOT NULL DEFAULT '[]',
    steps              jsonb       NOT NULL DEFAULT '[]',
    tokens             integer     NOT NULL DEFAULT 0,
    error              text,
    started_at         timestamptz NOT NULL,
    ended_at           timestamptz
);
CREATE UNIQUE INDEX assistant_runs_trigger ON assistant_runs (trigger_message_id);
CREATE INDEX assistant_runs_conversation ON assistant_runs (conversation_id, started_at DESC);
CREATE INDEX assistant_runs_budget ON assistant_runs (org_id, assistant_id, started_at);
ALTER TABLE assistant_runs REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE assistant_runs;

-- An assistant's messages: sender_type 'assistant', and their state
-- ({"streaming": true} while tokens arrive — the text so far is kept in
-- memory by the node running the reply and written once at the end —,
-- then {"parts": [...tool steps], "interrupted": "takeover" | "error"}).
ALTER TABLE messages DROP CONSTRAINT messages_sender_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_sender_type_check
    CHECK (sender_type IN ('customer', 'store', 'admin', 'system', 'assistant'));
ALTER TABLE messages ADD COLUMN assistant jsonb;
