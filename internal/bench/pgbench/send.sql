-- sendMessage's transaction, statement for statement as Parley sends it
-- (chat/write.go's sendMessageSQL, functions/registry.go): a customer posts a
-- text message to its own conversation. Client k writes to conversation
-- k+1 of the "benchd" data set that `parley bench --scenario d` seeds, as
-- d's closed-loop writers do. Parley sends the transaction in 4 round
-- trips; pgbench sends each statement in its own. (The mutation log's
-- identity is not in Parley's format; only its size matters here.)
\set i :client_id + 1
\set r random(1, 2000000000)
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT id, conversation_type, customer_id, store_id, order_id, assigned_admin_id, status,
	is_blocked, last_message_at, last_message_preview, created_at FROM conversations WHERE id = 'benchdconv' || :i FOR UPDATE;
WITH
	caller AS (INSERT INTO users (id, name, role) VALUES ('benchdcust' || :i, 'Bench Customer', 'customer') ON CONFLICT (id) DO NOTHING),
	joined AS (INSERT INTO conversation_participants (conversation_id, user_id, role)
		VALUES ('benchdconv' || :i, 'benchdcust' || :i, 'customer') ON CONFLICT DO NOTHING),
	posted AS (INSERT INTO messages (id, conversation_id, sender_id, sender_type, message_type, content, image_file_id, created_at)
		VALUES ('msgpgbench' || :client_id || '_' || :r || '_' || random(), 'benchdconv' || :i, 'benchdcust' || :i,
			'customer', 'text', 'hello from pgbench', NULL, now())),
	latest AS (UPDATE conversations SET last_message_at = now(), last_message_preview = 'hello from pgbench',
		status = CASE WHEN status = 'archived' THEN 'active' ELSE status END,
		assigned_admin_id = CASE WHEN false THEN coalesce(assigned_admin_id, 'x') ELSE assigned_admin_id END
		WHERE id = 'benchdconv' || :i),
	typed AS (UPDATE typing_state SET is_typing = false
		WHERE conversation_id = 'benchdconv' || :i AND user_id = 'benchdcust' || :i AND is_typing)
SELECT;
INSERT INTO mutation_log (session_id, identity, request_id, udf_path, result)
	VALUES ('pgbench' || :client_id || '_' || random(), 'customer/benchdcust' || :i, :r, 'shared/chat.sendMessage', '"x"');
COMMIT;
SELECT pg_current_wal_lsn()::text;
