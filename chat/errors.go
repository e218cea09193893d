package chat

import "github.com/parley-chat/parley/functions"

// The chat API's errors: the API document's messages, and the others its
// functions return. Clients branch on their codes (package functions).
var (
	ErrConversationNotFound = functions.NotFound("Conversation not found")
	ErrMessageNotFound      = functions.NotFound("Message not found")
	ErrStoreNotFound        = functions.NotFound("Store not found")
	ErrOrderNotFound        = functions.NotFound("Order not found")
	ErrAdminNotFound        = functions.NotFound("Admin not found")
	ErrUnauthorizedSend     = functions.Forbidden("Unauthorized to send message to this conversation")
	ErrConversationBlocked  = functions.Forbidden("Conversation is blocked")
	ErrClosed               = functions.Forbidden("Conversation is closed")
	ErrChatDisabled         = functions.Forbidden("Chat is disabled")
	ErrAdminOnly            = functions.Forbidden("Only admins can do this")
	ErrNotCloser            = functions.Forbidden("Only support or the store can close or reopen this conversation")
	ErrNotGroupCloser       = functions.Forbidden("Only support or the group's creator can close or reopen this group")
	ErrNotEditor            = functions.Forbidden("Only the sender can edit this message")
	ErrEditDeleted          = functions.Conflict("A deleted message cannot be edited")
	ErrNotSender            = functions.Forbidden("Only the sender or an admin can delete this message")
	ErrNotCustomer          = functions.Forbidden("Only customers can do this")
	ErrCustomersStart       = functions.Forbidden("Only customers can start conversations")
	ErrSupportDisabled      = functions.Forbidden("Support chat is disabled")
	ErrAlreadyAssigned      = functions.Conflict("Conversation is already assigned to that admin")
	ErrGuest                = functions.Forbidden("Guests can only chat with support: sign in to do this")
	ErrGuestInGroup         = functions.Forbidden("Guests cannot be added to a group")
	ErrGuestDirect          = functions.Forbidden("Guests have no direct channels: they chat with support in their support conversation")
	ErrGuestsOff            = functions.Forbidden("Guest access is disabled")
	ErrNotClaimant          = functions.Forbidden("Only a signed-in customer can claim a guest's conversations")
)
