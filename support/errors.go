package support

import "github.com/parley-chat/parley/functions"

// The support domain's errors. Clients branch on their codes (package
// functions); the messages follow chat's.
var (
	// ErrAdminOnly answers customers, store staff and guests calling an
	// agent's function: the same answer as chat's admin-only functions.
	ErrAdminOnly = functions.Forbidden("Only admins can do this")
	// ErrNoConnection answers a heartbeat that came over no sync
	// connection (HTTP): presence is per connection.
	ErrNoConnection = functions.Invalid("heartbeat must be called over a sync connection (WebSocket): presence is kept per connection")
)
