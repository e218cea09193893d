package chat

// Tables exposes the table helpers to the package's external tests.
type Tables = tables
