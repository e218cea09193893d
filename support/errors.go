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
	// ErrCapacityFull answers a claim by an agent whose open chats fill
	// their capacity (pickNext says so with ReasonCapacityFull instead).
	ErrCapacityFull = functions.Conflict("Your chats are at your capacity: close one, or raise your capacity, to take another")
	// ErrClosed answers a claim of a closed conversation that asked for
	// nobody since: the customer asks again (requestSupport reopens it),
	// or an admin reopens it.
	ErrClosed = functions.Conflict("Conversation is closed: reopen it to claim it")
	// ErrNoOpenRequest answers a transfer of a conversation that is not
	// queued or held by an agent.
	ErrNoOpenRequest = functions.Conflict("This conversation has no open support request: claim it first")
)
