-- Direct channels (seed 001): one conversation per pair of users of an
-- org, found by its key direct:<idA>:<idB> (the two ids in byte order).
-- Its two people are its participants; like a group it has no customer
-- or store.
ALTER TABLE conversations ADD COLUMN direct_key text;
ALTER TABLE conversations DROP CONSTRAINT conversations_conversation_type_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_conversation_type_check
    CHECK (conversation_type IN ('customer_to_store', 'customer_to_admin', 'group', 'direct'));
ALTER TABLE conversations DROP CONSTRAINT conversations_shape_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_shape_check CHECK (CASE conversation_type
    WHEN 'group' THEN customer_id IS NULL AND store_id IS NULL AND created_by IS NOT NULL
    WHEN 'direct' THEN customer_id IS NULL AND store_id IS NULL AND created_by IS NOT NULL AND direct_key IS NOT NULL
    WHEN 'customer_to_store' THEN customer_id IS NOT NULL AND store_id IS NOT NULL
    ELSE customer_id IS NOT NULL END);
ALTER TABLE conversations ADD CONSTRAINT conversations_direct_key_check
    CHECK ((conversation_type = 'direct') = (direct_key IS NOT NULL));
CREATE UNIQUE INDEX conversations_direct ON conversations (org_id, direct_key) WHERE direct_key IS NOT NULL;
