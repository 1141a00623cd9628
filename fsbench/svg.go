package fsbench

// SVG draws the lookup sweep as a chart; filled in below.
func SVG(r *Result) string { return "" }
