-- The 4 queries one message re-runs (the conversation's message page, both
-- sides' inbox, the store's unread total), in a read-only snapshot as the
-- engine runs them, for conversation k+1 of the "benchd" data set.
\set i :client_id + 1
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT pg_current_snapshot()::text;
SELECT m.id, m.conversation_id, m.sender_id, m.sender_type, coalesce(u.name, ''), m.message_type,
	m.content, m.image_file_id, m.is_read, m.read_at, m.is_deleted, m.created_at
	FROM messages m LEFT JOIN users u ON u.id = m.sender_id
	WHERE m.conversation_id = 'benchdconv' || :i ORDER BY m.created_at DESC, m.id DESC LIMIT 21;
SELECT c.id, c.conversation_type, c.customer_id, c.store_id, c.order_id,
	c.assigned_admin_id, c.status, c.is_blocked, c.last_message_at, c.last_message_preview, c.created_at,
	s.name, coalesce(u.name, ''), c.unread_customer, c.unread_recipient
	FROM conversations c LEFT JOIN stores s ON s.id = c.store_id LEFT JOIN users u ON u.id = c.customer_id
	WHERE c.customer_id = 'benchdcust' || :i AND ('' = '' OR c.status = '')
	ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC LIMIT 51;
SELECT c.id, c.conversation_type, c.customer_id, c.store_id, c.order_id,
	c.assigned_admin_id, c.status, c.is_blocked, c.last_message_at, c.last_message_preview, c.created_at,
	s.name, coalesce(u.name, ''), c.unread_customer, c.unread_recipient
	FROM conversations c LEFT JOIN stores s ON s.id = c.store_id LEFT JOIN users u ON u.id = c.customer_id
	WHERE c.store_id = 'benchdstore' || :i AND c.conversation_type = 'customer_to_store' AND ('' = '' OR c.status = '')
	ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC LIMIT 51;
SELECT coalesce(sum(c.unread_recipient), 0)::int FROM conversations c
	WHERE c.store_id = 'benchdstore' || :i AND c.conversation_type = 'customer_to_store' AND ('' = '' OR c.status = '');
ROLLBACK;
