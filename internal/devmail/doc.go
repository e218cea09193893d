// Package devmail is `parley dev`'s mail transport: a Dir keeps every
// notification mail as an .eml file in a directory (DATA/mail) instead of
// sending it, and serves them to the developer at /dev/mail (a page) and
// /dev/mail.json (the list, newest first, with each mail's headers and
// text). Dev only: the endpoints have no authentication.
//
// # Concurrency model
//
// A Dir is safe for concurrent use: each Send writes its own file (aside,
// then renamed into place, so a listing never reads half a mail); the
// handlers only read the directory.
//
// # Lifecycle
//
// New creates the directory. Files stay until the developer deletes
// them; nothing runs in the background.
package devmail
