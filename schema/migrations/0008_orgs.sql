-- Organizations (seed 004's orgId): one Parley may serve several
-- marketplaces. A token's optional org claim scopes everything its caller
-- sees and changes; '' is the default organization, which every row
-- belongs to until an operator says otherwise. Users, stores and
-- conversations carry their org; orders and staff belong to their store's.
ALTER TABLE users ADD COLUMN org_id text NOT NULL DEFAULT '';
ALTER TABLE stores ADD COLUMN org_id text NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN org_id text NOT NULL DEFAULT '';

-- One customer's conversation about a subject, per org.
DROP INDEX conversations_subject;
CREATE UNIQUE INDEX conversations_subject
    ON conversations (org_id, customer_id, conversation_type, coalesce(store_id, ''), coalesce(order_id, ''));

-- The chat switches, per org: the '' row is the default, used by every
-- org without a row of its own.
ALTER TABLE chat_settings ADD COLUMN org_id text NOT NULL DEFAULT '';
ALTER TABLE chat_settings DROP CONSTRAINT chat_settings_pkey;
ALTER TABLE chat_settings DROP CONSTRAINT chat_settings_id_check;
ALTER TABLE chat_settings ADD PRIMARY KEY (org_id);
