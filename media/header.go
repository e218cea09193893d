package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Format is an image format Parley accepts. The zero value is unknown.
type Format uint8

// The accepted formats: the four the API document allows. Nothing else
// reaches the decoder.
const (
	FormatUnknown Format = iota
	JPEG
	PNG
	GIF
	WebP
)

// MIME returns the format's media type, "" for FormatUnknown.
func (f Format) MIME() string {
	switch f {
	case JPEG:
		return "image/jpeg"
	case PNG:
		return "image/png"
	case GIF:
		return "image/gif"
	case WebP:
		return "image/webp"
	}
	return ""
}

// Ext returns the format's file extension without the dot.
func (f Format) Ext() string {
	switch f {
	case JPEG:
		return "jpg"
	case PNG:
		return "png"
	case GIF:
		return "gif"
	case WebP:
		return "webp"
	}
	return "bin"
}

func (f Format) String() string {
	if m := f.MIME(); m != "" {
		return m
	}
	return "unknown"
}

// FormatOfMIME returns the format with media type mime, or FormatUnknown.
func FormatOfMIME(mime string) Format {
	for _, f := range []Format{JPEG, PNG, GIF, WebP} {
		if f.MIME() == mime {
			return f
		}
	}
	return FormatUnknown
}

// Header is what an image's header says, read without decoding pixels.
type Header struct {
	Format Format
	Width  int // the canvas: a GIF's logical screen (grown to hold its first frame), a WebP's canvas
	Height int
	// Frames is the number of frames: 1 for stills, more for animated GIF
	// and WebP. An animated PNG counts as its default image (1).
	Frames int
	// MaxFrameWidth and MaxFrameHeight are the largest frame's size, which
	// for GIFs may exceed the logical screen.
	MaxFrameWidth, MaxFrameHeight int
	// Progressive is a progressive JPEG (SOF2, SOF6, SOF10, SOF14) or an
	// interlaced (Adam7) PNG: decoders hold the whole image before the
	// first row comes out.
	Progressive bool
	// Channels is a JPEG's component count or a PNG's samples per pixel
	// (a palette counts as 4: it decodes to RGBA); 0 for GIF and WebP.
	Channels int
	// BitDepth is a JPEG's sample precision or a PNG's bit depth; 0 for
	// GIF and WebP.
	BitDepth int
	// BufferBytes estimates the memory a decoder holds at once beyond
	// streaming rows (see Service's MaxDecodeBytes): a progressive JPEG's
	// coefficient buffers (2 bytes per sample of each component, padded to
	// whole MCUs, chroma subsampling counted), or an interlaced or 16-bit
	// PNG's whole decoded image (width × height × channels × bytes per
	// sample). 0 for images decoded row by row (baseline JPEG, 8-bit
	// non-interlaced PNG), and for GIF and WebP, which the pixel caps bound.
	BufferBytes int64
}

// Pixels is the canvas's pixel count.
func (h Header) Pixels() int64 { return int64(h.Width) * int64(h.Height) }

// DecodedPixels bounds the pixels a decoder allocates for frames frames:
// the canvas or the largest frame, whichever is bigger, per frame.
func (h Header) DecodedPixels(frames int) int64 {
	w, hh := max(h.Width, h.MaxFrameWidth), max(h.Height, h.MaxFrameHeight)
	return int64(w) * int64(hh) * int64(frames)
}

// kind names what makes h need decode buffers, for error messages.
func (h Header) kind() string {
	var k string
	switch {
	case h.Format == JPEG && h.Progressive:
		k = "a progressive JPEG"
	case h.Format == PNG && h.Progressive && h.BitDepth > 8:
		k = "an interlaced 16-bit PNG"
	case h.Format == PNG && h.Progressive:
		k = "an interlaced PNG"
	case h.Format == PNG && h.BitDepth > 8:
		k = "a 16-bit PNG"
	default:
		k = "a " + h.Format.Ext()
	}
	return k
}

// Sniff returns the format the magic bytes at the start of b announce.
// A declared content type or file name plays no part.
func Sniff(b []byte) Format {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return JPEG
	case bytes.HasPrefix(b, pngSignature):
		return PNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return GIF
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP
	}
	return FormatUnknown
}

var pngSignature = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}

// maxSide is the largest width or height any reader accepts: the WebP
// limit, and far beyond every pixel cap.
const maxSide = 1 << 16

// maxGIFFrames bounds the frames ReadHeader counts in a GIF; a file with
// more is answered as having that many, which exceeds every frame budget.
const maxGIFFrames = 1 << 16

// ReadHeader sniffs b's format and reads its dimensions and frame count
// from the header alone, without decoding pixels, so a decompression bomb
// is recognised before any decoder allocates for it. It returns
// ErrUnsupported for anything but JPEG, PNG, GIF and WebP, and ErrCorrupt
// for a header that is truncated or inconsistent.
func ReadHeader(b []byte) (Header, error) {
	var (
		h   Header
		err error
	)
	switch f := Sniff(b); f {
	case JPEG:
		h, err = jpegHeader(b)
	case PNG:
		h, err = pngHeader(b)
	case GIF:
		h, err = gifHeader(b)
	case WebP:
		h, err = webpHeader(b)
	default:
		return Header{}, ErrUnsupported
	}
	if err != nil {
		return Header{}, fmt.Errorf("%w: %s header: %v", ErrCorrupt, Sniff(b).Ext(), err)
	}
	if h.Width <= 0 || h.Height <= 0 || h.Width > maxSide || h.Height > maxSide {
		return Header{}, fmt.Errorf("%w: %s header: bad dimensions %dx%d", ErrCorrupt, h.Format.Ext(), h.Width, h.Height)
	}
	if h.Frames < 1 {
		h.Frames = 1
	}
	return h, nil
}

type headerError string

func (e headerError) Error() string { return string(e) }

const errShort = headerError("truncated")

// jpegHeader walks the marker segments up to the first start-of-frame.
func jpegHeader(b []byte) (Header, error) {
	h := Header{Format: JPEG, Frames: 1}
	i := 2
	for {
		// Markers may be preceded by fill bytes (0xFF).
		if i >= len(b) {
			return h, errShort
		}
		if b[i] != 0xFF {
			return h, headerError(fmt.Sprintf("expected a marker at offset %d", i))
		}
		for i < len(b) && b[i] == 0xFF {
			i++
		}
		if i >= len(b) {
			return h, errShort
		}
		m := b[i]
		i++
		switch {
		case m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			continue // no payload
		case m == 0xD9 || m == 0xDA:
			return h, headerError("no frame header before the image data")
		}
		if i+2 > len(b) {
			return h, errShort
		}
		n := int(binary.BigEndian.Uint16(b[i:]))
		if n < 2 {
			return h, headerError("bad segment length")
		}
		if isSOF(m) {
			if n < 8 || i+8 > len(b) {
				return h, errShort
			}
			h.BitDepth = int(b[i+2])
			h.Height = int(binary.BigEndian.Uint16(b[i+3:]))
			h.Width = int(binary.BigEndian.Uint16(b[i+5:]))
			if h.Height == 0 {
				return h, headerError("height defined later (DNL) is not supported")
			}
			nf := int(b[i+7])
			if nf == 0 || n < 8+3*nf || i+8+3*nf > len(b) {
				return h, headerError("bad frame header components")
			}
			h.Channels = nf
			h.Progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE
			if h.Progressive {
				// libjpeg keeps every DCT coefficient (int16) of the
				// whole image, per component, padded to whole MCUs.
				hmax, vmax := 1, 1
				for c := range nf {
					f := b[i+9+3*c]
					hmax, vmax = max(hmax, int(f>>4)), max(vmax, int(f&0x0F))
				}
				mcuW := (h.Width + 8*hmax - 1) / (8 * hmax)
				mcuH := (h.Height + 8*vmax - 1) / (8 * vmax)
				for c := range nf {
					f := b[i+9+3*c]
					hs, vs := max(1, int(f>>4)), max(1, int(f&0x0F))
					h.BufferBytes += int64(mcuW*hs*8) * int64(mcuH*vs*8) * 2
				}
			}
			return h, nil
		}
		i += n
	}
}

// isSOF reports whether m is a start-of-frame marker (SOF0–SOF15 except
// DHT, JPG and DAC, which share the range).
func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

// pngHeader reads IHDR, which must be the first chunk, and checks its CRC.
func pngHeader(b []byte) (Header, error) {
	h := Header{Format: PNG, Frames: 1}
	const ihdr = 8 + 8 + 13 + 4 // signature, length+type, data, crc
	if len(b) < ihdr {
		return h, errShort
	}
	if binary.BigEndian.Uint32(b[8:]) != 13 || string(b[12:16]) != "IHDR" {
		return h, headerError("IHDR is not the first chunk")
	}
	if crc32.ChecksumIEEE(b[12:29]) != binary.BigEndian.Uint32(b[29:]) {
		return h, headerError("IHDR checksum mismatch")
	}
	w, hh := binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:])
	if w > maxSide || hh > maxSide {
		return h, headerError(fmt.Sprintf("dimensions %dx%d beyond any limit", w, hh))
	}
	h.Width, h.Height = int(w), int(hh)
	depth, colorType, interlace := b[24], b[25], b[28]
	h.BitDepth, h.Progressive = int(depth), interlace != 0
	switch colorType {
	case 0: // greyscale
		h.Channels = 1
	case 2: // RGB
		h.Channels = 3
	case 3: // palette: decoded to RGB or RGBA
		h.Channels = 4
	case 4: // greyscale and alpha
		h.Channels = 2
	case 6: // RGBA
		h.Channels = 4
	default:
		return h, headerError(fmt.Sprintf("bad colour type %d", colorType))
	}
	if h.Progressive || depth > 8 {
		// Adam7 needs the whole image before the first row is complete;
		// 16-bit samples are held (and converted) at twice the size.
		h.BufferBytes = h.Pixels() * int64(h.Channels) * int64(max(1, int(depth)/8))
	}
	return h, nil
}

// gifHeader reads the logical screen and walks the blocks to count frames
// and find the largest one.
func gifHeader(b []byte) (Header, error) {
	h := Header{Format: GIF}
	if len(b) < 13 {
		return h, errShort
	}
	h.Width = int(binary.LittleEndian.Uint16(b[6:]))
	h.Height = int(binary.LittleEndian.Uint16(b[8:]))
	i := 13
	if flags := b[10]; flags&0x80 != 0 {
		i += 3 << (flags&0x07 + 1) // global colour table
	}
	skipSubBlocks := func() error {
		for {
			if i >= len(b) {
				return errShort
			}
			n := int(b[i])
			i++
			if n == 0 {
				return nil
			}
			i += n
		}
	}
	for {
		if i >= len(b) {
			break // no trailer: decoders accept what came before
		}
		switch b[i] {
		case 0x3B: // trailer
			i = len(b)
		case 0x21: // extension: label, then data sub-blocks
			i += 2
			if err := skipSubBlocks(); err != nil {
				return h, err
			}
		case 0x2C: // image descriptor
			if i+10 > len(b) {
				return h, errShort
			}
			left := int(binary.LittleEndian.Uint16(b[i+1:]))
			top := int(binary.LittleEndian.Uint16(b[i+3:]))
			fw := int(binary.LittleEndian.Uint16(b[i+5:]))
			fh := int(binary.LittleEndian.Uint16(b[i+7:]))
			if h.Frames == 0 {
				// libnsgif (libvips' GIF loader) grows the canvas to
				// hold the first frame at its offset: so does the
				// header, or a 1×1 screen with a frame at (5000,5000)
				// would pass as 1×1 and decode as 5001×5001.
				h.Width, h.Height = max(h.Width, left+fw), max(h.Height, top+fh)
			}
			flags := b[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (flags&0x07 + 1) // local colour table
			}
			i++ // LZW minimum code size
			if err := skipSubBlocks(); err != nil {
				return h, err // a truncated frame
			}
			h.Frames++
			h.MaxFrameWidth, h.MaxFrameHeight = max(h.MaxFrameWidth, fw), max(h.MaxFrameHeight, fh)
			if h.Frames >= maxGIFFrames {
				return h, nil
			}
		default:
			return h, headerError(fmt.Sprintf("unknown block 0x%02x at offset %d", b[i], i))
		}
	}
	if h.Frames == 0 {
		return h, headerError("no image")
	}
	return h, nil
}

// webpHeader reads the first chunk (VP8, VP8L or VP8X) and, for animated
// files, counts the ANMF chunks.
func webpHeader(b []byte) (Header, error) {
	h := Header{Format: WebP, Frames: 1}
	if len(b) < 30 {
		return h, errShort
	}
	riff := int64(binary.LittleEndian.Uint32(b[4:]))
	if riff < 4 || riff+8 > int64(len(b))+(1<<20) {
		// Declared far beyond what was sent (a little slack: some
		// writers round the size up).
		return h, headerError("RIFF size beyond the data")
	}
	chunk, data := string(b[12:16]), b[20:]
	switch chunk {
	case "VP8 ":
		// Frame tag (3 bytes), start code 9D 01 2A, then 14-bit sizes.
		if data[3] != 0x9D || data[4] != 0x01 || data[5] != 0x2A {
			return h, headerError("bad VP8 start code")
		}
		h.Width = int(binary.LittleEndian.Uint16(data[6:]) & 0x3FFF)
		h.Height = int(binary.LittleEndian.Uint16(data[8:]) & 0x3FFF)
	case "VP8L":
		if data[0] != 0x2F {
			return h, headerError("bad VP8L signature")
		}
		v := binary.LittleEndian.Uint32(data[1:])
		h.Width = int(v&0x3FFF) + 1
		h.Height = int(v>>14&0x3FFF) + 1
	case "VP8X":
		flags := data[0]
		h.Width = int(uint32(data[4])|uint32(data[5])<<8|uint32(data[6])<<16) + 1
		h.Height = int(uint32(data[7])|uint32(data[8])<<8|uint32(data[9])<<16) + 1
		if flags&0x02 != 0 { // animation
			frames, fw, fh, err := webpFrames(b)
			if err != nil {
				return h, err
			}
			h.Frames, h.MaxFrameWidth, h.MaxFrameHeight = frames, fw, fh
		}
	default:
		return h, headerError(fmt.Sprintf("unknown first chunk %q", chunk))
	}
	return h, nil
}

// webpFrames counts the ANMF chunks of an animated WebP and finds the
// largest frame.
func webpFrames(b []byte) (frames, maxW, maxH int, err error) {
	for i := 12; i+8 <= len(b); {
		id := string(b[i : i+4])
		n := int64(binary.LittleEndian.Uint32(b[i+4:]))
		if id == "ANMF" {
			if i+8+16 > len(b) {
				return 0, 0, 0, errShort
			}
			d := b[i+8:]
			fw := int(uint32(d[6])|uint32(d[7])<<8|uint32(d[8])<<16) + 1
			fh := int(uint32(d[9])|uint32(d[10])<<8|uint32(d[11])<<16) + 1
			frames++
			maxW, maxH = max(maxW, fw), max(maxH, fh)
			if frames >= maxGIFFrames {
				break
			}
		}
		next := int64(i) + 8 + n + n&1 // chunks are padded to even sizes
		if next > int64(len(b)) {
			break
		}
		i = int(next)
	}
	if frames == 0 {
		return 0, 0, 0, headerError("animated without frames")
	}
	return frames, maxW, maxH, nil
}
