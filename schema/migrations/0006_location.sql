-- Location messages (seed 003): a point and an optional label, kept on the
-- message row. A location message has both coordinates, within range; no
-- other message has any.
ALTER TABLE messages
    ADD COLUMN location_lat   double precision CHECK (location_lat BETWEEN -90 AND 90),
    ADD COLUMN location_lng   double precision CHECK (location_lng BETWEEN -180 AND 180),
    ADD COLUMN location_label text;
ALTER TABLE messages DROP CONSTRAINT messages_message_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_message_type_check
    CHECK (message_type IN ('text', 'image', 'system', 'transfer', 'location'));
ALTER TABLE messages ADD CONSTRAINT messages_location_check
    CHECK ((message_type = 'location') = (location_lat IS NOT NULL AND location_lng IS NOT NULL));
