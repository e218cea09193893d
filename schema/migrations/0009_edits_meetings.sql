-- Edited messages keep their versions (seed 001's edit endpoint, with the
-- history it lacks), and meeting messages carry a scheduled call (seed 001).
ALTER TABLE messages
    ADD COLUMN edited_at timestamptz,
    ADD COLUMN meeting   jsonb;
ALTER TABLE messages DROP CONSTRAINT messages_message_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_message_type_check
    CHECK (message_type IN ('text', 'image', 'system', 'transfer', 'location', 'meeting'));
ALTER TABLE messages ADD CONSTRAINT messages_meeting_check
    CHECK ((message_type = 'meeting') = (meeting IS NOT NULL));

-- Every version of an edited message but its current one, which is the
-- message's content: version 1 is what was first sent.
CREATE TABLE message_edits (
    message_id text        NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    version    integer     NOT NULL CHECK (version > 0),
    content    text        NOT NULL,
    written_at timestamptz NOT NULL, -- when this version was sent or written
    replaced_at timestamptz NOT NULL, -- when the next one replaced it
    replaced_by text       NOT NULL,
    PRIMARY KEY (message_id, version)
);
ALTER TABLE message_edits REPLICA IDENTITY FULL;
ALTER PUBLICATION parley ADD TABLE message_edits;
