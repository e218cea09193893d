-- Group conversations (seed 003): any number of participants, listed in
-- conversation_participants, up to the configured size. A group has no
-- customer or store of its own; it has the user who created it and an
-- optional title.
ALTER TABLE conversations
    ADD COLUMN title      text,
    ADD COLUMN created_by text REFERENCES users (id);
ALTER TABLE conversations ALTER COLUMN customer_id DROP NOT NULL;
ALTER TABLE conversations DROP CONSTRAINT conversations_conversation_type_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_conversation_type_check
    CHECK (conversation_type IN ('customer_to_store', 'customer_to_admin', 'group'));
ALTER TABLE conversations DROP CONSTRAINT conversations_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_shape_check CHECK (CASE conversation_type
    WHEN 'group' THEN customer_id IS NULL AND store_id IS NULL AND created_by IS NOT NULL
    WHEN 'customer_to_store' THEN customer_id IS NOT NULL AND store_id IS NOT NULL
    ELSE customer_id IS NOT NULL END);
