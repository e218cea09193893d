-- A mutation's replay is keyed by the caller too: a client that reuses (or
-- learns) another session's id must not receive that caller's results.
DELETE FROM mutation_log;
ALTER TABLE mutation_log ADD COLUMN identity text NOT NULL;
ALTER TABLE mutation_log DROP CONSTRAINT mutation_log_pkey;
ALTER TABLE mutation_log ADD PRIMARY KEY (session_id, identity, request_id);
CREATE INDEX mutation_log_created ON mutation_log (created_at);
