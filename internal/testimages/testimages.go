// Package testimages generates real image files for the media tests and
// benchmarks: JPEGs with EXIF orientation and GPS, PNGs with alpha,
// animated GIFs, photo-like 12-megapixel inputs, and hostile files
// (decompression bombs, truncations, a PNG named like a JPEG). Everything
// is encoded with the standard library, so the bytes are what real
// encoders write; WebP inputs come from the processor under test itself.
//
// # Concurrency model
//
// Functions are pure and safe for concurrent use.
package testimages

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
)

// Photo draws a w×h photo-like image: smooth gradients with a little
// noise, so encoders produce realistic sizes. seed varies the noise.
func Photo(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, 1))
	for y := range h {
		for x := range w {
			n := uint8(r.IntN(8))
			i := img.PixOffset(x, y)
			img.Pix[i+0] = uint8(60+x*150/w) + n
			img.Pix[i+1] = uint8(40+y*160/h) + n
			img.Pix[i+2] = uint8(90+((x+y)*80)/(w+h)) + n
			img.Pix[i+3] = 255
		}
	}
	return img
}

// Textured draws a w×h image with the detail of a real photo: gradients,
// fine stripes and strong noise. A 12-megapixel one is about 5 MB as a
// JPEG of quality 90, as phone photos are. seed varies the noise.
func Textured(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, 3))
	for y := range h {
		for x := range w {
			n := r.IntN(28)
			stripe := ((x/3 + y/5) % 7) * 4
			i := img.PixOffset(x, y)
			img.Pix[i+0] = uint8(min(255, 40+x*140/w+n+stripe))
			img.Pix[i+1] = uint8(min(255, 30+y*150/h+n))
			img.Pix[i+2] = uint8(min(255, 70+((x+y)*90)/(w+h)+n-stripe/2))
			img.Pix[i+3] = 255
		}
	}
	return img
}

// Noise draws a w×h image of random pixels: the worst case for encoders,
// and a way to make big files.
func Noise(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, 2))
	for i := 0; i < len(img.Pix); i += 4 {
		v := r.Uint32()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(v), uint8(v>>8), uint8(v>>16), 255
	}
	return img
}

// Orientation is the EXIF orientation tag's value that JPEG writes.
type Orientation uint16

// Orientations: 1 is as stored; 6 means the stored image must be rotated
// 90° clockwise to display (a phone held upright).
const (
	Upright    Orientation = 1
	Rotate90CW Orientation = 6
)

// JPEG encodes img at quality q.
func JPEG(img image.Image, q int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// GPS is a position written into EXIF.
type GPS struct {
	LatDeg, LatMin, LatSec uint32 // north
	LonDeg, LonMin, LonSec uint32 // east
}

// Berlin is a recognisable position for the tests.
var Berlin = GPS{52, 31, 12, 13, 24, 18}

// JPEGWithEXIF encodes img as a JPEG carrying an EXIF segment with the
// orientation and GPS position, as a phone camera writes them (the camera
// model "ParleyCam" is in it too, to look for).
func JPEGWithEXIF(img image.Image, o Orientation, gps GPS) []byte {
	plain := JPEG(img, 90)
	app1 := exifSegment(o, gps)
	out := make([]byte, 0, len(plain)+len(app1))
	out = append(out, plain[:2]...) // SOI
	out = append(out, app1...)
	return append(out, plain[2:]...)
}

// exifSegment builds an APP1 Exif segment: IFD0 with Make, Orientation and
// a GPS IFD pointer; the GPS IFD with latitude and longitude.
func exifSegment(o Orientation, g GPS) []byte {
	le := binary.LittleEndian
	var t []byte // the TIFF structure; offsets are relative to its start
	u16 := func(v uint16) { t = le.AppendUint16(t, v) }
	u32 := func(v uint32) { t = le.AppendUint32(t, v) }
	entry := func(tag, typ uint16, count, value uint32) { u16(tag); u16(typ); u32(count); u32(value) }
	const (
		ascii    = 2
		short    = 3
		long     = 4
		rational = 5
	)
	make_ := []byte("ParleyCam\x00")
	// Layout: header (8), IFD0 (2 + 3×12 + 4 = 42) at 8, make string at 50,
	// GPS IFD (2 + 4×12 + 4 = 54) at 60, latitude (24) at 114, longitude
	// (24) at 138.
	const ifd0, makeAt, gpsAt, latAt, lonAt = 8, 50, 60, 114, 138
	t = append(t, 'I', 'I')
	u16(42)
	u32(ifd0)
	u16(3)
	entry(0x010F, ascii, uint32(len(make_)), makeAt) // Make
	entry(0x0112, short, 1, uint32(o))               // Orientation (value in the low bytes)
	entry(0x8825, long, 1, gpsAt)                    // GPSInfo
	u32(0)
	t = append(t, make_...)
	u16(4)
	entry(0x0001, ascii, 2, uint32('N')) // GPSLatitudeRef
	entry(0x0002, rational, 3, latAt)    // GPSLatitude
	entry(0x0003, ascii, 2, uint32('E')) // GPSLongitudeRef
	entry(0x0004, rational, 3, lonAt)    // GPSLongitude
	u32(0)
	for _, v := range []uint32{g.LatDeg, g.LatMin, g.LatSec, g.LonDeg, g.LonMin, g.LonSec} {
		u32(v)
		u32(1)
	}
	payload := append([]byte("Exif\x00\x00"), t...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

// PNG encodes img.
func PNG(img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// AlphaPNG is a w×h PNG whose left half is fully transparent and right
// half opaque red.
func AlphaPNG(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := w / 2; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{R: 220, G: 30, B: 30, A: 255})
		}
	}
	return PNG(img)
}

// AnimatedGIF is a w×h GIF of frames frames, a square moving across.
func AnimatedGIF(w, h, frames int) []byte {
	g := &gif.GIF{LoopCount: 0}
	for f := range frames {
		img := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{R: 240, G: 240, B: 240, A: 255}}, image.Point{}, draw.Src)
		side := max(1, min(w, h)/4)
		x := (f * (w - side)) / max(1, frames-1)
		draw.Draw(img, image.Rect(x, h/2-side/2, x+side, h/2+side/2), &image.Uniform{color.RGBA{R: 20, G: 90, B: 200, A: 255}}, image.Point{}, draw.Src)
		g.Image = append(g.Image, img)
		g.Delay = append(g.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// PNGBomb is a tiny, valid-looking PNG that declares w×h pixels: its IHDR
// (with a correct checksum) and a one-row IDAT, so only the header tells
// how big it claims to be.
func PNGBomb(w, h uint32) []byte { return PNGBombOf(w, h, 8, 0, false) }

// PNGBombOf is PNGBomb with the IHDR's bit depth, colour type and
// interlace method set: only its header is meant to be read.
func PNGBombOf(w, h uint32, depth, colorType byte, interlaced bool) []byte {
	var out bytes.Buffer
	out.Write([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'})
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		out.Write(n[:])
		body := append([]byte(typ), data...)
		out.Write(body)
		binary.BigEndian.PutUint32(n[:], crc32.ChecksumIEEE(body))
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, colorType
	if interlaced {
		ihdr[12] = 1 // Adam7
	}
	chunk("IHDR", ihdr)
	// A zlib stream of zeros compresses 1000:1: the rest is "all black".
	chunk("IDAT", []byte{0x78, 0x9C, 0x63, 0x60, 0x18, 0x05, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return out.Bytes()
}

// JPEGBomb is a small JPEG whose frame header is rewritten to declare w×h
// (at most 65535 each).
func JPEGBomb(w, h uint16) []byte {
	b := JPEG(Photo(16, 16, 1), 80)
	for i := 2; i+9 < len(b); {
		if b[i] != 0xFF {
			break
		}
		m, n := b[i+1], int(binary.BigEndian.Uint16(b[i+2:]))
		if m == 0xC0 || m == 0xC2 {
			binary.BigEndian.PutUint16(b[i+5:], h)
			binary.BigEndian.PutUint16(b[i+7:], w)
			return b
		}
		i += 2 + n
	}
	panic("testimages: no SOF in the encoded JPEG")
}

// GIFBomb is a small GIF whose logical screen and frame declare w×h.
func GIFBomb(w, h uint16) []byte {
	b := AnimatedGIF(8, 8, 1)
	binary.LittleEndian.PutUint16(b[6:], w)
	binary.LittleEndian.PutUint16(b[8:], h)
	return b
}

// MetadataBlocks lists the metadata containers in an encoded JPEG or WebP:
// JPEG APPn segments other than JFIF (APP1 Exif or XMP, APP2 ICC, APP13
// IPTC) and comments; WebP EXIF, XMP and ICCP chunks. A stripped image has
// none.
func MetadataBlocks(b []byte) []string {
	var out []string
	switch {
	case len(b) > 4 && b[0] == 0xFF && b[1] == 0xD8:
		for i := 2; i+4 <= len(b) && b[i] == 0xFF; {
			m := b[i+1]
			if m == 0xDA || m == 0xD9 { // image data: no more headers
				break
			}
			n := int(binary.BigEndian.Uint16(b[i+2:]))
			payload := b[i+4 : min(len(b), i+2+n)]
			switch {
			case m == 0xE0 && bytes.HasPrefix(payload, []byte("JFIF")):
			case m >= 0xE0 && m <= 0xEF:
				out = append(out, "APP"+string(rune('0'+int(m-0xE0)%10))+":"+string(payload[:min(len(payload), 4)]))
			case m == 0xFE:
				out = append(out, "COM")
			}
			i += 2 + n
		}
	case len(b) > 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		for i := 12; i+8 <= len(b); {
			id := string(b[i : i+4])
			if id == "EXIF" || id == "XMP " || id == "ICCP" {
				out = append(out, id)
			}
			n := int(binary.LittleEndian.Uint32(b[i+4:]))
			i += 8 + n + n&1
		}
	}
	return out
}

// WebPChunks lists a WebP's chunk ids in order.
func WebPChunks(b []byte) []string {
	var out []string
	for i := 12; i+8 <= len(b); {
		out = append(out, string(b[i:i+4]))
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		i += 8 + n + n&1
	}
	return out
}

// GIFFrameOffset is a 35-byte GIF with a 1×1 logical screen and one 1×1
// frame at (left, top): libnsgif (libvips' GIF loader) grows the canvas
// to hold the first frame, so it decodes as (left+1)×(top+1).
func GIFFrameOffset(left, top uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = append(b, 0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF) // a 2-colour global table
	b = append(b, 0x2C)
	b = binary.LittleEndian.AppendUint16(b, left)
	b = binary.LittleEndian.AppendUint16(b, top)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = append(b, 0, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B) // flags, LZW, data, trailer
	return b
}

// ProgressiveJPEGBomb is JPEGBomb with its frame header turned into a
// progressive one (SOF2) without chroma subsampling (4:4:4): only its
// header is meant to be read.
func ProgressiveJPEGBomb(w, h uint16) []byte {
	b := JPEGBomb(w, h)
	for i := 2; i+9 < len(b); {
		m, n := b[i+1], int(binary.BigEndian.Uint16(b[i+2:]))
		if m == 0xC0 || m == 0xC2 {
			b[i+1] = 0xC2
			for c := range int(b[i+9]) {
				b[i+11+3*c] = 0x11
			}
			return b
		}
		i += 2 + n
	}
	panic("testimages: no SOF in the encoded JPEG")
}
