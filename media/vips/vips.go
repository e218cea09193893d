package vips

/*
#cgo pkg-config: vips
#include <stdlib.h>
#include <vips/vips.h>
#include "pipeline.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/h2non/bimg"

	"github.com/parley-chat/parley/media"
)

// Config configures a Processor.
type Config struct {
	// WebPEffort is libwebp's effort, 1 (fastest) to 6 (smallest). Zero
	// means 2: on a 1600-pixel photo as small as libvips' default of 4 and
	// nearly three times faster (~50 ms against ~140 ms); effort 1 saves
	// ~10 ms and is 40% larger.
	WebPEffort int
}

// Processor is a media.Processor over libvips. Safe for concurrent use;
// each call runs on its own OS thread (libvips keeps per-thread state),
// and the caller bounds how many run at once.
type Processor struct {
	cfg Config
	// Blocked reports whether libvips refuses every loader but the four
	// (libvips 8.13 and later); otherwise sniffing alone keeps other
	// formats from it.
	Blocked bool
}

var _ media.Processor = (*Processor)(nil)

var (
	setupOnce    sync.Once
	setupBlocked bool
	setupErr     error
)

// setup configures the process-wide libvips, which bimg has initialised:
// no operation cache, warnings silenced, loaders restricted. Once.
func setup() (bool, error) {
	setupOnce.Do(func() {
		bimg.VipsCacheSetMax(0)
		bimg.VipsCacheSetMaxMem(0)
		setupBlocked = C.parley_setup() == 1
		for _, t := range []bimg.ImageType{bimg.JPEG, bimg.PNG, bimg.GIF, bimg.WEBP} {
			if !bimg.IsTypeSupported(t) {
				setupErr = fmt.Errorf("vips: libvips %s cannot load %s", bimg.VipsVersion, bimg.ImageTypeName(t))
				return
			}
		}
		for _, t := range []bimg.ImageType{bimg.JPEG, bimg.WEBP} {
			if !bimg.IsTypeSupportedSave(t) {
				setupErr = fmt.Errorf("vips: libvips %s cannot save %s", bimg.VipsVersion, bimg.ImageTypeName(t))
				return
			}
		}
	})
	return setupBlocked, setupErr
}

// Version is the libvips version Parley was built against.
const Version = bimg.VipsVersion

// New sets up libvips (once per process) and returns a processor.
func New(cfg Config) (*Processor, error) {
	if cfg.WebPEffort == 0 {
		cfg.WebPEffort = 2
	}
	if cfg.WebPEffort < 1 || cfg.WebPEffort > 6 {
		return nil, fmt.Errorf("vips: WebP effort %d is not in 1–6", cfg.WebPEffort)
	}
	blocked, err := setup()
	if err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg, Blocked: blocked}, nil
}

// errVips is libvips' own failure, which for input that passed the
// header checks means the data is bad.
func errVips(op string) error {
	var buf [512]C.char
	C.parley_error(&buf[0], C.size_t(len(buf)))
	return fmt.Errorf("%w: %s: %s", media.ErrCorrupt, op, C.GoString(&buf[0]))
}

// Process implements media.Processor. It checks libvips' own reading of
// the header against job.MaxDecodedPixels before any pixel is decoded,
// then runs the pipeline: decode with shrink-on-load, auto-rotate, bound
// the long edge, strip metadata, encode, and a thumbnail of the first
// frame.
func (p *Processor) Process(ctx context.Context, job media.Job) (out media.Output, err error) {
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if len(job.Src) == 0 {
		return out, media.ErrEmpty
	}
	if media.Sniff(job.Src) != job.Header.Format {
		return out, fmt.Errorf("%w: header says %s", media.ErrUnsupported, job.Header.Format)
	}
	if job.Format != media.WebP && job.Format != media.JPEG {
		return out, fmt.Errorf("vips: cannot store images as %s", job.Format)
	}
	if job.MaxEdge <= 0 || job.ThumbEdge <= 0 || job.Quality < 1 || job.Quality > 100 {
		return out, errors.New("vips: bad job: edges and quality must be positive")
	}
	// libvips keeps per-thread buffers: one thread per job, freed after.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer C.vips_thread_shutdown()

	src := unsafe.Pointer(unsafe.SliceData(job.Src))
	n := C.size_t(len(job.Src))
	animate := C.int(0)
	if job.Animate {
		animate = 1
	}
	var w, h, frames C.int
	if C.parley_header(src, n, C.int(job.Header.Format), animate, &w, &h, &frames) != 0 {
		return out, errVips("read header")
	}
	if int64(w)*int64(h)*int64(max(frames, 1)) > job.MaxDecodedPixels {
		return out, fmt.Errorf("%w: libvips reads %dx%d×%d", media.ErrTooBig, w, h, frames)
	}
	cjob := C.parley_job{format: C.int(job.Header.Format), animate: animate, max_edge: C.int(job.MaxEdge),
		thumb_edge: C.int(job.ThumbEdge), quality: C.int(job.Quality), effort: C.int(p.cfg.WebPEffort)}
	if job.Format == media.WebP {
		cjob.webp = 1
	}
	var img, thumb C.parley_rendition
	if C.parley_process(src, n, &cjob, &img, &thumb) != 0 {
		return out, errVips("process")
	}
	if out.Image, err = rendition(&img); err != nil {
		C.g_free(C.gpointer(thumb.data))
		return media.Output{}, err
	}
	if out.Thumb, err = rendition(&thumb); err != nil {
		return media.Output{}, err
	}
	if job.Format == media.WebP {
		for _, r := range []*media.Rendition{&out.Image, &out.Thumb} {
			if r.Data, err = stripWebP(r.Data); err != nil {
				return media.Output{}, err
			}
		}
	}
	return out, nil
}

// maxRendition bounds an encoded output: far above any bounded-edge image,
// and below what C.GoBytes' int length can express.
const maxRendition = 1 << 30

// rendition copies r's bytes into Go memory and frees them.
func rendition(r *C.parley_rendition) (media.Rendition, error) {
	defer C.g_free(C.gpointer(r.data))
	if uint64(r.len) > maxRendition {
		return media.Rendition{}, fmt.Errorf("vips: encoded image of %d bytes is over the %d-byte bound", uint64(r.len), maxRendition)
	}
	data := C.GoBytes(r.data, C.int(r.len))
	return media.Rendition{Data: data, Width: int(r.width), Height: int(r.height), Frames: int(r.frames)}, nil
}

// probe asks libvips itself, bypassing Parley's sniffing, whether any of
// its loaders accepts b; the error is libvips' answer. The tests use it
// to check that blocked loaders stay blocked.
func probe(b []byte) error {
	if len(b) == 0 {
		return errors.New("vips: empty")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer C.vips_thread_shutdown()
	if C.parley_probe(unsafe.Pointer(unsafe.SliceData(b)), C.size_t(len(b))) != 0 {
		return errVips("probe")
	}
	return nil
}

// Memory reports libvips' tracked memory: current bytes and the high-water
// mark since start.
func Memory() (bytes, highWater int64) {
	m := bimg.VipsMemory()
	return m.Memory, m.MemoryHighwater
}
