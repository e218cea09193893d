package schema

import "time"

// User is a row of users.
type User struct {
	ID    string
	Name  string
	Role  string
	OrgID string // "" is the default organization
}

// Store is a row of stores.
type Store struct {
	ID                     string
	Name                   string
	DirectMessagingEnabled bool
	ChatEnabled            bool // the store's chat switch
	OrgID                  string
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

// Settings is an organization's row of chat_settings.
type Settings struct {
	DirectMessagingEnabled bool
	AdminSupportEnabled    bool
	ChatEnabled            bool // the chat switch
	MaxImageSizeMB         int
	AllowedImageTypes      []string
}

// Millis converts t to milliseconds since the epoch, with microsecond
// precision, the unit of the API's _creationTime and other times.
func Millis(t time.Time) float64 { return float64(t.UnixMicro()) / 1000 }
