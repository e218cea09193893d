package bench

import (
	"fmt"
	"html"
	"strings"
)

// soakSVG draws the soak's series as four stacked panels (RSS, goroutines,
// open files, replication lag), each scaled to its own range, with a
// dashed line at every fault. Four polylines need no plotting library.
func soakSVG(series []SoakPoint) []byte {
	const (
		width, panelH, left, right, top, gap = 720, 110, 70, 20, 24, 30
	)
	panels := []struct {
		title string
		unit  float64
		get   func(SoakPoint) float64
	}{
		{"RSS (MiB)", 1 << 20, func(p SoakPoint) float64 { return p.RSS }},
		{"goroutines", 1, func(p SoakPoint) float64 { return p.Goroutines }},
		{"open files", 1, func(p SoakPoint) float64 { return p.OpenFDs }},
		{"replication lag (KiB)", 1 << 10, func(p SoakPoint) float64 { return p.LagBytes }},
	}
	height := top + len(panels)*(panelH+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="16" font-size="13">parley soak: %d samples; dashed lines: faults</text>`+"\n", left, len(series))
	if len(series) == 0 {
		b.WriteString("</svg>\n")
		return []byte(b.String())
	}
	t0, t1 := series[0].T, series[len(series)-1].T
	if t1 <= t0 {
		t1 = t0 + 1
	}
	plotW := float64(width - left - right)
	x := func(t float64) float64 { return float64(left) + (t-t0)/(t1-t0)*plotW }
	for i, p := range panels {
		y0 := float64(top + i*(panelH+gap) + gap/2)
		lo, hi := p.get(series[0])/p.unit, p.get(series[0])/p.unit
		for _, s := range series {
			v := p.get(s) / p.unit
			lo, hi = min(lo, v), max(hi, v)
		}
		if hi <= lo {
			hi = lo + 1
		}
		y := func(v float64) float64 { return y0 + float64(panelH) - (v-lo)/(hi-lo)*float64(panelH) }
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="none" stroke="#bbb"/>`+"\n", left, y0, plotW, panelH)
		fmt.Fprintf(&b, `<text x="%d" y="%.0f">%s</text>`+"\n", left, y0-4, html.EscapeString(p.title))
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%.4g</text>`+"\n", left-4, y0+10, hi)
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%.4g</text>`+"\n", left-4, y0+float64(panelH), lo)
		for _, s := range series {
			if s.Fault != "" {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#e88" stroke-dasharray="3,3"/>`+"\n",
					x(s.T), y0, x(s.T), y0+float64(panelH))
			}
		}
		b.WriteString(`<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="`)
		for j, s := range series {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(s.T), y(p.get(s)/p.unit))
		}
		b.WriteString("\"/>\n")
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">0 s</text>`+"\n", left, height-4)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%.0f s</text>`+"\n", width-right, height-4, t1)
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
