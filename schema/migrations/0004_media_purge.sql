-- The stored image of a deleted message is removed by the media janitor:
-- purged_at says when. The files row stays for audit, as the message row
-- does.
ALTER TABLE files ADD COLUMN purged_at timestamptz;
CREATE INDEX messages_deleted_image ON messages (image_file_id) WHERE is_deleted AND image_file_id IS NOT NULL;
