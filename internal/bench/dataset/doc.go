// Package dataset owns the load generator's rows in the server's database:
// the data set each scenario seeds (a Group of two-party conversations,
// scenario c's IdleGroup of conversations nobody writes to, or the search
// scenario's SearchGroup: a million messages of a Zipf-like word mix,
// seeded once and reused while its size stays the same), the reset of
// what earlier runs wrote into it, and the message the load writes by
// direct SQL instead of sendMessage (InsertMessage: sendMessage's effect,
// written directly). It also reads the durability settings that decide
// what a commit costs (Durability), which the report prints.
//
// Seeding is set-based SQL (generate_series) and idempotent: every INSERT
// is ON CONFLICT DO NOTHING, so seeding a Group again only resets it and
// adds what is missing. Conversation i of a Group (1-based in SQL,
// 0-based in Go) is between customer i and store i, whose staff are staff
// i_1 … i_Staff; each conversation holds History messages from before the
// run, so that pages are full from the start.
//
// # Concurrency model
//
// The package has no state and starts no goroutines; its functions are
// safe for concurrent use as far as the pool they are given is. Seed and
// SeedIdle each run in one transaction; SeedSearch in one for its reset
// and conversations, then one per 50,000 messages.
//
// # Lifecycle
//
// A scenario calls Seed (or SeedIdle) before it connects its sessions:
// the reset and the seed commit together, then the tables the seed fills
// are vacuumed and analyzed and a checkpoint is taken, so that the
// measurement window sees a database in its steady state (see analyze).
// The caller then waits for the server to have replicated the seed.
//
// # Invariants
//
// Every row Seed, SeedIdle and SeedSearch create has an id that starts
// with the group's prefix, and all three refuse a prefix that does not
// start with IDPrefix. SeedSearch deletes a search group's messages,
// conversations and orders only when their count is not the one asked
// for, and seeds them again. The messages the load writes belong to the groups'
// conversations: InsertMessage's are "msg" + IDPrefix + run + seq,
// sendMessage's get the server's ids. The reset deletes only messages of
// a group's conversations that are not its history, the typing state of
// those conversations, and the mutation_log records of sessions whose id
// starts with IDPrefix + "-"; it updates only the group's conversations
// (back to active and unblocked). Nothing else in the database is
// written (VACUUM and CHECKPOINT aside).
package dataset
