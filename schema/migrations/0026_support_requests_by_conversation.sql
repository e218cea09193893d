-- A conversation's requests, newest first (package support's latest
-- request of a conversation, which getMyQueueStatus reads on every run).
-- support_requests_open covers only open ones, so without this the read
-- scanned the whole table: with 5,000 customers waiting, a pick that
-- re-ran their statuses cost a scan each. It also serves the cascade when
-- a conversation is deleted.
CREATE INDEX support_requests_conversation ON support_requests (conversation_id, enqueued_at DESC, id DESC);
