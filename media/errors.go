package media

import "errors"

// Errors of validation (each answered 400, with nothing stored), of the
// upload and download URLs, and of the store.
var (
	ErrEmpty       = errors.New("media: empty image")
	ErrTooLarge    = errors.New("media: image exceeds the size limit")
	ErrUnsupported = errors.New("media: not a JPEG, PNG, GIF or WebP image")
	ErrNotAllowed  = errors.New("media: image type not allowed by the chat settings")
	ErrTooBig      = errors.New("media: image dimensions exceed the pixel limit")
	// ErrCorrupt is a header that does not parse, or data the decoder
	// rejects (truncated, inconsistent), or a decoder that panicked.
	ErrCorrupt = errors.New("media: image is corrupt or truncated")
	// ErrBusy is returned when every worker is busy and the queue is full.
	ErrBusy = errors.New("media: too many images in processing")

	ErrUploadURLNotFound = errors.New("media: unknown upload URL")
	ErrUploadURLUsed     = errors.New("media: upload URL already used")
	ErrUploadURLExpired  = errors.New("media: upload URL expired")
	ErrUploadURLOwner    = errors.New("media: upload URL belongs to another user")

	ErrBadSignature = errors.New("media: bad image URL signature")
	ErrURLExpired   = errors.New("media: image URL expired")

	// ErrNotFound is a key the Store does not hold, or a file that is not
	// (or no longer) shown in the conversation a URL names.
	ErrNotFound = errors.New("media: not found")
	// ErrBadKey is a storage key with characters outside [a-z0-9._/-],
	// or a path component "." or "..".
	ErrBadKey = errors.New("media: bad storage key")
)
