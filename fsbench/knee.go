package fsbench

import (
	"fmt"
	"math"
)

// Knee is where a directory becomes slow on this filesystem: the smallest
// measured size at which looking a name up costs more than Factor times
// what it costs in the smallest directory measured, and from it the
// recommended maximum number of entries per directory.
type Knee struct {
	Found           bool    `json:"found"`
	Factor          float64 `json:"factor"`
	BaselineEntries int     `json:"baseline_entries"`
	// Entries is the smallest size past the factor (0 when none is).
	Entries int `json:"entries,omitempty"`
	// Op is the lookup whose cost crossed the factor first.
	Op    string  `json:"op,omitempty"`
	Ratio float64 `json:"ratio,omitempty"`
	// MaxEntries is the recommended maximum of entries per directory:
	// where the cost crosses the factor, interpolated between the two
	// sizes around the crossing; without a knee, the largest size measured.
	MaxEntries int         `json:"max_entries_per_dir"`
	Points     []KneePoint `json:"points"`
	Evidence   string      `json:"evidence"`
}

// KneePoint is the cost of both lookups at one size, relative to the
// smallest size.
type KneePoint struct {
	Entries      int     `json:"entries"`
	LookupNs     int64   `json:"lookup_p50_ns"`
	MissingNs    int64   `json:"lookup_missing_p50_ns"`
	LookupRatio  float64 `json:"lookup_ratio"`
	MissingRatio float64 `json:"lookup_missing_ratio"`
}

// kneeOps are the operations the knee is judged on. A lookup of a name
// the kernel has not cached must search the directory itself, so its cost
// is the filesystem's; every delivery to a new account, every account
// creation and every lookup after the dentry cache was trimmed pays it.
// Lookups of cached names are reported, but measure the dentry cache.
var kneeOps = []string{OpMissing}

// FindKnee applies the knee rule to a sweep's sizes (ascending). It
// returns nil when there are no sizes.
func FindKnee(sizes []SizeResult, factor float64) *Knee {
	if len(sizes) == 0 {
		return nil
	}
	base := sizes[0]
	k := &Knee{Factor: factor, BaselineEntries: base.Entries}
	ratio := func(s SizeResult, op string) float64 {
		b := base.Ops[op].P50ns
		if b <= 0 {
			return 1
		}
		return float64(s.Ops[op].P50ns) / float64(b)
	}
	worst := func(s SizeResult) (float64, string) {
		r, op := 0.0, ""
		for _, o := range kneeOps {
			if x := ratio(s, o); x > r {
				r, op = x, o
			}
		}
		return r, op
	}
	for _, s := range sizes {
		k.Points = append(k.Points, KneePoint{
			Entries:      s.Entries,
			LookupNs:     s.Ops[OpLookup].P50ns,
			MissingNs:    s.Ops[OpMissing].P50ns,
			LookupRatio:  round2(ratio(s, OpLookup)),
			MissingRatio: round2(ratio(s, OpMissing)),
		})
	}
	for i := 1; i < len(sizes); i++ {
		r, op := worst(sizes[i])
		if r <= factor {
			continue
		}
		prev, _ := worst(sizes[i-1])
		lo, hi := float64(sizes[i-1].Entries), float64(sizes[i].Entries)
		at := lo
		if r > prev {
			at = lo + (factor-prev)*(hi-lo)/(r-prev)
		}
		at = math.Max(lo, math.Min(hi, at))
		k.Found, k.Entries, k.Op, k.Ratio = true, sizes[i].Entries, op, round2(r)
		k.MaxEntries = roundDown2(int(at))
		k.Evidence = fmt.Sprintf("%s costs %s at %d entries, %.1f times its %s at %d entries (limit %.0fx); crossing at about %d entries",
			op, FormatNs(sizes[i].Ops[op].P50ns), sizes[i].Entries, r, FormatNs(base.Ops[op].P50ns), base.Entries, factor, k.MaxEntries)
		return k
	}
	last := sizes[len(sizes)-1]
	r, op := worst(last)
	k.MaxEntries = last.Entries
	k.Evidence = fmt.Sprintf("no knee up to %d entries: %s costs %s there, %.1f times its %s at %d entries (limit %.0fx)",
		last.Entries, op, FormatNs(last.Ops[op].P50ns), r, FormatNs(base.Ops[op].P50ns), base.Entries, factor)
	return k
}

// WriterKneeGain is the extra throughput that still counts as growth: a
// writer count is the knee when no larger count tried delivers more than
// this factor of its throughput.
const WriterKneeGain = 1.10

// WriterKnee returns the index of the recommended step in a writer curve
// (ascending writer counts): the smallest count whose throughput no
// larger count beats by more than 10%. Looking at all larger counts, not
// only the next, keeps one noisy dip from ending the curve early. It
// returns -1 for an empty curve.
func WriterKnee(perSec []float64) int {
	if len(perSec) == 0 {
		return -1
	}
	for i := range perSec {
		best := 0.0
		for _, v := range perSec[i+1:] {
			best = math.Max(best, v)
		}
		if best <= perSec[i]*WriterKneeGain {
			return i
		}
	}
	return len(perSec) - 1
}

// roundDown2 rounds n down to two significant digits (4687 -> 4600).
func roundDown2(n int) int {
	if n < 100 {
		return n
	}
	p := 1
	for n/p >= 100 {
		p *= 10
	}
	return n / p * p
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// FormatNs prints a duration in nanoseconds as ns, µs or ms with three
// significant figures.
func FormatNs(ns int64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.3gms", float64(ns)/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3gµs", float64(ns)/1e3)
	}
	return fmt.Sprintf("%dns", ns)
}

// applyLimit caps the recommendation at a hard limit met in the sweep.
func (k *Knee) applyLimit(l *DirLimit) {
	if k == nil || l == nil {
		return
	}
	if capped := roundDown2(l.Entries); k.MaxEntries > capped || !k.Found {
		k.MaxEntries = min(k.MaxEntries, capped)
		k.Evidence += "; " + l.Reason
	}
}
