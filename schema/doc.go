// Package schema owns Parley's tables as a whole: the embedded SQL
// migrations and their runner, the demo data, the read-dependency recorder
// (DB, Deps) and the readers of the tables every domain shares (users,
// stores, orders, chat_settings). Each domain package reads and writes its
// own tables through helpers of its own (package chat: read.go, write.go)
// built on DB.
//
// Each reader records, in a Deps set, the finest key it read by —
// (messages, conversation_id, X), (conversations, id, Y), or a whole table
// such as (chat_settings, *) — through DB.Record. The engine matches
// committed row changes against these keys, so a query never declares its
// dependencies by hand. A helper that reads rows by a key must record that
// key before it reads; reading a table without going through a helper is a
// bug, because the engine cannot see it.
//
// # Replication
//
// Migration 0001 creates the publication "parley" FOR TABLE every table a
// query may read, and sets REPLICA IDENTITY FULL on each, so updates and
// deletes carry the old row: a row leaving a result set invalidates it.
// mutation_log is deliberately left out: no query reads it.
//
// # Concurrency model
//
// A DB is used by one goroutine (one function execution). Migrate takes an
// advisory lock so concurrent migrators apply each migration once.
//
// # Invariants
//
// Dependency values use Postgres' text format, the format replication
// delivers, so matching is plain string equality. Ids are text. A
// conversation's unread_customer and unread_recipient equal the counts of
// its unread, undeleted messages by side: statement-level triggers on
// messages (migration 0005) keep them for writes by any program, so the
// helpers read them instead of counting, and a change to them reaches the
// engine as an update of the conversation row.
package schema
