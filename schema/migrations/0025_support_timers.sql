-- The support desk's inactivity timers (package support, timers.go): when
-- a chat's customer was last warned that it will close, and when its
-- agent was last reported silent, so that a timer acts once per silence
-- (a new message starts a new one).
ALTER TABLE support_requests ADD COLUMN warned_at timestamptz, ADD COLUMN alerted_at timestamptz;
