-- The chat switch (seed 001's chat_v1_enabled): per org (chat_settings)
-- and per store. While off, chat's mutations answer "Chat is disabled" to
-- everyone but admins; queries keep working, read-only.
ALTER TABLE chat_settings ADD COLUMN chat_enabled boolean NOT NULL DEFAULT true;
ALTER TABLE stores ADD COLUMN chat_enabled boolean NOT NULL DEFAULT true;
