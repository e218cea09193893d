-- Guests (issue 17, seed 001's guest_id_for_live_chat): a widget visitor
-- without an account, with a token Parley mints (role guest). A guest is
-- a customer without orders: its support conversations have it as their
-- customer, and its messages and typing speak for the customer side
-- (sender_type and user_type 'customer', which the unread counters and
-- read receipts count by). Only its users row and its participant rows
-- say 'guest'; claimGuestThreads hands its conversations to the customer
-- who signs in.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('customer', 'store', 'admin', 'guest'));
ALTER TABLE conversation_participants DROP CONSTRAINT conversation_participants_role_check;
ALTER TABLE conversation_participants ADD CONSTRAINT conversation_participants_role_check
    CHECK (role IN ('customer', 'store', 'admin', 'guest'));
