package media

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"sync"

	"github.com/parley-chat/parley/schema"
)

// SeedDemo stores the API document's image, schema.DemoFileID: a photo of
// John's (1920×1080, as the document declares it) that he uploaded and has
// not attached yet, so the document's image message can attach it. It goes
// through the same validation and compression as an upload, never
// expires, and is seeded once: an existing row is kept.
func (s *Service) SeedDemo(ctx context.Context) error {
	var exists bool
	if err := s.cfg.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM files WHERE id = $1)`, schema.DemoFileID).Scan(&exists); err != nil {
		return fmt.Errorf("seed demo image: %w", err)
	}
	if exists {
		return nil
	}
	lim, err := s.limits(ctx, schema.DemoCustomerID)
	if err != nil {
		return fmt.Errorf("seed demo image: %w", err)
	}
	if _, err := s.ingest(ctx, schema.DemoCustomerID, schema.DemoFileID, DemoJPEG(), lim, nil); err != nil {
		return fmt.Errorf("seed demo image: %w", err)
	}
	return nil
}

// DemoJPEG returns the demo photo: a pizza on a wooden table, 1920×1080,
// drawn in code (once). The caller must not modify it.
var DemoJPEG = sync.OnceValue(drawDemo)

func drawDemo() []byte {
	const w, h = 1920, 1080
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	cx, cy := w/2, h/2
	for y := range h {
		for x := range w {
			// Table: warm stripes.
			c := color.RGBA{R: uint8(150 + (x/7+y/40)%40), G: uint8(95 + (x/11)%25), B: 55, A: 255}
			dx, dy := x-cx, y-cy
			d2 := dx*dx + dy*dy
			switch {
			case d2 < 430*430 && d2 >= 380*380: // crust
				c = color.RGBA{R: 214, G: 160, B: 80, A: 255}
			case d2 < 380*380: // cheese and sauce
				c = color.RGBA{R: 238, G: uint8(190 - (d2/2000)%30), B: 90, A: 255}
				for _, p := range [][2]int{{-150, -120}, {120, -160}, {0, 40}, {-190, 150}, {170, 170}, {260, -10}, {-260, -10}} {
					px, py := dx-p[0], dy-p[1]
					if px*px+py*py < 55*55 { // pepperoni
						c = color.RGBA{R: 170, G: 40, B: 35, A: 255}
					}
				}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		panic(err) // writing to memory does not fail
	}
	return buf.Bytes()
}
