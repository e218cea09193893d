package vips

import (
	"encoding/binary"
	"errors"
)

// VP8X flags of the metadata chunks.
const (
	webpFlagICC  = 0x20
	webpFlagEXIF = 0x08
	webpFlagXMP  = 0x04
)

// stripWebP removes the EXIF, XMP and ICCP chunks from an extended WebP
// and clears their VP8X flags. libvips 8.14.1's webpsave writes a (fresh,
// minimal) EXIF chunk even when told to strip; the stored image must carry
// none. A simple-format WebP has no metadata and is returned as is.
func stripWebP(b []byte) ([]byte, error) {
	if len(b) < 20 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil, errors.New("vips: encoder wrote no WebP")
	}
	if string(b[12:16]) != "VP8X" {
		return b, nil
	}
	out := make([]byte, 12, len(b))
	copy(out, b[:12])
	for i := 12; i < len(b); {
		if i+8 > len(b) {
			return nil, errors.New("vips: truncated WebP chunk")
		}
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		end := i + 8 + n + n&1
		if n < 0 || end > len(b) {
			if end-len(b) == 1 && n&1 == 1 { // an unpadded last chunk
				end = len(b)
			} else {
				return nil, errors.New("vips: truncated WebP chunk")
			}
		}
		switch string(b[i : i+4]) {
		case "EXIF", "XMP ", "ICCP":
		default:
			out = append(out, b[i:end]...)
		}
		i = end
	}
	out[20] &^= webpFlagICC | webpFlagEXIF | webpFlagXMP // VP8X flags: its payload's first byte
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out, nil
}
