-- Full-text search over messages (searchMessages): an expression index,
-- not a stored column, so a message's row (and the WAL that carries it to
-- every subscriber) does not grow by its tsvector. The 'simple'
-- configuration folds case and splits words without stemming: it serves
-- every language alike. Deleted messages never match.
CREATE INDEX messages_search ON messages USING gin (to_tsvector('simple', content)) WHERE NOT is_deleted;
