-- Image objects kept in Postgres (media.PGStore; issue 21), so that every
-- node serves every upload: the bytes of each stored key (an image, its
-- thumbnail, an original), bounded by the upload limit. Not published: no
-- query reads it.
CREATE TABLE media_objects (
    key        text        PRIMARY KEY,
    data       bytea       NOT NULL,
    size       bigint      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE media_objects ALTER COLUMN data SET STORAGE EXTERNAL;
