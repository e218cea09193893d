package assistant

import "github.com/parley-chat/parley/functions"

// The assistant domain's errors. Clients branch on their codes (package
// functions); the messages follow chat's and the desk's.
var (
	// ErrAdminOnly answers customers, store staff and guests calling an
	// admin's function: the desk's answer.
	ErrAdminOnly = functions.Forbidden("Only admins can do this")
	// ErrCustomersOnly answers others starting an assistant chat or
	// asking for a human: only the conversation's customer does.
	ErrCustomersOnly = functions.Forbidden("Only the conversation's customer can do this")
	// ErrAssistantNotFound answers an assistant id of no assistant of the
	// caller's org (or a disabled one, for customers).
	ErrAssistantNotFound = functions.NotFound("Assistant not found")
	// ErrStoreNotFound answers an upsert for a store of no such id in the
	// caller's org.
	ErrStoreNotFound = functions.NotFound("Store not found")
	// ErrNotAiHeld answers a takeover of a conversation no assistant
	// answers now.
	ErrNotAiHeld = functions.Conflict("No assistant is answering this conversation")
	// ErrNoAssistant answers resumeAi in a conversation no assistant ever
	// answered.
	ErrNoAssistant = functions.Conflict("This conversation has no assistant to resume")
	// ErrAiActive answers resumeAi while the assistant already answers.
	ErrAiActive = functions.Conflict("The assistant already answers this conversation")
)
