-- Inbox lists (getConversations, getConversationsPaginated) read a
-- store's or support's conversations of one status, newest activity
-- first, a page at a time by keyset on (coalesce(last_message_at,
-- created_at), id). Without an index every run of a store's list read and
-- sorted all of the store's conversations (7.9 ms at 10,000, each time a
-- message reached any of them); these walk the index from the page's
-- cursor and stop at the page's end (0.6 ms, a deeper page 0.25 ms). They
-- lead with the columns of the indexes they replace. A customer's list is
-- served by conversations_subject (a customer has few conversations).
--
-- The cost: a new message changes last_message_at, so its conversation's
-- update is no longer HOT and adds an entry to each index of the table.
CREATE INDEX conversations_store_inbox
    ON conversations (store_id, status, (coalesce(last_message_at, created_at)) DESC, id DESC);
CREATE INDEX conversations_type_inbox
    ON conversations (conversation_type, org_id, status, (coalesce(last_message_at, created_at)) DESC, id DESC);
DROP INDEX conversations_store;
DROP INDEX conversations_type;

-- The orderId filter, and the list's dependency on the order's
-- conversations (one or two per order).
CREATE INDEX conversations_order ON conversations (order_id) WHERE order_id IS NOT NULL;
