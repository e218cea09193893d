// Package media owns image attachments: upload URLs, the upload and
// download endpoints, validation, the storage interface (Store, with the
// local DirStore and PGStore in Postgres, which every node of a cluster
// shares), the processing interface (Processor; media/vips
// implements it with libvips through bimg), signed download URLs, and the
// janitor that removes uploads never attached to a message.
//
// # Flow
//
// The chat mutation generateUploadUrl calls NewUploadURL, which records a
// single-use token bound to the caller (only its SHA-256, in upload_urls)
// in the mutation's transaction and returns
// BaseURL/api/storage/upload?token=…. The client POSTs the bytes there
// (raw, or the first file of a multipart form); the answer is
// {"storageId": "file…"}. sendMessage (package chat) attaches that
// file to one message, once, and only for its uploader. Queries list image
// messages with URLs from Sign, and GET /api/storage/{file}/{variant}
// serves them.
//
// # Validation
//
// Each refusal is a 400 with a clear message, and nothing is stored. In
// order: the body is capped with http.MaxBytesReader at the chat settings'
// maxImageSizeMB (the message is the API document's, "Image size exceeds
// 5MB limit"; a body up to twice the limit is read on so the client gets
// the answer); an empty body; the format is sniffed from magic bytes
// (declared content type and file name are ignored) and must be JPEG,
// PNG, GIF or WebP and in the settings' allowedImageTypes; ReadHeader
// reads the dimensions (and a GIF's or WebP's frames) from the header
// alone (a GIF's canvas grown to hold its first frame, as libnsgif does),
// and a canvas or frame over MaxPixels is refused before any decoder runs
// (decompression bombs), as is an image whose decoder must buffer more
// than MaxDecodeBytes (progressive JPEG, interlaced or 16-bit PNG:
// Header.BufferBytes); the processor re-checks libvips' own
// reading of the header, decodes with the loader of the sniffed format
// only (every other libvips loader is blocked: no ImageMagick, SVG, PDF),
// and a truncated or corrupt file fails to decode. A decoder panic is an
// error, never a crash.
//
// # Processing
//
// Auto-rotated by EXIF orientation, converted to sRGB, every metadata
// field stripped (EXIF with GPS, XMP, IPTC, ICC), bounded to MaxEdge,
// re-encoded as WebP or JPEG (Config.Format), plus a thumbnail bounded to
// ThumbEdge. Animated GIFs and WebPs within the budget (MaxFrames,
// MaxAnimationPixels) stay animated (as WebP, bounded to AnimationEdge);
// otherwise only the first frame is kept. The original is stored only
// with KeepOriginals, and never served.
//
// # Downloads
//
// A download URL names conversation, file, variant and expiry, signed with
// HMAC-SHA256 (Signer). Expiries fall on buckets of URLTTL/2, so within a
// bucket every participant gets the same URLs: the shared getMessages body
// stays identical for all the callers its access check admitted, and asks
// the engine (QueryCtx.RefreshAt) to re-run when the bucket ends. The
// handler checks the signature and expiry, then that the file is the image
// of an undeleted message of that conversation, and serves it with its
// stored type, X-Content-Type-Options: nosniff, Cache-Control: private,
// no-store and a sandboxing Content-Security-Policy.
//
// # Concurrency model
//
// A Service is safe for concurrent use. At most Workers images are
// processed at once (a semaphore). An upload's body is read first, under
// a deadline (UploadTimeout, then 408), holding one of its owner's
// MaxUploadsPerOwner places (more are answered 429 with retryAfterMs) and
// one of MaxReading (more: 503), so a slow body stalls nobody else; then
// at most Workers+MaxQueued uploads are admitted to wait for or hold a
// worker, more are answered 503 and keep their URL usable. Run is the janitor: one
// goroutine, sweeping every SweepInterval.
//
// # Lifecycle
//
// New validates the configuration; Register mounts the endpoints on a mux;
// Run sweeps until its context is done and returns after its goroutine
// exits (internal/server runs it in its errgroup). SeedDemo stores the API
// document's demo image for `parley dev` and tests.
//
// # Invariants
//
// An upload URL is used at most once, and by nobody but its owner when the
// request carries a token. Without one it is a capability, as in Convex:
// the official client posts to it with no Authorization header, so whoever
// holds an unexpired, unused URL may post to it once, and what it receives
// is its owner's. It lives UploadURLTTL (one hour by default), only a hash
// of its token is stored, and no request URL is logged. A files row exists only for an image that was
// fully processed and stored: objects are written first and removed again
// if the row cannot be. A file is attached to at most one message. An
// unattached file outlives its expires_at by at most SweepInterval, and
// the stored image of a deleted message outlives the deletion by at most
// SweepInterval (its row stays, with purged_at set). A
// download URL opens one variant of one file within one conversation
// until it expires; nothing the client declares about an image is trusted.
package media
