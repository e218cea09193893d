package chat

import "time"

// Conversation is a row of conversations.
type Conversation struct {
	ID                 string
	Type               string
	OrgID              string // "" is the default organization
	CustomerID         string
	StoreID            *string
	OrderID            *string
	AssignedAdminID    *string
	Status             string
	IsBlocked          bool
	LastMessageAt      *time.Time
	LastMessagePreview *string
	CreatedAt          time.Time
	Subject            *string // optional, any conversation
	// A group's title and creator (groups only).
	Title     *string
	CreatedBy *string
	// Member is set on a group read for an access check: the caller is one
	// of its participants.
	Member bool
	// ChatOff is set on a conversation read for a mutation: the chat
	// switch of its org or store is off.
	ChatOff bool
}

// Conversation types. A group's CustomerID is empty: it lists its people
// in conversation_participants.
const (
	CustomerToStore = "customer_to_store"
	CustomerToAdmin = "customer_to_admin"
	StoreToAdmin    = "store_to_admin" // a store's staff and support (store_support.go)
	Group           = "group"
	Direct          = "direct" // a direct channel between two users (direct.go)
)

// memberGated reports whether conversations of type t are seen and spoken
// in by their participants (groups and direct channels), whose read state
// is a position per participant, rather than by who their customer and
// store are.
func memberGated(t string) bool { return t == Group || t == Direct }

// supportType reports whether conversations of type t are with support:
// a customer's, or a store's.
func supportType(t string) bool { return t == CustomerToAdmin || t == StoreToAdmin }

// withStore reports whether conversations of type t belong to a store
// (its staff see them): its customers', and its own with support.
func withStore(t string) bool { return t == CustomerToStore || t == StoreToAdmin }

// askingSide reports whether a sender of role (a sender_type, or a
// participant's role) is the side of a one-to-one conversation of type t
// that asks — the customer, or in a store ↔ support thread the store —
// rather than the side that answers: each side reads the other's
// messages, and a message is delivered when the other side has it. (The
// unread counters keep a column per party instead: a store's is always
// unread_recipient, 0017_store_support.sql.)
func askingSide(role, t string) bool {
	return role == "customer" || role == "guest" || (role == "store" && t == StoreToAdmin)
}

// Message is a row of messages, with the sender's display name.
type Message struct {
	ID             string
	ConversationID string
	SenderID       string
	SenderType     string
	SenderName     string
	MessageType    string
	Content        string
	ImageFileID    *string
	Location       *Location // a location message's point
	Meeting        *Meeting  // a meeting message's call
	// Assistant is an assistant's message's state (sender_type
	// "assistant"); nil on every other message.
	Assistant *AssistantState
	EditedAt  *time.Time
	IsRead    bool
	ReadAt    *time.Time
	IsDeleted bool
	CreatedAt time.Time
}

// Location is a location message's point, in degrees, and its label.
type Location struct {
	Lat   float64 `json:"lat"`
	Lng   float64 `json:"lng"`
	Label *string `json:"label,omitempty"`
}

// File is a row of files: an uploaded image as the server measured and
// stored it (the compressed image; its thumbnail has the same type).
type File struct {
	ID          string
	OwnerID     string
	ContentType string
	SizeBytes   int64
	Width       int
	Height      int
	ThumbWidth  int
	ThumbHeight int
	Frames      int
	FileName    *string
	MessageID   *string
	CreatedAt   time.Time
}
