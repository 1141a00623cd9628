package layout

import "fmt"

// MeasuredLimit is what a benchmark of one volume (cgscale bench) found:
// how many entries a directory on it may hold before lookups slow down.
type MeasuredLimit struct {
	// MaxEntries is the recommended maximum of entries per directory.
	MaxEntries int `json:"max_entries_per_dir"`
	// Ceiling is true when MaxEntries is where lookups were measured to
	// slow down, or a hard limit of the filesystem. False means the volume
	// stayed fast up to MaxEntries, the largest size measured, and nothing
	// was measured beyond it.
	Ceiling bool `json:"ceiling"`
	// Profile is the file the measurement was read from.
	Profile string `json:"profile"`
	// Evidence is one sentence naming the filesystem, the knee and the
	// lookup figures.
	Evidence string `json:"evidence"`
}

// Measured gives the walk the limits measured on some volumes.
type Measured struct {
	// For returns the limit measured for the volume holding the directory
	// path (whose device is dev), and false when the volume was not
	// measured. It is called once per volume.
	For func(path string, dev uint64) (MeasuredLimit, bool)
	// Smallest is the smallest MaxEntries For returns; directories with no
	// more entries than this are never checked against a measurement.
	Smallest int
}

// Threshold is the number of entries at which a directory became a
// finding, and where that number came from.
type Threshold struct {
	// Entries: a directory holding this many entries (accounts, domains)
	// or more is a finding.
	Entries int `json:"entries"`
	// Source is the setting that gave it ("max-flat-accounts",
	// "max-domains": the default or the value given) or "profile" (the
	// limit measured on the directory's volume, see Evidence).
	Source   string `json:"source"`
	Profile  string `json:"profile,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

// Threshold sources other than "profile".
const (
	SourceMaxFlat    = "max-flat-accounts"
	SourceMaxDomains = "max-domains"
	SourceProfile    = "profile"
)

// threshold is what applies to a directory on a volume with measured limit
// m (ok false: not measured) when the setting says def from source. A
// ceiling replaces the setting; a volume that stayed fast up to the
// largest size measured raises the setting to that size, never lowers it.
func threshold(def int, source string, m MeasuredLimit, ok bool) Threshold {
	t := Threshold{Entries: def, Source: source}
	switch {
	case !ok:
	case m.Ceiling || m.MaxEntries+1 > def:
		t = Threshold{Entries: m.MaxEntries + 1, Source: SourceProfile, Profile: m.Profile, Evidence: m.Evidence}
	default:
		t.Profile = m.Profile
		t.Evidence = fmt.Sprintf("the profile measured no slowdown up to %d entries, below this setting: %s", m.MaxEntries, m.Evidence)
	}
	return t
}

// describe says in a few words which threshold applied, for evidence.
func (t Threshold) describe() string {
	if t.Source == SourceProfile {
		return fmt.Sprintf("measured limit of this volume %d entries per directory, from %s: %s", t.Entries-1, t.Profile, t.Evidence)
	}
	s := fmt.Sprintf("threshold %d, --%s", t.Entries, t.Source)
	if t.Evidence != "" {
		s += "; " + t.Evidence
	}
	return s
}

// measured returns the limit measured for the volume dev (first reached
// at path), asking WalkOptions.Measured once per volume.
func (w *walker) measured(dev uint64, path string) (MeasuredLimit, bool) {
	w.smu.Lock()
	defer w.smu.Unlock()
	return w.measuredLocked(dev, path)
}

func (w *walker) measuredLocked(dev uint64, path string) (MeasuredLimit, bool) {
	if w.opt.Measured == nil || w.opt.Measured.For == nil {
		return MeasuredLimit{}, false
	}
	if l, seen := w.limits[dev]; seen {
		return derefLimit(l)
	}
	var lp *MeasuredLimit
	if l, ok := w.opt.Measured.For(path, dev); ok {
		lp = &l
	}
	w.limits[dev] = lp
	return derefLimit(lp)
}

func derefLimit(l *MeasuredLimit) (MeasuredLimit, bool) {
	if l == nil {
		return MeasuredLimit{}, false
	}
	return *l, true
}

// over is a directory past its threshold, found during the walk.
type over struct {
	rule string
	dir  DirCount
	thr  Threshold
}

// checkLimits records the directory of j (n entries, of which accounts
// accounts and domains domains; on device dev when haveDev) when it is
// past the threshold that applies to it.
func (w *walker) checkLimits(j job, dev uint64, haveDev bool, n, accounts, domains int64) {
	smallest := int64(-1)
	if m := w.opt.Measured; m != nil && m.For != nil && haveDev {
		smallest = int64(m.Smallest)
	}
	limit := func(def int, source string) Threshold {
		if smallest < 0 {
			return Threshold{Entries: def, Source: source}
		}
		l, ok := w.measured(dev, j.path)
		return threshold(def, source, l, ok)
	}
	add := func(rule string, count int64, t Threshold) {
		w.smu.Lock()
		w.over = append(w.over, over{rule: rule, dir: DirCount{Path: j.path, Entries: count, Kind: j.kind}, thr: t})
		w.smu.Unlock()
	}
	switch {
	case j.kind.holdsAccounts():
		if accounts >= int64(w.opt.MaxFlatAccounts) || smallest >= 0 && accounts > smallest {
			if t := limit(w.opt.MaxFlatAccounts, SourceMaxFlat); accounts >= int64(t.Entries) {
				add(RuleFlatTooLarge, accounts, t)
			}
		}
	case j.kind.holdsDomains():
		if domains >= int64(w.opt.MaxDomains) || smallest >= 0 && domains > smallest {
			if t := limit(w.opt.MaxDomains, SourceMaxDomains); domains >= int64(t.Entries) {
				add(RuleTooManyDomain, domains, t)
			}
		}
	case j.kind != KindBase && smallest >= 0 && n > smallest:
		// Mailbox directories, the queue and the rest: only a measured
		// ceiling applies, there is no general rule for them.
		if l, ok := w.measured(dev, j.path); ok && l.Ceiling && n > int64(l.MaxEntries) {
			add(RuleOverMeasured, n, threshold(0, "", l, true))
		}
	}
}
