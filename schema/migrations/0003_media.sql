-- Image uploads (package media). A file row is written once its image has
-- been validated, compressed and stored; sendMessage attaches it to one
-- message. Until then it expires: the media janitor removes unattached
-- files whose expires_at has passed (the demo file has none).
ALTER TABLE files
    ADD COLUMN file_name     text,
    ADD COLUMN thumb_width   integer,
    ADD COLUMN thumb_height  integer,
    ADD COLUMN frames        integer NOT NULL DEFAULT 1,
    ADD COLUMN original_key  text,
    ADD COLUMN original_type text,
    ADD COLUMN original_size bigint,
    ADD COLUMN expires_at    timestamptz;
CREATE INDEX files_unattached ON files (expires_at) WHERE message_id IS NULL;
CREATE UNIQUE INDEX files_message ON files (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX messages_image_file ON messages (image_file_id) WHERE image_file_id IS NOT NULL;

-- Single-use upload URLs that generateUploadUrl hands out, by the SHA-256
-- of their token (the token itself is only in the URL). Not published: no
-- query reads it.
CREATE TABLE upload_urls (
    token_hash bytea PRIMARY KEY,
    owner_id   text NOT NULL REFERENCES users (id),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX upload_urls_expires ON upload_urls (expires_at);
