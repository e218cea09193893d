-- Support agents' profiles (package support): an org's admins who act as
-- agents, with the skills routing matches, how many chats they take at
-- once, and the status they set. An admin without a row is an agent with
-- the defaults (no skills, capacity 5, online). Presence (who is
-- connected) is kept in memory, not here.
CREATE TABLE support_agents (
    org_id     text        NOT NULL DEFAULT '',
    user_id    text        NOT NULL,
    skills     text[]      NOT NULL DEFAULT '{}',
    capacity   integer     NOT NULL DEFAULT 5 CHECK (capacity BETWEEN 1 AND 50),
    status     text        NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'away', 'offline')),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
ALTER TABLE support_agents REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE support_agents;
