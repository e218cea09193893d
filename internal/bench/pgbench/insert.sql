-- The floor: one message inserted in a transaction of its own, with no
-- access check, conversation update or mutation log (the unread counters'
-- trigger, the foreign key and the indexes still run).
\set i :client_id + 1
\set r random(1, 2000000000)
BEGIN;
INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, image_file_id, created_at)
	VALUES ('msgpgbench' || :client_id || '_' || :r || '_' || random(), 'benchdconv' || :i, 'benchdcust' || :i,
		'customer', 'text', 'hello from pgbench', NULL, now());
COMMIT;
