-- Inserted messages count towards the unread counters through a row-level
-- trigger instead of 0005's statement-level one. Almost every insert is one
-- message (sendMessage), and for one row the statement-level trigger's
-- transition table and grouped UPDATE cost Postgres more than the rest of
-- the insert: sendMessage's whole transaction ran about 20% faster with
-- this one (pgbench, internal/bench/pgbench/send.sql). A bulk insert now
-- updates a conversation once per row; updates and deletes, which are the
-- bulk writes (marking read, clearing history), keep 0005's statement-level
-- triggers.
DROP TRIGGER messages_unread_inserted ON messages;
DROP FUNCTION parley_unread_inserted();

CREATE FUNCTION parley_unread_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.is_read AND NOT NEW.is_deleted THEN
        UPDATE conversations SET unread_customer = unread_customer + (NEW.sender_type <> 'customer')::int,
                                 unread_recipient = unread_recipient + (NEW.sender_type = 'customer')::int
        WHERE id = NEW.conversation_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_unread_inserted AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION parley_unread_inserted();
