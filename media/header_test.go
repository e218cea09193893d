package media_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/testimages"
	"github.com/parley-chat/parley/media"
)

func TestReadHeader(t *testing.T) {
	jpg := testimages.JPEGWithEXIF(testimages.Photo(400, 200, 1), testimages.Rotate90CW, testimages.Berlin)
	png := testimages.AlphaPNG(300, 120)
	gif := testimages.AnimatedGIF(64, 48, 5)
	tests := []struct {
		name string
		b    []byte
		want media.Header
		err  error
	}{
		{"jpeg with exif (stored size, before rotation)", jpg, media.Header{Format: media.JPEG, Width: 400, Height: 200, Frames: 1, Channels: 3, BitDepth: 8}, nil},
		{"progressive-size png", png, media.Header{Format: media.PNG, Width: 300, Height: 120, Frames: 1, Channels: 4, BitDepth: 8}, nil},
		{"animated gif", gif, media.Header{Format: media.GIF, Width: 64, Height: 48, Frames: 5, MaxFrameWidth: 64, MaxFrameHeight: 48}, nil},
		{"png bomb", testimages.PNGBomb(60000, 60000), media.Header{Format: media.PNG, Width: 60000, Height: 60000, Frames: 1, Channels: 1, BitDepth: 8}, nil},
		{"jpeg bomb", testimages.JPEGBomb(65000, 65000), media.Header{Format: media.JPEG, Width: 65000, Height: 65000, Frames: 1, Channels: 3, BitDepth: 8}, nil},
		{"gif bomb", testimages.GIFBomb(65535, 65535), media.Header{Format: media.GIF, Width: 65535, Height: 65535, Frames: 1, MaxFrameWidth: 8, MaxFrameHeight: 8}, nil},
		{"gif whose first frame lies outside its screen (the canvas grows, as in libnsgif)", testimages.GIFFrameOffset(5000, 5000),
			media.Header{Format: media.GIF, Width: 5001, Height: 5001, Frames: 1, MaxFrameWidth: 1, MaxFrameHeight: 1}, nil},
		{"progressive 4:4:4 jpeg: coefficient buffers", testimages.ProgressiveJPEGBomb(7000, 7000),
			media.Header{Format: media.JPEG, Width: 7000, Height: 7000, Frames: 1, Progressive: true, Channels: 3, BitDepth: 8, BufferBytes: 7000 * 7000 * 3 * 2}, nil},
		{"interlaced 16-bit rgba png: the whole image", testimages.PNGBombOf(7000, 7000, 16, 6, true),
			media.Header{Format: media.PNG, Width: 7000, Height: 7000, Frames: 1, Progressive: true, Channels: 4, BitDepth: 16, BufferBytes: 7000 * 7000 * 4 * 2}, nil},
		{"16-bit rgb png", testimages.PNGBombOf(100, 10, 16, 2, false),
			media.Header{Format: media.PNG, Width: 100, Height: 10, Frames: 1, Channels: 3, BitDepth: 16, BufferBytes: 100 * 10 * 3 * 2}, nil},
		{"interlaced palette png", testimages.PNGBombOf(100, 10, 8, 3, true),
			media.Header{Format: media.PNG, Width: 100, Height: 10, Frames: 1, Progressive: true, Channels: 4, BitDepth: 8, BufferBytes: 100 * 10 * 4}, nil},
		{"empty", nil, media.Header{}, media.ErrUnsupported},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), media.Header{}, media.ErrUnsupported},
		{"pdf", []byte("%PDF-1.7\n"), media.Header{}, media.ErrUnsupported},
		{"tiff", []byte("II*\x00\x08\x00\x00\x00"), media.Header{}, media.ErrUnsupported},
		{"bmp", []byte("BM\x3a\x00\x00\x00"), media.Header{}, media.ErrUnsupported},
		{"heic", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"), media.Header{}, media.ErrUnsupported},
		{"jpeg cut before its frame header", jpg[:40], media.Header{}, media.ErrCorrupt},
		{"png cut in IHDR", png[:20], media.Header{}, media.ErrCorrupt},
		{"gif cut in its frame", gif[:len(gif)/2], media.Header{}, media.ErrCorrupt},
		{"png with a bad IHDR checksum", func() []byte { b := append([]byte(nil), png...); b[29] ^= 0xFF; return b }(), media.Header{}, media.ErrCorrupt},
		{"jpeg of zero width", testimages.JPEGBomb(0, 100), media.Header{}, media.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := media.ReadHeader(tt.b)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, h)
		})
	}
}

// The declared type and name play no part: a PNG called issue.jpg and
// sent as image/jpeg is a PNG.
func TestSniffIgnoresNames(t *testing.T) {
	require.Equal(t, media.PNG, media.Sniff(testimages.AlphaPNG(4, 4)))
	require.Equal(t, media.FormatUnknown, media.Sniff([]byte("issue.jpg image/jpeg")))
}

func TestHeaderPixels(t *testing.T) {
	h := media.Header{Width: 100, Height: 50, MaxFrameWidth: 200, MaxFrameHeight: 10, Frames: 3}
	require.Equal(t, int64(5000), h.Pixels())
	require.Equal(t, int64(200*50*3), h.DecodedPixels(3), "a frame wider than the screen counts")
}

// FuzzReadHeader feeds hostile bytes to the sniffing and header parsers:
// they must never panic, and what they accept must be plausible.
func FuzzReadHeader(f *testing.F) {
	for _, b := range [][]byte{
		testimages.JPEGWithEXIF(testimages.Photo(16, 8, 1), testimages.Rotate90CW, testimages.Berlin),
		testimages.AlphaPNG(9, 7),
		testimages.AnimatedGIF(12, 10, 3),
		testimages.PNGBomb(1<<20, 1<<20),
		testimages.GIFBomb(9, 9),
		[]byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x07\xc0\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		[]byte("RIFF\x24\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02\x00\x00\x00\x09\x00\x00\x09\x00\x00ANMF\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x03\x00\x00"),
		{0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x10},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := media.ReadHeader(b)
		if err != nil {
			return
		}
		if h.Format != media.Sniff(b) || h.Format == media.FormatUnknown {
			t.Fatalf("format %v, sniffed %v", h.Format, media.Sniff(b))
		}
		if h.Width <= 0 || h.Height <= 0 || h.Width > 1<<16 || h.Height > 1<<16 || h.Frames < 1 {
			t.Fatalf("implausible header %+v", h)
		}
		if h.DecodedPixels(h.Frames) < h.Pixels() {
			t.Fatalf("decoded pixels below the canvas: %+v", h)
		}
	})
}
