// Package tsgen writes the TypeScript API of a function registry: the file
// client-ts/src/api.ts that `parley codegen` (and `make generate`) writes.
//
// Every registered function becomes a typed function reference of the
// official convex client (makeFunctionReference<kind, Args, Result>), at
// the path its name gives: "shared/chat:getMessages" is
// api.shared.chat.getMessages. Argument and result types come from the Go
// types by reflection, following the rules the server itself applies:
//
//   - arguments: a pointer or omitempty field is optional, and a pointer
//     may be null (the argument validator treats null as absent);
//   - results: encoding/json always writes a field unless it is omitempty
//     (then it is optional); a pointer without omitempty may be null;
//     a slice or map is T[] or Record<string, T>, not "| null": handlers
//     return empty ones, never nil (functions' TestEmptyResultsHaveNoNullArrays
//     runs the chat handlers with nothing to list);
//   - []byte is a string (encoding/json writes it as base64);
//   - a `ts:"a|b|c"` struct tag narrows a string field to those literals
//     (the values the server accepts or the database allows);
//   - a `tstype:"Name"` tag gives a field a type that convex/server
//     exports instead (PaginationOptions, which usePaginatedQuery requires),
//     or a TypeScript type written out (`tstype:"{role: string}[]"`, not imported);
//   - every named struct becomes one exported type alias (aliases, not
//     interfaces, so they satisfy convex's Record<string, Value> bound).
//
// Generate is deterministic: the same registry gives the same bytes, so a
// test can fail when the committed file is out of date.
//
// # Concurrency model
//
// Generate reads the registry, which is read-only after start-up; it is
// safe to call concurrently.
package tsgen
