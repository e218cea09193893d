package media_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/h2non/bimg"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
	"github.com/parley-chat/parley/internal/testimages"
	"github.com/parley-chat/parley/media"
)

// tooBigProcessor reads bigger dimensions than ReadHeader did, as
// libvips may.
// (once on is set: the demo image is seeded first).
type tooBigProcessor struct{ on atomic.Bool }

func (p *tooBigProcessor) Process(context.Context, media.Job) (media.Output, error) {
	if !p.on.Load() {
		r := media.Rendition{Data: []byte("RIFF\x04\x00\x00\x00WEBP"), Width: 1, Height: 1, Frames: 1}
		return media.Output{Image: r, Thumb: r}, nil
	}
	return media.Output{}, fmt.Errorf("%w: libvips reads 9000x9000×1", media.ErrTooBig)
}

// When the processor's own reading of the header is over the limit, the
// answer is the header check's 400, not a 500.
func TestProcessorTooBigIsA400(t *testing.T) {
	p := &tooBigProcessor{}
	s := parleytest.StartWith(t, parleytest.NoLimits, media.Config{Processor: p})
	p.on.Store(true)
	a := post(t, s, uploadURL(t, s, john), testimages.JPEG(testimages.Photo(32, 32, 1), 80), "image/jpeg", anon)
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	require.Equal(t, map[string]any{"code": "invalid_argument", "status": float64(400),
		"error": "Image dimensions exceed the limit of 50 megapixels"}, a.json(t))
	rows, objects := stored(t, s)
	require.Zero(t, rows)
	require.Zero(t, objects)
}

// A GIF with a 1×1 screen whose first frame sits at (5000,5000) decodes
// as 5001×5001 in libvips: the header check counts it so.
func TestGIFFrameOutsideTheScreen(t *testing.T) {
	s := parleytest.StartWith(t, parleytest.NoLimits, media.Config{MaxPixels: 10_000_000})
	a := post(t, s, uploadURL(t, s, john), testimages.GIFFrameOffset(5000, 5000), "image/gif", anon)
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	require.Equal(t, "Image dimensions 5001x5001 exceed the limit of 10 megapixels", a.json(t)["error"])
}

// Images a decoder cannot stream row by row are bounded by their decode
// memory, not only their pixels; everyday 12-megapixel photos pass.
func TestDecodeMemoryCap(t *testing.T) {
	s := parleytest.Start(t)
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"progressive 4:4:4 jpeg", testimages.ProgressiveJPEGBomb(7000, 7000),
			"Image dimensions 7000x7000 are too large for a progressive JPEG (limit: 80 MB to decode)"},
		{"interlaced 16-bit rgba png", testimages.PNGBombOf(7000, 7000, 16, 6, true),
			"Image dimensions 7000x7000 are too large for an interlaced 16-bit PNG (limit: 80 MB to decode)"},
		{"16-bit rgba png", testimages.PNGBombOf(7000, 7000, 16, 6, false),
			"Image dimensions 7000x7000 are too large for a 16-bit PNG (limit: 80 MB to decode)"},
		{"interlaced rgba png", testimages.PNGBombOf(7000, 7000, 8, 6, true),
			"Image dimensions 7000x7000 are too large for an interlaced PNG (limit: 80 MB to decode)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, s, uploadURL(t, s, john), tt.data, "", anon)
			require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
			require.Equal(t, map[string]any{"code": "invalid_argument", "status": float64(400), "error": tt.want}, a.json(t))
		})
	}
	rows, objects := stored(t, s)
	require.Zero(t, rows)
	require.Zero(t, objects)

	// A 12-megapixel progressive 4:2:0 photo, as libvips writes it.
	baseline := testimages.JPEG(testimages.Photo(4000, 3000, 3), 85)
	progressive, err := bimg.NewImage(baseline).Process(bimg.Options{Type: bimg.JPEG, Quality: 85, Interlace: true})
	require.NoError(t, err)
	h, err := media.ReadHeader(progressive)
	require.NoError(t, err)
	require.True(t, h.Progressive)
	require.Less(t, h.BufferBytes, int64(40<<20), "4:2:0 chroma counted")
	for _, img := range [][]byte{baseline, progressive} {
		a := post(t, s, uploadURL(t, s, john), img, "image/jpeg", anon)
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	}
	// 12 MP interlaced 8-bit RGBA PNG and 4:4:4 progressive JPEG pass the
	// header check.
	for _, b := range [][]byte{testimages.PNGBombOf(4000, 3000, 8, 6, true), testimages.ProgressiveJPEGBomb(4000, 3000)} {
		h, err := media.ReadHeader(b)
		require.NoError(t, err)
		require.LessOrEqual(t, h.BufferBytes, s.Server.Media.Config().MaxDecodeBytes)
	}
}

// A slow, trickling upload holds only its owner's place: another user's
// upload is processed meanwhile, the owner's third upload is answered 429,
// and a body that does not arrive in time is answered 408.
func TestSlowUploadsDoNotBlockOthers(t *testing.T) {
	s := parleytest.StartWith(t, parleytest.NoLimits, media.Config{Workers: 1, MaxQueued: 1, UploadTimeout: 20 * time.Second})
	img := testimages.JPEG(testimages.Photo(32, 32, 14), 80)
	var wg sync.WaitGroup
	// Registered before the pipes' cleanups, so it runs after them: a
	// failure below ends the trickles instead of waiting on them forever.
	t.Cleanup(wg.Wait)
	statuses := make([]int, 2)
	for i := range statuses {
		u := uploadURL(t, s, john)
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.Close() })
		// The client's writer waits on the pipe even after the request
		// failed (net/http's Transport waits for it): the pipe closes
		// on its own well after the server's deadline.
		time.AfterFunc(45*time.Second, func() { pw.Close() })
		req, err := http.NewRequest(http.MethodPost, u, pr)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "image/jpeg")
		wg.Go(func() {
			// No client timeout: the server's 20 s must decide.
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
			pw.Close()
		})
		wg.Go(func() { pw.Write(img[:10]) }) //nolint:errcheck // then nothing more
	}
	// Both trickles are in once John's next upload is refused. (The
	// bodies' deadline is 20 s from when each was accepted, so that on a
	// machine loaded by CI's parallel packages, where a mutation and the
	// two acceptances may take seconds, they are still in together; the
	// wait is longer so that a slow machine reports what it saw, each
	// probe's answer and time.)
	var seen []string
	start := time.Now()
	pgtest.Eventually(t, 30*time.Second, func() error {
		a := post(t, s, uploadURL(t, s, john), nil, "image/jpeg", anon)
		if a.status != http.StatusTooManyRequests {
			if len(seen) < 5 {
				seen = append(seen, fmt.Sprintf("%.1fs: %d", time.Since(start).Seconds(), a.status))
			}
			return fmt.Errorf("HTTP %d: %s (probes: %v)", a.status, a.body, seen)
		}
		require.Equal(t, map[string]any{"code": "rate_limited", "status": float64(429),
			"error": "Too many uploads in progress: try again in 1.0s", "retryAfterMs": float64(1000)}, a.json(t))
		return nil
	})
	a := post(t, s, uploadURL(t, s, jane), img, "image/jpeg", anon)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)

	wg.Wait()
	require.Equal(t, []int{http.StatusRequestTimeout, http.StatusRequestTimeout}, statuses)
	// John can upload again.
	a = post(t, s, uploadURL(t, s, john), img, "image/jpeg", anon)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
}
