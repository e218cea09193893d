package media

import (
	"context"
	"fmt"
)

// Processor turns a validated upload into what Parley stores: the image
// auto-rotated, stripped of metadata, bounded and re-encoded, and a
// thumbnail. Package media/vips implements it with libvips. Implementations
// must be safe for concurrent use; the Service bounds how many jobs run at
// once.
type Processor interface {
	Process(ctx context.Context, job Job) (Output, error)
}

// Job is one image to process. Src has passed ReadHeader and the Service's
// checks; the processor must still treat it as hostile: its decoder reads
// only Header.Format, and it re-checks its own reading of the dimensions
// against MaxDecodedPixels before decoding.
type Job struct {
	Src    []byte
	Header Header
	// Animate keeps every frame of an animated image; false keeps the
	// first frame only.
	Animate bool
	// MaxDecodedPixels bounds the pixels the decoder may produce, over
	// all frames it decodes.
	MaxDecodedPixels int64
	Format           Format // JPEG or WebP
	Quality          int    // 1–100
	MaxEdge          int    // the long edge of the image, at most
	ThumbEdge        int    // the long edge of the thumbnail, at most
}

// Output is a processed image. Image and Thumb have Job.Format.
type Output struct {
	Image, Thumb Rendition
}

// Rendition is one encoded image.
type Rendition struct {
	Data          []byte
	Width, Height int // of one frame
	Frames        int
}

// process runs p, turning a panic in the decoder into ErrCorrupt: a
// hostile image must never take the server down.
func process(ctx context.Context, p Processor, job Job) (out Output, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, r)
		}
	}()
	return p.Process(ctx, job)
}

// readHeader is ReadHeader with a panic (a bug in a parser of hostile
// bytes) answered as ErrCorrupt.
func readHeader(b []byte) (h Header, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: header parser panic: %v", ErrCorrupt, r)
		}
	}()
	return ReadHeader(b)
}
