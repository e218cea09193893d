package vips_test

import (
	"bytes"
	"context"
	"image"
	_ "image/jpeg" // decode outputs in the tests
	_ "image/png"
	"slices"
	"testing"

	"github.com/h2non/bimg"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/testimages"
	"github.com/parley-chat/parley/media"
	"github.com/parley-chat/parley/media/vips"
)

func newProcessor(t testing.TB) *vips.Processor {
	t.Helper()
	p, err := vips.New(vips.Config{})
	require.NoError(t, err)
	require.True(t, p.Blocked, "libvips %s blocks untrusted loaders", vips.Version)
	return p
}

// job is a job for src as the media service makes it, with its defaults.
func job(t testing.TB, src []byte, format media.Format) media.Job {
	t.Helper()
	h, err := media.ReadHeader(src)
	require.NoError(t, err)
	return media.Job{Src: src, Header: h, Format: format, Quality: 80, MaxEdge: 1600, ThumbEdge: 320,
		MaxDecodedPixels: h.DecodedPixels(1)}
}

// decode checks out is a real image of the format and size it claims.
// WebP is decoded by libvips (through bimg, into PNG): the standard
// library has no WebP decoder.
func decode(t *testing.T, r media.Rendition, format media.Format) image.Image {
	t.Helper()
	require.Equal(t, format, media.Sniff(r.Data))
	data := r.Data
	if format == media.WebP {
		var err error
		data, err = bimg.NewImage(data).Convert(bimg.PNG)
		require.NoError(t, err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, image.Pt(r.Width, r.Height), img.Bounds().Size())
	return img
}

func TestProcessStripsAndRotates(t *testing.T) {
	p := newProcessor(t)
	// Stored 400×200, displayed upright (orientation 6) as 200×400, with
	// a GPS position and a camera make.
	src := testimages.JPEGWithEXIF(testimages.Photo(400, 200, 1), testimages.Rotate90CW, testimages.Berlin)
	in, err := bimg.Metadata(src)
	require.NoError(t, err)
	require.Equal(t, 6, in.Orientation, "precondition: the input is rotated by EXIF")
	require.Equal(t, "52/1 31/1 12/1", in.EXIF.GPSLatitude, "precondition: the input has a GPS position")

	for _, format := range []media.Format{media.WebP, media.JPEG} {
		t.Run(format.Ext(), func(t *testing.T) {
			out, err := p.Process(context.Background(), job(t, src, format))
			require.NoError(t, err)
			for _, r := range []media.Rendition{out.Image, out.Thumb} {
				decode(t, r, format)
				require.Empty(t, testimages.MetadataBlocks(r.Data), "no EXIF, XMP or ICC left")
				require.NotContains(t, string(r.Data), "ParleyCam")
				md, err := bimg.Metadata(r.Data)
				require.NoError(t, err)
				require.Empty(t, md.EXIF.GPSLatitude)
				require.Empty(t, md.EXIF.Make)
				require.LessOrEqual(t, md.Orientation, 1, "rotated into place, no orientation left")
			}
			require.Equal(t, [2]int{200, 400}, [2]int{out.Image.Width, out.Image.Height}, "auto-rotated")
			require.Equal(t, [2]int{160, 320}, [2]int{out.Thumb.Width, out.Thumb.Height}, "thumbnail bounded to 320")
			require.Equal(t, 1, out.Image.Frames)
		})
	}
}

func TestProcessBoundsTheLongEdge(t *testing.T) {
	p := newProcessor(t)
	src := testimages.JPEG(testimages.Photo(3000, 1000, 2), 85)
	out, err := p.Process(context.Background(), job(t, src, media.WebP))
	require.NoError(t, err)
	require.Equal(t, [2]int{1600, 533}, [2]int{out.Image.Width, out.Image.Height})
	require.Less(t, len(out.Image.Data), len(src))
	// Smaller images are not enlarged.
	small := testimages.JPEG(testimages.Photo(300, 100, 3), 85)
	out, err = p.Process(context.Background(), job(t, small, media.WebP))
	require.NoError(t, err)
	require.Equal(t, [2]int{300, 100}, [2]int{out.Image.Width, out.Image.Height})
	require.Equal(t, [2]int{300, 100}, [2]int{out.Thumb.Width, out.Thumb.Height})
}

func TestProcessAlpha(t *testing.T) {
	p := newProcessor(t)
	src := testimages.AlphaPNG(300, 200)
	out, err := p.Process(context.Background(), job(t, src, media.WebP))
	require.NoError(t, err)
	img := decode(t, out.Image, media.WebP)
	_, _, _, a := img.At(10, 100).RGBA()
	require.Zero(t, a, "the transparent half stays transparent")
	r, _, _, a := img.At(290, 100).RGBA()
	require.Equal(t, uint32(0xffff), a)
	require.Greater(t, r, uint32(0xc000))

	// JPEG has no alpha: flattened on white.
	out, err = p.Process(context.Background(), job(t, src, media.JPEG))
	require.NoError(t, err)
	img = decode(t, out.Image, media.JPEG)
	r, g, b, _ := img.At(10, 100).RGBA()
	require.Greater(t, min(r, g, b), uint32(0xf000), "white where it was transparent")
}

func TestProcessAnimatedGIF(t *testing.T) {
	p := newProcessor(t)
	src := testimages.AnimatedGIF(200, 100, 6)
	j := job(t, src, media.WebP)
	require.Equal(t, 6, j.Header.Frames)

	j.Animate, j.MaxDecodedPixels = true, j.Header.DecodedPixels(6)
	out, err := p.Process(context.Background(), j)
	require.NoError(t, err)
	require.Equal(t, 6, out.Image.Frames)
	require.Equal(t, [2]int{200, 100}, [2]int{out.Image.Width, out.Image.Height})
	require.Contains(t, testimages.WebPChunks(out.Image.Data), "ANIM", "an animated WebP")
	h, err := media.ReadHeader(out.Image.Data)
	require.NoError(t, err)
	require.Equal(t, 6, h.Frames)
	require.Equal(t, 1, out.Thumb.Frames, "the thumbnail is a still")
	require.NotContains(t, testimages.WebPChunks(out.Thumb.Data), "ANIM")

	// Over the budget (the service decides): the first frame only.
	j.Animate, j.MaxDecodedPixels = false, j.Header.DecodedPixels(1)
	out, err = p.Process(context.Background(), j)
	require.NoError(t, err)
	require.Equal(t, 1, out.Image.Frames)
	require.NotContains(t, testimages.WebPChunks(out.Image.Data), "ANIM")
	decode(t, out.Image, media.WebP)

	// Animating costs the pixels of every frame: libvips' own count is
	// checked against the budget too.
	j.Animate, j.MaxDecodedPixels = true, j.Header.DecodedPixels(6)-1
	_, err = p.Process(context.Background(), j)
	require.ErrorIs(t, err, media.ErrTooBig)
}

func TestProcessWebPInput(t *testing.T) {
	p := newProcessor(t)
	// A real WebP, as libvips encodes one.
	first, err := p.Process(context.Background(), job(t, testimages.JPEG(testimages.Photo(800, 600, 4), 90), media.WebP))
	require.NoError(t, err)
	out, err := p.Process(context.Background(), job(t, first.Image.Data, media.JPEG))
	require.NoError(t, err)
	require.Equal(t, [2]int{800, 600}, [2]int{out.Image.Width, out.Image.Height})
	decode(t, out.Image, media.JPEG)
}

func TestProcessRejectsBadInput(t *testing.T) {
	p := newProcessor(t)
	good := testimages.JPEG(testimages.Photo(640, 480, 5), 90)
	truncated := job(t, good, media.WebP)
	truncated.Src = good[:len(good)*2/3]
	_, err := p.Process(context.Background(), truncated)
	require.ErrorIs(t, err, media.ErrCorrupt, "a truncated JPEG fails to decode")

	truncPNG := testimages.PNG(testimages.Photo(640, 480, 6))
	j := job(t, truncPNG, media.WebP)
	j.Src = truncPNG[:len(truncPNG)/2]
	_, err = p.Process(context.Background(), j)
	require.ErrorIs(t, err, media.ErrCorrupt, "a truncated PNG fails to decode")

	// A header that lies to Parley's parser is caught by libvips' own
	// reading: a bomb handed over with a small image's header.
	bomb := job(t, good, media.WebP)
	bomb.Src = testimages.JPEGBomb(60000, 60000)
	_, err = p.Process(context.Background(), bomb)
	require.ErrorIs(t, err, media.ErrTooBig)

	// The sniffed format must match the header the job names.
	mismatch := job(t, good, media.WebP)
	mismatch.Src = testimages.AlphaPNG(10, 10)
	_, err = p.Process(context.Background(), mismatch)
	require.ErrorIs(t, err, media.ErrUnsupported)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Process(cancelled, job(t, good, media.WebP))
	require.ErrorIs(t, err, context.Canceled)
}

// libvips itself, without Parley's sniffing in front, refuses the loaders
// a hostile upload would aim at, and still loads the four.
func TestUntrustedLoadersBlocked(t *testing.T) {
	newProcessor(t)
	blocked := map[string][]byte{
		"svg":    []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`),
		"pdf":    []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"),
		"ppm":    []byte("P6\n2 2\n255\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		"magick": []byte("BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\x00"),
		"tiff":   []byte("II*\x00\x08\x00\x00\x00\x00\x00"),
	}
	for name, b := range blocked {
		t.Run(name, func(t *testing.T) {
			require.Error(t, vips.Probe(b), "libvips must not load %s", name)
			require.Equal(t, media.FormatUnknown, media.Sniff(b), "and Parley does not let it through")
		})
	}
	allowed := map[string][]byte{
		"jpeg": testimages.JPEG(testimages.Photo(8, 8, 1), 80),
		"png":  testimages.AlphaPNG(8, 8),
		"gif":  testimages.AnimatedGIF(8, 8, 2),
	}
	for name, b := range allowed {
		require.NoError(t, vips.Probe(b), name)
	}
}

// An empty job is an error, before libvips sees it.
func TestProcessEmpty(t *testing.T) {
	p := newProcessor(t)
	_, err := p.Process(context.Background(), media.Job{})
	require.ErrorIs(t, err, media.ErrEmpty)
}

func TestStripWebP(t *testing.T) {
	// An extended WebP with metadata chunks, as libvips 8.14.1 writes one.
	vp8x := []byte{'V', 'P', '8', 'X', 10, 0, 0, 0, 0x2C, 0, 0, 0, 9, 0, 0, 9, 0, 0}
	chunk := func(id string, data string) []byte {
		n := len(data)
		b := append([]byte(id), byte(n), byte(n>>8), 0, 0)
		b = append(b, data...)
		if n%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	body := slices.Concat(vp8x, chunk("ICCP", "icc"), chunk("VP8 ", "pixels"), chunk("EXIF", "GPS here"), chunk("XMP ", "<x/>"))
	n := len(body) + 4
	in := slices.Concat([]byte("RIFF"), []byte{byte(n), byte(n >> 8), 0, 0}, []byte("WEBP"), body)
	out, err := vips.StripWebP(in)
	require.NoError(t, err)
	require.Equal(t, []string{"VP8X", "VP8 "}, testimages.WebPChunks(out))
	require.Equal(t, byte(0), out[20]&0x2C, "ICC, EXIF and XMP flags cleared")
	require.Equal(t, len(out)-8, int(out[4])|int(out[5])<<8)

	_, err = vips.StripWebP([]byte("not a webp at all, really"))
	require.Error(t, err)
}
