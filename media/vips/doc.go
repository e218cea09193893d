// Package vips is the media.Processor over libvips: github.com/h2non/bimg
// initialises libvips (importing it runs vips_init, with libvips' worker
// threads limited to one per image) and answers which loaders and savers
// the installed libvips has; the pipeline itself is a small cgo file
// (pipeline.c) calling libvips directly.
//
// Why not bimg's Resize: it decodes with random access (the whole image
// in memory), re-encodes an EXIF-rotated JPEG at quality 100 before
// shrinking it, and keeps only the first frame of animations; measured on
// a 12-megapixel JPEG it took twice the time and more memory than the
// pipeline below.
//
// # Pipeline
//
// Process reads the header with the sniffed format's own loader and checks
// its dimensions (all frames when animating) against Job.MaxDecodedPixels
// before any pixel is decoded. Every load uses fail_on=error, so a
// truncated or corrupt file fails. JPEGs (phone photos) are decoded
// sequentially with libjpeg's shrink-on-load, resized (Lanczos) to the
// bound and rotated by their EXIF orientation once in memory: a third
// cheaper than vips_thumbnail_buffer, which does the rest (PNG, GIF,
// WebP: premultiplied alpha while resizing, every frame of an animation).
// Then alpha is flattened on white for JPEG output; an embedded ICC
// profile (or CMYK) is converted to sRGB; every metadata field is removed
// (webpsave's own strip does not work in libvips 8.14.1, so EXIF/XMP/ICCP
// chunks are also cut out of the WebP afterwards); the image is encoded,
// and a still thumbnail of its first frame. glibc's free memory is
// returned to the system after each image (malloc_trim), so peaks do not
// stack on fragmentation.
//
// # Security
//
// Set-up (once per process) blocks every libvips loader but JPEG, PNG,
// GIF and WebP (vips_operation_block_set) and every operation libvips
// marks untrusted (vips_block_untrusted_set), on libvips 8.13 and later;
// Processor.Blocked reports it. On older libvips, sniffing in package
// media is the only gate. libvips' operation cache is disabled, and its
// warnings (about hostile input) are silenced: failures come back as
// errors wrapping media.ErrCorrupt.
//
// # Concurrency model
//
// A Processor is safe for concurrent use; the caller bounds how many
// Process calls run at once. Each call locks its goroutine to an OS
// thread and frees libvips' per-thread state before returning; no C
// memory outlives a call (results are copied into Go memory). glibc's
// malloc is limited to two arenas. A Go panic in a call becomes an error
// (package media recovers around Process); a crash inside libvips itself
// cannot be recovered, which is why only the four loaders are reachable.
//
// # Lifecycle
//
// New runs the set-up once; there is nothing to close.
package vips
