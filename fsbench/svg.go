package fsbench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// opStyle is how the chart draws and names each operation.
var opStyle = map[string]struct{ color, label string }{
	OpLookup:   {"#1f77b4", "lookup, existing name"},
	OpMissing:  {"#d62728", "lookup, missing name"},
	OpOpenRead: {"#2ca02c", "open + read small file"},
	OpCreate:   {"#ff7f0e", "create (mkdir)"},
	OpRemove:   {"#9467bd", "remove (rmdir)"},
	OpList:     {"#8c564b", "full listing, per entry"},
}

// SVG draws the lookup sweep of r: the median latency of each operation
// against the number of entries in the directory, both on log scales, one
// line per operation, with the knee marked. It needs no fonts or scripts
// beyond what any browser has.
func SVG(r *Result) string {
	const (
		width, height            = 900, 600
		left, right, top, bottom = 90, 230, 60, 80
	)
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	title := fmt.Sprintf("Directory operations: median latency by directory size (%s cache)", r.Cache)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="44" fill="#555">%s</text>`+"\n", left, html.EscapeString(chartSubtitle(r)))
	if len(r.Sizes) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no directory sizes were measured</text></svg>`+"\n", left, top+40)
		return b.String()
	}

	// Latency: widened to whole decades so the grid lines fall on 10^k.
	xmin, xmax := float64(r.Sizes[0].Entries), float64(r.Sizes[len(r.Sizes)-1].Entries)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range r.Sizes {
		for _, op := range Ops {
			if v := float64(s.Ops[op].P50ns); v > 0 {
				ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
			}
		}
	}
	if math.IsInf(ymin, 1) {
		ymin, ymax = 1, 10
	}
	// Entries: the measured range with a little room on either side.
	lx0, lx1 := math.Log10(xmin), math.Log10(xmax)
	if lx1-lx0 < 0.5 {
		lx0, lx1 = lx0-0.25, lx1+0.25
	}
	pad := (lx1 - lx0) * 0.04
	lx0, lx1 = lx0-pad, lx1+pad
	ly0, ly1 := math.Floor(math.Log10(ymin/1.15)), math.Ceil(math.Log10(ymax*1.15)) // no point on the frame
	if ly1 == ly0 {
		ly1++
	}
	px := func(x float64) float64 { return float64(left) + (math.Log10(x)-lx0)/(lx1-lx0)*pw }
	py := func(y float64) float64 { return float64(top) + ph - (math.Log10(y)-ly0)/(ly1-ly0)*ph }

	// Grid: a line at every decade of latency, lighter lines at 2x and 5x.
	for d := ly0; d <= ly1; d++ {
		y := py(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#bbb"/>`+"\n", left, y, float64(left)+pw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-8, y, FormatNs(int64(math.Pow(10, d))))
		for _, m := range []float64{2, 5} {
			if d < ly1 {
				y := py(m * math.Pow(10, d))
				fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/>`+"\n", left, y, float64(left)+pw, y)
			}
		}
	}
	// Ticks at the sizes measured.
	for _, s := range r.Sizes {
		x := px(float64(s.Entries))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.0f" stroke="#ddd"/>`+"\n", x, top, x, float64(top)+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x, float64(top)+ph+18, fmtCount(s.Entries))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">entries in the directory (log scale)</text>`+"\n", float64(left)+pw/2, height-30)
	fmt.Fprintf(&b, `<text transform="translate(22 %.0f) rotate(-90)" text-anchor="middle">time per operation, median (log scale)</text>`+"\n", float64(top)+ph/2)

	// The knee, or the hard limit, as a dashed vertical line.
	if k := r.Knee; k != nil && k.Found {
		x := px(float64(k.MaxEntries))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.0f" stroke="#d62728" stroke-dasharray="6 4"/>`+"\n", x, top, x, float64(top)+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#d62728">knee: keep directories under %s entries</text>`+"\n", x+4, top+16, fmtCount(k.MaxEntries))
	}

	if l := r.DirLimit; l != nil {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end" fill="#555">the directory took no more than %s subdirectories (EMLINK)</text>`+"\n", float64(left)+pw-6, float64(top)+ph-8, fmtCount(l.Entries))
	}

	// One line per operation, and the legend.
	for i, op := range Ops {
		st := opStyle[op]
		var pts []string
		for _, s := range r.Sizes {
			if v := s.Ops[op].P50ns; v > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(float64(s.Entries)), py(float64(v))))
			}
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline class="op" data-op="%s" fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`+"\n", op, st.color, strings.Join(pts, " "))
			for _, p := range pts {
				xy := strings.Split(p, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", xy[0], xy[1], st.color)
			}
		}
		ly := top + 10 + i*24
		lx := width - right + 20
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, ly, lx+26, ly, st.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", lx+32, ly, html.EscapeString(st.label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// chartSubtitle names the directory, the filesystem and the run.
func chartSubtitle(r *Result) string {
	s := r.Dir
	if fs := r.fsLabel(); fs != "" {
		s += " (" + fs + ")"
	}
	return fmt.Sprintf("%s, %d repetitions, %s", s, r.Settings.Reps, r.Started)
}

// fmtCount prints 1000 as 1k and 1500000 as 1.5M.
func fmtCount(n int) string {
	switch {
	case n >= 1e6 && n%1e5 == 0:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/1e6), ".0") + "M"
	case n >= 1e3 && n%100 == 0:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/1e3), ".0") + "k"
	}
	return fmt.Sprint(n)
}
