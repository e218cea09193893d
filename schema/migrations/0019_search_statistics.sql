-- Statistics of the words of messages, for the planner's estimate of a
-- search (searchMessages' @@ over to_tsvector('simple', content)).
-- messages_search is a partial index, and Postgres keeps statistics of an
-- index's expression only for an index that is not: without these, every
-- word is guessed at 0.5% of the messages, whether it is in a hundred or
-- in a third of them, and a search in one conversation intersects the
-- conversation's messages with every index entry of a common word rather
-- than filtering the few it has (BENCHMARKS.md, issue 17).
CREATE STATISTICS messages_words ON (to_tsvector('simple', content)) FROM messages;
ANALYZE messages;
