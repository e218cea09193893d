-- An optional subject on any conversation (seeds 000 and 001), set by
-- setConversationSubject, which posts a notice of each change.
ALTER TABLE conversations ADD COLUMN subject text;
