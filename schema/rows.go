package schema

import "time"

// User is a row of users.
type User struct {
	ID   string
	Name string
	Role string
}

// Store is a row of stores.
type Store struct {
	ID                     string
	Name                   string
	DirectMessagingEnabled bool
}

// Order is a row of orders.
type Order struct {
	ID          string
	CustomerID  string
	StoreID     string
	TotalAmount float64
	Status      string
	OrderDate   time.Time
}

// Conversation is a row of conversations.
type Conversation struct {
	ID                 string
	Type               string
	CustomerID         string
	StoreID            *string
	OrderID            *string
	AssignedAdminID    *string
	Status             string
	IsBlocked          bool
	LastMessageAt      *time.Time
	LastMessagePreview *string
	CreatedAt          time.Time
}

// Conversation types.
const (
	CustomerToStore = "customer_to_store"
	CustomerToAdmin = "customer_to_admin"
)

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
	IsRead         bool
	ReadAt         *time.Time
	IsDeleted      bool
	CreatedAt      time.Time
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

// Settings is the single row of chat_settings.
type Settings struct {
	DirectMessagingEnabled bool
	AdminSupportEnabled    bool
	MaxImageSizeMB         int
	AllowedImageTypes      []string
}

// Millis converts t to milliseconds since the epoch, with microsecond
// precision, the unit of the API's _creationTime and other times.
func Millis(t time.Time) float64 { return float64(t.UnixMicro()) / 1000 }
