-- Store ↔ support threads (seed 000's vendor ↔ admin): a store's staff
-- talk to the marketplace's support, about the store or one of its orders.
-- One thread per store and order (or none), found by that pair. It has a
-- store and no customer. Its counters keep each side's column: the store's
-- unread count is unread_recipient, as in its conversations with
-- customers (support's messages count there), and support's is
-- unread_customer (the staff's messages count there). A store's total is
-- so one column over all its conversations, and re-runs on no message of
-- its own.
ALTER TABLE conversations DROP CONSTRAINT conversations_conversation_type_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_conversation_type_check
    CHECK (conversation_type IN ('customer_to_store', 'customer_to_admin', 'store_to_admin', 'group', 'direct'));
ALTER TABLE conversations DROP CONSTRAINT conversations_shape_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_shape_check CHECK (CASE conversation_type
    WHEN 'group' THEN customer_id IS NULL AND store_id IS NULL AND created_by IS NOT NULL
    WHEN 'direct' THEN customer_id IS NULL AND store_id IS NULL AND created_by IS NOT NULL AND direct_key IS NOT NULL
    WHEN 'customer_to_store' THEN customer_id IS NOT NULL AND store_id IS NOT NULL
    WHEN 'store_to_admin' THEN customer_id IS NULL AND store_id IS NOT NULL
    ELSE customer_id IS NOT NULL END);
CREATE UNIQUE INDEX conversations_store_support
    ON conversations (org_id, store_id, coalesce(order_id, '')) WHERE conversation_type = 'store_to_admin';

-- The unread counters, side-aware: a customer's message counts in
-- unread_recipient, a store's or support's in unread_customer; in a store ↔
-- support thread a store's message counts in unread_customer (support's)
-- and support's in unread_recipient (the store's). Each statement's rows
-- are counted per conversation and sender kind; the conversation row the
-- UPDATE joins says which thread it is, so no further read is needed.
CREATE OR REPLACE FUNCTION parley_unread_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c SET
        unread_customer = c.unread_customer + d.store + CASE WHEN c.conversation_type = 'store_to_admin' THEN 0 ELSE d.other END,
        unread_recipient = c.unread_recipient + d.customer + CASE WHEN c.conversation_type = 'store_to_admin' THEN d.other ELSE 0 END
    FROM (SELECT conversation_id,
                 count(*) FILTER (WHERE sender_type = 'customer')::int AS customer,
                 count(*) FILTER (WHERE sender_type = 'store')::int AS store,
                 count(*) FILTER (WHERE sender_type NOT IN ('customer', 'store'))::int AS other
          FROM new_rows WHERE NOT is_read AND NOT is_deleted GROUP BY conversation_id) d
    WHERE c.id = d.conversation_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION parley_unread_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c SET
        unread_customer = c.unread_customer - d.store - CASE WHEN c.conversation_type = 'store_to_admin' THEN 0 ELSE d.other END,
        unread_recipient = c.unread_recipient - d.customer - CASE WHEN c.conversation_type = 'store_to_admin' THEN d.other ELSE 0 END
    FROM (SELECT conversation_id,
                 count(*) FILTER (WHERE sender_type = 'customer')::int AS customer,
                 count(*) FILTER (WHERE sender_type = 'store')::int AS store,
                 count(*) FILTER (WHERE sender_type NOT IN ('customer', 'store'))::int AS other
          FROM old_rows WHERE NOT is_read AND NOT is_deleted GROUP BY conversation_id) d
    WHERE c.id = d.conversation_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION parley_unread_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c SET
        unread_customer = c.unread_customer + d.store + CASE WHEN c.conversation_type = 'store_to_admin' THEN 0 ELSE d.other END,
        unread_recipient = c.unread_recipient + d.customer + CASE WHEN c.conversation_type = 'store_to_admin' THEN d.other ELSE 0 END
    FROM (SELECT conversation_id, sum(customer)::int AS customer, sum(store)::int AS store, sum(other)::int AS other
          FROM (SELECT conversation_id, -(sender_type = 'customer')::int AS customer, -(sender_type = 'store')::int AS store,
                       -(sender_type NOT IN ('customer', 'store'))::int AS other
                FROM old_rows WHERE NOT is_read AND NOT is_deleted
                UNION ALL
                SELECT conversation_id, (sender_type = 'customer')::int, (sender_type = 'store')::int,
                       (sender_type NOT IN ('customer', 'store'))::int
                FROM new_rows WHERE NOT is_read AND NOT is_deleted) x
          GROUP BY conversation_id) d
    WHERE c.id = d.conversation_id AND (d.customer <> 0 OR d.store <> 0 OR d.other <> 0);
    RETURN NULL;
END $$;
