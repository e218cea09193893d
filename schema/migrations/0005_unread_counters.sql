-- Unread counters kept on the conversation row, so lists and totals read
-- them in O(1) however large a backlog grows. unread_customer counts the
-- unread, undeleted messages the customer has not read (sent by the store
-- or an admin); unread_recipient those the other side has not read (sent
-- by the customer). Statement-level triggers on messages keep them right
-- for writes by any program, Parley's or not: one UPDATE per conversation
-- a statement touches, with the net change of its rows.
ALTER TABLE conversations
    ADD COLUMN unread_customer  integer NOT NULL DEFAULT 0,
    ADD COLUMN unread_recipient integer NOT NULL DEFAULT 0;

UPDATE conversations c SET
    unread_customer = (SELECT count(*) FROM messages m
        WHERE m.conversation_id = c.id AND NOT m.is_read AND NOT m.is_deleted AND m.sender_type <> 'customer'),
    unread_recipient = (SELECT count(*) FROM messages m
        WHERE m.conversation_id = c.id AND NOT m.is_read AND NOT m.is_deleted AND m.sender_type = 'customer');

-- Each function applies its statement's net change per conversation; an
-- update whose rows keep their counted state (an edited message's content)
-- writes nothing.
CREATE FUNCTION parley_unread_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c SET unread_customer = c.unread_customer + d.customer,
                               unread_recipient = c.unread_recipient + d.recipient
    FROM (SELECT conversation_id,
                 count(*) FILTER (WHERE sender_type <> 'customer')::int AS customer,
                 count(*) FILTER (WHERE sender_type = 'customer')::int AS recipient
          FROM new_rows WHERE NOT is_read AND NOT is_deleted GROUP BY conversation_id) d
    WHERE c.id = d.conversation_id;
    RETURN NULL;
END $$;

CREATE FUNCTION parley_unread_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c SET unread_customer = c.unread_customer - d.customer,
                               unread_recipient = c.unread_recipient - d.recipient
    FROM (SELECT conversation_id,
                 count(*) FILTER (WHERE sender_type <> 'customer')::int AS customer,
                 count(*) FILTER (WHERE sender_type = 'customer')::int AS recipient
          FROM old_rows WHERE NOT is_read AND NOT is_deleted GROUP BY conversation_id) d
    WHERE c.id = d.conversation_id;
    RETURN NULL;
END $$;

CREATE FUNCTION parley_unread_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c SET unread_customer = c.unread_customer + d.customer,
                               unread_recipient = c.unread_recipient + d.recipient
    FROM (SELECT conversation_id, sum(customer)::int AS customer, sum(recipient)::int AS recipient
          FROM (SELECT conversation_id, -(sender_type <> 'customer')::int AS customer, -(sender_type = 'customer')::int AS recipient
                FROM old_rows WHERE NOT is_read AND NOT is_deleted
                UNION ALL
                SELECT conversation_id, (sender_type <> 'customer')::int, (sender_type = 'customer')::int
                FROM new_rows WHERE NOT is_read AND NOT is_deleted) x
          GROUP BY conversation_id) d
    WHERE c.id = d.conversation_id AND (d.customer <> 0 OR d.recipient <> 0);
    RETURN NULL;
END $$;

CREATE FUNCTION parley_unread_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET unread_customer = 0, unread_recipient = 0
    WHERE unread_customer <> 0 OR unread_recipient <> 0;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_unread_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION parley_unread_inserted();
CREATE TRIGGER messages_unread_deleted AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION parley_unread_deleted();
CREATE TRIGGER messages_unread_updated AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION parley_unread_updated();
CREATE TRIGGER messages_unread_truncated AFTER TRUNCATE ON messages
    FOR EACH STATEMENT EXECUTE FUNCTION parley_unread_truncated();
