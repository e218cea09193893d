package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/jwtauth"
	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/schema"
)

// accessCallers are the columns of the access table in doc.go, in its order.
var accessCallers = [...]struct {
	name string
	id   *functions.Identity
}{
	{"C", john},    // the conversation's customer
	{"OC", jane},   // another customer
	{"S", staff},   // staff of the conversation's store (Pizza Palace)
	{"OS", burger}, // staff of another store (Burger Barn)
	{"A", admin},   // an admin
	{"N", nobody},  // no identity
	// Other orgs: the conversation's customer acting in another org (same
	// subject, org claim "acme"), and an admin of another org.
	{"XC", johnAcme},
	{"XA", acmeAdmin},
	// A guest: outside every conversation but its own support one (the
	// guest variant).
	{"G", guest},
}

// codes are one row's expected statuses, one per accessCallers column.
type codes [len(accessCallers)]int

// accessTarget is what a row's arguments refer to in one variant.
type accessTarget struct {
	conv, msg, order, store string
	user                    string // a user to add to a group
}

// Variants of the access table: a store conversation, a support one, and
// none for functions that take no conversation.
const (
	storeConv   = "store"
	supportConv = "support"
	groupConv   = "group" // John's group with Pizza Palace's staff
	// The guest's own support conversation: derived from the support
	// rows (guestRows), G taking C's column and C another customer's.
	guestConv = "guest"
	// Pizza Palace's thread with support (store_to_admin): C is not in it.
	storeSupportConv = "storeSupport"
	noConv           = ""
)

// Messages of the documented errors.
const (
	msgConvNotFound  = "Conversation not found"
	msgMsgNotFound   = "Message not found"
	msgOrderNotFound = "Order not found"
	msgUnauthorized  = "Unauthorized to send message to this conversation"
	msgNotAuth       = "Not authenticated"
	msgBlocked       = "Conversation is blocked"
	msgSystemOnly    = `messageType "system" is for admins only`
	msgNotCloser     = "Only support or the store can close or reopen this conversation"
	msgNotGroupClose = "Only support or the group's creator can close or reopen this group"
	msgUserNotFound  = "User not found: %s" // of accessTarget.user
	msgNotEditor     = "Only the sender can edit this message"
	msgGuest         = "Guests can only chat with support: sign in to do this"
	msgNotClaimant   = "Only a signed-in customer can claim a guest's conversations"
	msgOtherOrgGuest = "guestToken is a guest's of another organization"
	msgNotRecipient  = "Only the conversation's participants can acknowledge its messages"
	msgStoreNotFound = "Store not found"
	msgStaffOrAdmins = "Only a store's staff or support can open a store support conversation"
)

type accessRow struct {
	label   string // the function as the table names it
	fn      string // the registered function
	variant string
	args    func(accessTarget) map[string]any
	want    codes
	// notFound, forbidden and invalid are the messages this row's 404, 403
	// and 400 must carry; "" leaves a 403 or 400 message unchecked.
	// guestForbidden is G's 403 where it differs from forbidden.
	notFound, forbidden, invalid, guestForbidden string
	// prepare puts extra state in place after the reset, for the cell's
	// call to be meaningful.
	prepare func(*env, accessTarget)
}

func conversationArgs(x accessTarget) map[string]any { return map[string]any{"conversationId": x.conv} }
func noArgs(accessTarget) map[string]any             { return map[string]any{} }

func sendArgs(messageType string) func(accessTarget) map[string]any {
	return func(x accessTarget) map[string]any {
		return map[string]any{"conversationId": x.conv, "content": "access check", "messageType": messageType}
	}
}

// accessRules is the table of doc.go's "# Access rules", row for row: each
// function once for a store conversation and once for a support one, with
// the support expectations taken from the notes where they differ.
func accessRules() []accessRow {
	locationArgs := func(x accessTarget) map[string]any {
		return map[string]any{"conversationId": x.conv, "content": "", "messageType": "location",
			"location": map[string]any{"lat": 48.8584, "lng": 2.2945, "label": "access check"}}
	}
	createArgs := func(x accessTarget) map[string]any { return map[string]any{"orderId": x.order, "storeId": x.store} }
	deleteArgs := func(x accessTarget) map[string]any { return map[string]any{"messageId": x.msg} }
	typingArgs := func(x accessTarget) map[string]any { return map[string]any{"conversationId": x.conv, "isTyping": true} }
	pageArgs := func(x accessTarget) map[string]any {
		return map[string]any{"conversationId": x.conv, "paginationOpts": map[string]any{"numItems": 10}}
	}
	inboxPageArgs := func(accessTarget) map[string]any {
		return map[string]any{"paginationOpts": map[string]any{"numItems": 10}}
	}
	transferArgs := func(x accessTarget) map[string]any {
		return map[string]any{"conversationId": x.conv, "toAdminId": schema.DemoAdmin2ID}
	}
	groupArgs := func(x accessTarget) map[string]any {
		return map[string]any{"participantIds": []string{x.user}, "title": "Access"}
	}
	directArgs := func(x accessTarget) map[string]any { return map[string]any{"userId": x.user} }
	editArgs := func(x accessTarget) map[string]any {
		return map[string]any{"messageId": x.msg, "content": "edited for the access check"}
	}
	meetingArgs := func(x accessTarget) map[string]any {
		return map[string]any{"conversationId": x.conv, "content": "", "messageType": "meeting", "meeting": map[string]any{
			"title": "Access check", "startsAt": time.Now().Add(time.Hour).UnixMilli(), "durationMinutes": 30, "joinUrl": "https://meet.example/abc"}}
	}
	subjectArgs := func(x accessTarget) map[string]any {
		return map[string]any{"conversationId": x.conv, "subject": "Access check " + time.Now().Format(time.RFC3339Nano)}
	}
	deliverArgs := func(x accessTarget) map[string]any {
		return map[string]any{"conversationId": x.conv, "upToMessageId": x.msg}
	}
	searchArgs := func(x accessTarget) map[string]any { return map[string]any{"query": "help", "conversationId": x.conv} }
	storeSupportArgs := func(x accessTarget) map[string]any { return map[string]any{"storeId": x.store} }
	// The target message was just sent: within the edit window.
	fresh := func(e *env, x accessTarget) {
		e.exec(`UPDATE messages SET created_at = clock_timestamp() WHERE id = $1`, x.msg)
	}
	blocked := func(e *env, x accessTarget) {
		e.exec(`UPDATE conversations SET is_blocked = true WHERE id = $1`, x.conv)
	}
	closed := func(e *env, x accessTarget) {
		e.exec(`UPDATE conversations SET status = 'closed' WHERE id = $1`, x.conv)
	}
	othersTyping := func(e *env, x accessTarget) {
		e.exec(`INSERT INTO typing_state (conversation_id, user_id, user_type, user_name, is_typing, last_typing_at)
			VALUES ($1, $2, 'customer', 'John Doe', true, now()), ($1, $3, 'store', 'Pizza Palace Support', true, now()),
			($1, $4, 'admin', 'Parley Support', true, now())`, x.conv, schema.DemoCustomerID, schema.DemoStaffID, schema.DemoAdminID)
	}
	rows := []accessRow{
		//                                                                           C    OC   S    OS   A    N    XC   XA   G
		{label: "createOrGetConversation", variant: storeConv, args: createArgs, want: codes{200, 404, 403, 403, 403, 401, 404, 403, 403}, notFound: msgOrderNotFound, guestForbidden: msgGuest},
		{label: "createOrGetConversation", variant: supportConv, args: createArgs, want: codes{200, 404, 403, 403, 403, 401, 404, 403, 403}, notFound: msgOrderNotFound, guestForbidden: msgGuest},
		{label: "sendMessage", variant: storeConv, args: sendArgs("text"), want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}, forbidden: msgUnauthorized},
		{label: "sendMessage", variant: supportConv, args: sendArgs("text"), want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}, forbidden: msgUnauthorized},
		{label: "sendMessage(location)", fn: "sendMessage", variant: storeConv, args: locationArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}, forbidden: msgUnauthorized},
		{label: "sendMessage(location)", fn: "sendMessage", variant: supportConv, args: locationArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}, forbidden: msgUnauthorized},
		{label: "sendMessage(system)", fn: "sendMessage", variant: storeConv, args: sendArgs("system"), want: codes{400, 400, 400, 400, 200, 401, 400, 404, 400}, invalid: msgSystemOnly},
		{label: "sendMessage(system)", fn: "sendMessage", variant: supportConv, args: sendArgs("system"), want: codes{400, 400, 400, 400, 200, 401, 400, 404, 400}, invalid: msgSystemOnly},
		{label: "markMessagesAsRead", variant: storeConv, args: conversationArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}},
		{label: "markMessagesAsRead", variant: supportConv, args: conversationArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "archiveConversation", variant: storeConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "archiveConversation", variant: supportConv, args: conversationArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "editMessage", variant: storeConv, args: editArgs, want: codes{200, 404, 403, 404, 403, 401, 404, 404, 404}, notFound: msgMsgNotFound, forbidden: msgNotEditor, prepare: fresh},
		{label: "editMessage", variant: supportConv, args: editArgs, want: codes{200, 404, 404, 404, 403, 401, 404, 404, 404}, notFound: msgMsgNotFound, forbidden: msgNotEditor, prepare: fresh},
		{label: "editMessage", variant: groupConv, args: editArgs, want: codes{200, 404, 403, 404, 403, 401, 404, 404, 404}, notFound: msgMsgNotFound, forbidden: msgNotEditor, prepare: fresh},
		{label: "getMessageHistory", variant: storeConv, args: deleteArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}, notFound: msgMsgNotFound},
		{label: "getMessageHistory", variant: supportConv, args: deleteArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}, notFound: msgMsgNotFound},
		{label: "getMessageHistory", variant: groupConv, args: deleteArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}, notFound: msgMsgNotFound},
		{label: "sendMessage(meeting)", fn: "sendMessage", variant: storeConv, args: meetingArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}, forbidden: msgUnauthorized},
		{label: "sendMessage(meeting)", fn: "sendMessage", variant: supportConv, args: meetingArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}, forbidden: msgUnauthorized},
		{label: "sendMessage(meeting)", fn: "sendMessage", variant: groupConv, args: meetingArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}, forbidden: msgUnauthorized},
		{label: "deleteMessage", variant: storeConv, args: deleteArgs, want: codes{200, 404, 403, 404, 200, 401, 404, 404, 404}, notFound: msgMsgNotFound},
		{label: "deleteMessage", variant: supportConv, args: deleteArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}, notFound: msgMsgNotFound},
		{label: "updateTypingStatus", variant: storeConv, args: typingArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}},
		{label: "updateTypingStatus", variant: supportConv, args: typingArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "getTypingIndicators", variant: storeConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}, prepare: othersTyping},
		{label: "getTypingIndicators", variant: supportConv, args: conversationArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}, prepare: othersTyping},
		{label: "getConversation", variant: storeConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "getConversation", variant: supportConv, args: conversationArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "getMessages", variant: storeConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "getMessages", variant: supportConv, args: conversationArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "getMessagesPaginated", variant: storeConv, args: pageArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "getMessagesPaginated", variant: supportConv, args: pageArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "getConversations", variant: noConv, args: noArgs, want: codes{200, 200, 200, 200, 200, 401, 200, 200, 200}},
		{label: "getConversationsPaginated", variant: noConv, args: inboxPageArgs, want: codes{200, 200, 200, 200, 200, 401, 200, 200, 200}},
		{label: "getUnreadCount", variant: noConv, args: noArgs, want: codes{200, 200, 200, 200, 200, 401, 200, 200, 200}},
		{label: "canChatWithStore", variant: noConv, args: func(accessTarget) map[string]any { return map[string]any{"storeId": schema.DemoStoreID} },
			want: codes{200, 200, 403, 403, 403, 401, 404, 403, 403}, notFound: "Store not found", guestForbidden: msgGuest},
		{label: "searchMessages", variant: storeConv, args: searchArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "searchMessages", variant: supportConv, args: searchArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "searchMessages", variant: groupConv, args: searchArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "setConversationSubject", variant: storeConv, args: subjectArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "setConversationSubject", variant: supportConv, args: subjectArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "setConversationSubject", variant: groupConv, args: subjectArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "isChatEnabled", variant: noConv, args: noArgs, want: codes{200, 200, 200, 200, 200, 200, 200, 200, 200}},
		{label: "getChatSettings", variant: noConv, args: noArgs, want: codes{200, 200, 200, 200, 200, 200, 200, 200, 200}},
		{label: "generateUploadUrl", variant: noConv, args: noArgs, want: codes{200, 200, 200, 200, 200, 401, 200, 200, 403}, forbidden: msgGuest},
		{label: "transferConversation", variant: storeConv, args: transferArgs, want: codes{403, 404, 403, 404, 400, 401, 404, 404, 404}},
		{label: "transferConversation", variant: supportConv, args: transferArgs, want: codes{403, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "blockConversation", variant: storeConv, args: conversationArgs, want: codes{403, 404, 403, 404, 200, 401, 404, 404, 404}},
		{label: "blockConversation", variant: supportConv, args: conversationArgs, want: codes{403, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "unblockConversation", variant: storeConv, args: conversationArgs, want: codes{403, 404, 403, 404, 200, 401, 404, 404, 404}, prepare: blocked},
		{label: "unblockConversation", variant: supportConv, args: conversationArgs, want: codes{403, 404, 404, 404, 200, 401, 404, 404, 404}, prepare: blocked},
		{label: "sendMessage", variant: groupConv, args: sendArgs("text"), want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}, forbidden: msgUnauthorized},
		{label: "sendMessage(location)", fn: "sendMessage", variant: groupConv, args: locationArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}, forbidden: msgUnauthorized},
		{label: "sendMessage(system)", fn: "sendMessage", variant: groupConv, args: sendArgs("system"), want: codes{400, 400, 400, 400, 200, 401, 400, 404, 400}, invalid: msgSystemOnly},
		{label: "markMessagesAsRead", variant: groupConv, args: conversationArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}},
		{label: "archiveConversation", variant: groupConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "deleteMessage", variant: groupConv, args: deleteArgs, want: codes{200, 404, 403, 404, 200, 401, 404, 404, 404}, notFound: msgMsgNotFound},
		{label: "updateTypingStatus", variant: groupConv, args: typingArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}},
		{label: "getTypingIndicators", variant: groupConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}, prepare: othersTyping},
		{label: "getConversation", variant: groupConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "getMessages", variant: groupConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "getMessagesPaginated", variant: groupConv, args: pageArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "markDelivered", variant: storeConv, args: deliverArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}, forbidden: msgNotRecipient},
		{label: "markDelivered", variant: supportConv, args: deliverArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "markDelivered", variant: groupConv, args: deliverArgs, want: codes{200, 404, 200, 404, 403, 401, 404, 404, 404}, forbidden: msgNotRecipient},
		{label: "getParticipants", variant: storeConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "getParticipants", variant: supportConv, args: conversationArgs, want: codes{200, 404, 404, 404, 200, 401, 404, 404, 404}},
		{label: "getParticipants", variant: groupConv, args: conversationArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "transferConversation", variant: groupConv, args: transferArgs, want: codes{403, 404, 403, 404, 400, 401, 404, 404, 404}},
		{label: "blockConversation", variant: groupConv, args: conversationArgs, want: codes{403, 404, 403, 404, 200, 401, 404, 404, 404}},
		{label: "unblockConversation", variant: groupConv, args: conversationArgs, want: codes{403, 404, 403, 404, 200, 401, 404, 404, 404}, prepare: blocked},
		{label: "closeConversation", variant: groupConv, args: conversationArgs, want: codes{200, 404, 403, 404, 200, 401, 404, 404, 404}, forbidden: msgNotGroupClose},
		{label: "reopenConversation", variant: groupConv, args: conversationArgs, want: codes{200, 404, 403, 404, 200, 401, 404, 404, 404}, forbidden: msgNotGroupClose, prepare: closed},
		{label: "createGroupConversation", variant: noConv, args: groupArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 403}, notFound: msgUserNotFound, forbidden: msgGuest},
		{label: "getGroupConversations", variant: noConv, args: noArgs, want: codes{200, 200, 200, 200, 200, 401, 200, 200, 200}},
		{label: "getOrCreateDirectChannel", variant: noConv, args: directArgs, want: codes{200, 404, 200, 404, 200, 401, 404, 404, 403}, notFound: msgUserNotFound, guestForbidden: msgGuest},
		{label: "getDirectChannels", variant: noConv, args: noArgs, want: codes{200, 200, 200, 200, 200, 401, 200, 200, 200}},
		{label: "createOrGetStoreSupportConversation", variant: storeSupportConv, args: storeSupportArgs, want: codes{403, 403, 200, 404, 200, 401, 403, 404, 403}, notFound: msgStoreNotFound, forbidden: msgStaffOrAdmins},
		{label: "sendMessage", variant: storeSupportConv, args: sendArgs("text"), want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "markMessagesAsRead", variant: storeSupportConv, args: conversationArgs, want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "markDelivered", variant: storeSupportConv, args: deliverArgs, want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "getMessages", variant: storeSupportConv, args: conversationArgs, want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "getConversation", variant: storeSupportConv, args: conversationArgs, want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "getParticipants", variant: storeSupportConv, args: conversationArgs, want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "searchMessages", variant: storeSupportConv, args: searchArgs, want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "updateTypingStatus", variant: storeSupportConv, args: typingArgs, want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "transferConversation", variant: storeSupportConv, args: transferArgs, want: codes{404, 404, 403, 404, 200, 401, 404, 404, 404}},
		{label: "closeConversation", variant: storeSupportConv, args: conversationArgs, want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}},
		{label: "reopenConversation", variant: storeSupportConv, args: conversationArgs, want: codes{404, 404, 200, 404, 200, 401, 404, 404, 404}, prepare: closed},
		{label: "closeConversation", variant: storeConv, args: conversationArgs, want: codes{403, 404, 200, 404, 200, 401, 404, 404, 404}, forbidden: msgNotCloser},
		{label: "closeConversation", variant: supportConv, args: conversationArgs, want: codes{403, 404, 404, 404, 200, 401, 404, 404, 404}, forbidden: msgNotCloser},
		{label: "reopenConversation", variant: storeConv, args: conversationArgs, want: codes{403, 404, 200, 404, 200, 401, 404, 404, 404}, forbidden: msgNotCloser, prepare: closed},
		{label: "reopenConversation", variant: supportConv, args: conversationArgs, want: codes{403, 404, 404, 404, 200, 401, 404, 404, 404}, forbidden: msgNotCloser, prepare: closed},
		// A customer claims a guest's conversations with its token (a fresh
		// guest's each call: TestClaimGuestThreads moves real ones).
		{label: "claimGuestThreads", variant: noConv, args: claimArgs, want: codes{200, 200, 403, 403, 403, 401, 400, 403, 403},
			forbidden: msgNotClaimant, invalid: msgOtherOrgGuest},
		// The guest's support conversation: {} finds it.
		{label: "createOrGetConversation", variant: guestConv, args: noArgs, want: codes{200, 200, 403, 403, 403, 401, 200, 403, 200}},
	}
	return append(rows, guestRows(rows)...)
}

// guestRows are the support rows for the guest's own support conversation:
// G is its customer (C's column of the support row), and C, like OC, is
// just another customer (OC's column); the others are as they are to any
// support conversation. createOrGetConversation, about orders, has a guest
// row of its own.
func guestRows(rows []accessRow) []accessRow {
	const c, oc, g = 0, 1, len(accessCallers) - 1
	var out []accessRow
	for _, r := range rows {
		if r.variant != supportConv || r.label == "createOrGetConversation" {
			continue
		}
		r.variant = guestConv
		r.want[g], r.want[c] = r.want[c], r.want[oc]
		out = append(out, r)
	}
	return out
}

// claimArgs is a guest token of a fresh guest of the default org.
func claimArgs(accessTarget) map[string]any {
	return map[string]any{"guestToken": guestToken(functions.Identity{Subject: jwtauth.NewGuestSubject(), Role: functions.RoleGuest})}
}

// accessFixture is the state every cell starts from.
type accessFixture struct {
	targets     map[string]accessTarget // by variant
	nonexistent accessTarget
	janeSupport string // Jane's own support conversation
}

func (f *accessFixture) conversations() []string {
	return []string{f.targets[storeConv].conv, f.targets[supportConv].conv, f.targets[groupConv].conv, f.targets[guestConv].conv,
		f.targets[storeSupportConv].conv, f.janeSupport}
}

func newAccessFixture(e *env) *accessFixture {
	support := must[chat.ConversationRef](e.t)(e.mutate(john, "createOrGetConversation", map[string]any{}))
	require.Equal(e.t, chat.CustomerToAdmin, support.ConversationType)
	janeSupport := must[chat.ConversationRef](e.t)(e.mutate(jane, "createOrGetConversation", map[string]any{}))
	group := must[chat.ConversationRef](e.t)(e.mutate(john, "createGroupConversation",
		map[string]any{"participantIds": []string{schema.DemoStaffID, schema.DemoStaff2ID}, "title": "Party order"}))
	require.Equal(e.t, chat.Group, group.ConversationType)
	guestSupport := must[chat.ConversationRef](e.t)(e.mutate(guest, "createOrGetConversation", map[string]any{}))
	require.Equal(e.t, chat.CustomerToAdmin, guestSupport.ConversationType)
	storeSupport := must[chat.ConversationRef](e.t)(e.mutate(staff, "createOrGetStoreSupportConversation", map[string]any{}))
	return &accessFixture{
		targets: map[string]accessTarget{
			storeConv: {conv: schema.DemoConversationID, msg: schema.DemoMessageID, order: schema.DemoOrderID, store: schema.DemoStoreID},
			// John's cancelled Burger Barn order makes a support conversation.
			supportConv: {conv: support.ConversationID, msg: e.send(john, support.ConversationID, "I need help"),
				order: schema.DemoClosedOrderID, store: schema.DemoClosedStoreID},
			groupConv: {conv: group.ConversationID, msg: e.send(john, group.ConversationID, "Ten pizzas, please")},
			guestConv: {conv: guestSupport.ConversationID, msg: e.send(guest, guestSupport.ConversationID, "I need help, as a guest")},
			noConv:    {user: schema.DemoStaff2ID},
			storeSupportConv: {conv: storeSupport.ConversationID, msg: e.send(staff, storeSupport.ConversationID, "Can you help with payouts?"),
				store: schema.DemoStoreID},
		},
		nonexistent: accessTarget{conv: "conv-nope", msg: "msg-nope", order: "order-nope", store: schema.DemoStoreID, user: "user-nope"},
		janeSupport: janeSupport.ConversationID,
	}
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(), sql, args...)
	require.NoError(e.t, err)
}

// reset puts the fixture's conversations back in their starting state:
// active, unblocked, nobody typing, every message unread and undeleted, the
// support conversation assigned to the first demo admin (so transferring it
// to the second is a real transfer).
func (f *accessFixture) reset(e *env) {
	e.t.Helper()
	convs := f.conversations()
	e.exec(`DELETE FROM typing_state`)
	e.exec(`UPDATE messages SET is_deleted = false, deleted_at = NULL, deleted_by = NULL, is_read = false, read_at = NULL
		WHERE conversation_id = ANY($1)`, convs)
	e.exec(`UPDATE conversations SET status = 'active', is_blocked = false,
		assigned_admin_id = CASE WHEN conversation_type IN ('customer_to_admin', 'store_to_admin') THEN $2 END
		WHERE id = ANY($1)`, convs, schema.DemoAdminID)
}

// call runs a registered function as id, as a mutation or a query.
func (e *env) call(fn string, id *functions.Identity, args map[string]any) (json.RawMessage, error) {
	e.t.Helper()
	f, err := chatReg.Lookup("shared/chat:" + fn)
	require.NoError(e.t, err)
	if f.Kind == functions.KindMutation {
		return e.mutate(id, fn, args)
	}
	return e.query(id, fn, args)
}

func wireError(t *testing.T, err error) *functions.Error {
	t.Helper()
	var we *functions.Error
	require.ErrorAs(t, err, &we)
	return we
}

func TestAccessRules(t *testing.T) {
	e := newEnv(t)
	fx := newAccessFixture(e)
	for _, row := range accessRules() {
		fn := row.fn
		if fn == "" {
			fn = row.label
		}
		notFound := row.notFound
		if notFound == "" {
			notFound = msgConvNotFound
		}
		for i, c := range accessCallers {
			name := row.label + "/" + c.name
			if row.variant != noConv {
				name = row.label + "/" + row.variant + "/" + c.name
			}
			t.Run(name, func(t *testing.T) {
				e := &env{t: t, pool: e.pool}
				fx.reset(e)
				target := fx.targets[row.variant]
				if row.prepare != nil {
					row.prepare(e, target)
				}
				raw, err := e.call(fn, c.id, row.args(target))
				want := row.want[i]
				if want == 200 {
					require.NoError(t, err)
					if row.label == "getTypingIndicators" {
						indicators := must[[]chat.TypingIndicator](t)(raw, nil)
						require.NotEmpty(t, indicators, "others are typing")
						for _, ind := range indicators {
							require.NotEqual(t, c.id.Subject, ind.UserID, "never lists the caller")
						}
					}
					return
				}
				got := wireError(t, err)
				require.Equal(t, want, got.Status, "%s as %s: %s", row.label, c.name, got.Message)
				switch want {
				case 401:
					require.Equal(t, msgNotAuth, got.Message)
				case 403:
					if c.name == "G" && row.guestForbidden != "" {
						require.Equal(t, row.guestForbidden, got.Message)
					} else if row.forbidden != "" {
						require.Equal(t, row.forbidden, got.Message)
					}
				case 400:
					if row.invalid != "" {
						require.Equal(t, row.invalid, got.Message)
					}
				case 404:
					wantMsg, missingMsg := notFound, notFound
					if strings.Contains(notFound, "%s") { // names the id asked for
						wantMsg, missingMsg = fmt.Sprintf(notFound, target.user), fmt.Sprintf(notFound, fx.nonexistent.user)
					}
					require.Equal(t, wantMsg, got.Message)
					// An outsider learns nothing: the same bytes as for an id
					// that does not exist.
					_, err := e.call(fn, c.id, row.args(fx.nonexistent))
					missing := wireError(t, err)
					require.Equal(t, missingMsg, missing.Message)
					missing.Message = got.Message
					require.Equal(t, *missing, *got)
					wantJSON, err := json.Marshal(missing.ErrorData())
					require.NoError(t, err)
					gotJSON, err := json.Marshal(got.ErrorData())
					require.NoError(t, err)
					require.Equal(t, string(wantJSON), string(gotJSON))
				}
			})
		}
	}

	// A blocked conversation refuses its speakers; admins still post
	// system messages to it.
	for _, variant := range []string{storeConv, supportConv} {
		speakers := []struct {
			name string
			id   *functions.Identity
		}{{"C", john}, {"S", staff}}
		if variant == supportConv {
			speakers[1].name, speakers[1].id = "A", admin
		}
		for _, sp := range speakers {
			t.Run("blocked/"+variant+"/sendMessage/"+sp.name, func(t *testing.T) {
				e := &env{t: t, pool: e.pool}
				fx.reset(e)
				must[any](t)(e.mutate(admin, "blockConversation", conversationArgs(fx.targets[variant])))
				_, err := e.mutate(sp.id, "sendMessage", sendArgs("text")(fx.targets[variant]))
				requireCode(t, err, 403, msgBlocked)
			})
		}
		t.Run("blocked/"+variant+"/sendMessage(system)/A", func(t *testing.T) {
			e := &env{t: t, pool: e.pool}
			fx.reset(e)
			must[any](t)(e.mutate(admin, "blockConversation", conversationArgs(fx.targets[variant])))
			_, err := e.mutate(admin, "sendMessage", sendArgs("system")(fx.targets[variant]))
			require.NoError(t, err)
		})
	}

	t.Run("getConversations", func(t *testing.T) {
		e := &env{t: t, pool: e.pool}
		fx.reset(e)
		store, support, storeSupport, guestSupport := fx.targets[storeConv].conv, fx.targets[supportConv].conv,
			fx.targets[storeSupportConv].conv, fx.targets[guestConv].conv
		list := func(id *functions.Identity) map[string]chat.ConversationDoc {
			docs := must[[]chat.ConversationDoc](t)(e.query(id, "getConversations", map[string]any{}))
			out := make(map[string]chat.ConversationDoc, len(docs))
			for _, d := range docs {
				out[d.ID] = d
			}
			return out
		}
		tests := []struct {
			caller   string
			id       *functions.Identity
			contains []string
			excludes []string
			own      func(chat.ConversationDoc) bool
		}{
			{"C", john, []string{store, support}, []string{fx.janeSupport, storeSupport, guestSupport},
				func(d chat.ConversationDoc) bool { return d.CustomerID == schema.DemoCustomerID }},
			{"OC", jane, []string{fx.janeSupport}, []string{store, support, storeSupport},
				func(d chat.ConversationDoc) bool { return d.CustomerID == schema.DemoOtherCustomerID }},
			{"S", staff, []string{store, storeSupport}, []string{support, fx.janeSupport},
				func(d chat.ConversationDoc) bool {
					return (d.ConversationType == chat.CustomerToStore || d.ConversationType == chat.StoreToAdmin) &&
						d.StoreID != nil && *d.StoreID == schema.DemoStoreID
				}},
			{"OS", burger, nil, []string{store, support, fx.janeSupport, storeSupport},
				func(d chat.ConversationDoc) bool {
					return (d.ConversationType == chat.CustomerToStore || d.ConversationType == chat.StoreToAdmin) &&
						d.StoreID != nil && *d.StoreID == schema.DemoClosedStoreID
				}},
			{"A", admin, []string{support, fx.janeSupport, storeSupport, guestSupport}, []string{store},
				func(d chat.ConversationDoc) bool {
					return d.ConversationType == chat.CustomerToAdmin || d.ConversationType == chat.StoreToAdmin
				}},
			// A guest's list is its own support conversation, marked as a guest's.
			{"G", guest, []string{guestSupport}, []string{store, support, fx.janeSupport, storeSupport},
				func(d chat.ConversationDoc) bool { return d.CustomerID == guest.Subject && d.CustomerIsGuest }},
			// Another org's lists hold none of the default org's (only what
			// the cells above started there: John's acme support conversation).
			{"XC", johnAcme, nil, []string{store, support, fx.janeSupport, storeSupport, guestSupport},
				func(d chat.ConversationDoc) bool { return d.CustomerID == schema.DemoCustomerID }},
			{"XA", acmeAdmin, nil, []string{store, support, fx.janeSupport, storeSupport, guestSupport},
				func(d chat.ConversationDoc) bool { return d.ConversationType == chat.CustomerToAdmin }},
		}
		for _, tt := range tests {
			t.Run(tt.caller, func(t *testing.T) {
				got := list(tt.id)
				for _, id := range tt.contains {
					require.Contains(t, got, id)
				}
				for _, id := range tt.excludes {
					require.NotContains(t, got, id)
				}
				for _, d := range got {
					require.True(t, tt.own(d), fmt.Sprintf("%s sees %s (%s, customer %s)", tt.caller, d.ID, d.ConversationType, d.CustomerID))
				}
			})
		}
	})
}

// TestDocTableIsTheTestedTable: the access table of doc.go and
// accessRules say the same, cell for cell (doc.go's rows give the store
// conversation, or no conversation; its notes the variants).
func TestDocTableIsTheTestedTable(t *testing.T) {
	doc := map[string]codes{}
	for label, c := range parleytest.DocTable(t, "doc.go", len(accessCallers)) {
		label = strings.NewReplacer(" (text)", "", " (C's message)", "", " (", "(").Replace(label)
		doc[label] = codes(c)
	}
	require.NotEmpty(t, doc)
	tested := map[string]bool{}
	for _, r := range accessRules() {
		if r.variant != storeConv && r.variant != noConv && r.label != "createOrGetStoreSupportConversation" {
			continue
		}
		label := r.label
		if also, ok := map[string]string{"unblockConversation": "blockConversation", "reopenConversation": "closeConversation"}[label]; ok {
			label = also // doc.go: "also unblockConversation"
		}
		tested[label] = true
		want, ok := doc[label]
		require.True(t, ok, "doc.go's table has no row for %s", r.label)
		require.Equal(t, want, r.want, "%s: doc.go's row and the tested one differ", r.label)
	}
	for label := range doc {
		if label == "sendMessage(image)" {
			continue // as text, with an upload of the caller's: TestSendImageMessage
		}
		require.True(t, tested[label], "doc.go's row %s is not tested here", label)
	}
}
