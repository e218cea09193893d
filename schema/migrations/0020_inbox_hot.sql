-- The inbox indexes of 0014 led with a conversation's latest activity
-- (coalesce(last_message_at, created_at)), so every message, which moves
-- its conversation's last_message_at, made the conversation's update a
-- non-HOT one: a new entry in each of the table's indexes and a dead
-- tuple for vacuum. That cost peak sendMessage throughput 40% (bench d:
-- 708–756 writes/s before, 376–437 with them, 555–666 with these; see
-- BENCHMARKS.md). A list's page is now the top of a sort of the store's
-- (or support's) conversations of one status, which an index on the key
-- and status finds: a few ms for a store of 10,000 conversations, paid by
-- the list's run, not by every write.
DROP INDEX conversations_store_inbox;
DROP INDEX conversations_type_inbox;
CREATE INDEX conversations_store ON conversations (store_id, status);
CREATE INDEX conversations_type ON conversations (conversation_type, org_id, status);
