package fsbench

import "testing"

// curve builds sweep results from p50 costs (ns) of the missing-name
// lookup, with the existing-name lookup given separately.
func curve(entries []int, missing, existing []int64) []SizeResult {
	var out []SizeResult
	for i, n := range entries {
		out = append(out, SizeResult{Entries: n, Ops: map[string]Latency{
			OpMissing: {P50ns: missing[i]},
			OpLookup:  {P50ns: existing[i]},
		}})
	}
	return out
}

var defaultEntries = []int{1000, 5000, 10000, 25000, 50000, 100000}

func TestFindKneeOnRecordedCurves(t *testing.T) {
	tests := []struct {
		name      string
		sizes     []SizeResult
		factor    float64
		found     bool
		entries   int // smallest size past the factor
		maxPerDir int
	}{
		{
			// Recorded on ext4 -O ^dir_index (warm): missing-name lookups
			// scan the whole directory; mkdir stopped at 64998 (EMLINK).
			name:    "ext4 without dir_index",
			sizes:   curve(defaultEntries[:5], []int64{5000, 24700, 50600, 125000, 326000}, []int64{534, 870, 1020, 1190, 1440}),
			factor:  4,
			found:   true,
			entries: 5000,
			// 4.94x at 5000 from 1.0x at 1000: the factor 4 is crossed at
			// 1000 + (4-1)*(4000)/(4.94-1) = 4045, rounded down to 4000.
			maxPerDir: 4000,
		},
		{
			// Recorded on ext4 with dir_index: flat missing-name cost; the
			// existing-name lookup grows 2.5x (dentry cache), which must
			// not make a knee.
			name:      "ext4 with dir_index",
			sizes:     curve(defaultEntries, []int64{1450, 1580, 1640, 1800, 2290, 2370}, []int64{554, 913, 982, 1310, 1400, 1360}),
			factor:    4,
			found:     false,
			maxPerDir: 100000,
		},
		{
			name:      "xfs",
			sizes:     curve(defaultEntries, []int64{1230, 1260, 1220, 1290, 1470, 1560}, []int64{501, 726, 726, 957, 1210, 1510}),
			factor:    4,
			found:     false,
			maxPerDir: 100000,
		},
		{
			// The same curve with a factor of 1.5: 1800/1450 = 1.24 at 25k,
			// 2290/1450 = 1.58 at 50k, so the crossing is interpolated
			// at 25000 + (1.5-1.241)*25000/(1.579-1.241) = 44157.
			name:      "ext4 with dir_index, factor 1.5",
			sizes:     curve(defaultEntries, []int64{1450, 1580, 1640, 1800, 2290, 2370}, []int64{554, 913, 982, 1310, 1400, 1360}),
			factor:    1.5,
			found:     true,
			entries:   50000,
			maxPerDir: 44000,
		},
		{
			name:      "one size only",
			sizes:     curve([]int{1000}, []int64{5000}, []int64{500}),
			factor:    4,
			found:     false,
			maxPerDir: 1000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := FindKnee(tt.sizes, tt.factor)
			if k.Found != tt.found {
				t.Fatalf("found = %v, want %v (%s)", k.Found, tt.found, k.Evidence)
			}
			if k.Entries != tt.entries {
				t.Errorf("knee entries = %d, want %d", k.Entries, tt.entries)
			}
			if k.MaxEntries != tt.maxPerDir {
				t.Errorf("max entries = %d, want %d (%s)", k.MaxEntries, tt.maxPerDir, k.Evidence)
			}
			if tt.found && (k.MaxEntries <= tt.sizes[0].Entries/2 || k.MaxEntries > k.Entries) {
				t.Errorf("max entries %d is not between the sizes around the knee at %d", k.MaxEntries, k.Entries)
			}
			if len(k.Points) != len(tt.sizes) || k.Points[0].MissingRatio != 1 {
				t.Errorf("points = %+v", k.Points)
			}
		})
	}
}

func TestKneeCappedByLinkLimit(t *testing.T) {
	// ext4 without dir_index stops taking subdirectories at 64998: a
	// sweep that found no knee below that must not recommend more.
	k := FindKnee(curve([]int{1000, 50000}, []int64{1000, 1200}, []int64{500, 600}), 4)
	k.applyLimit(&DirLimit{Entries: 64998, Reason: "EMLINK"})
	if k.MaxEntries != 50000 {
		t.Errorf("max = %d, want 50000 (the largest size measured is below the limit)", k.MaxEntries)
	}
	k = FindKnee(curve([]int{1000, 100000}, []int64{1000, 1200}, []int64{500, 600}), 4)
	k.applyLimit(&DirLimit{Entries: 64998, Reason: "EMLINK"})
	if k.MaxEntries != 64000 {
		t.Errorf("max = %d, want 64000 (capped at the link limit)", k.MaxEntries)
	}
}

func TestWriterKneeOnRecordedCurves(t *testing.T) {
	counts := []int{1, 2, 4, 8, 16, 32, 64}
	tests := []struct {
		name  string
		rates []float64
		want  int // writer count
	}{
		// tmpfs, 2 cores: fsync costs nothing, the CPUs are the limit;
		// 8 and 16 dip, 64 is within 10% of 4.
		{"tmpfs", []float64{55084, 79528, 83853, 61299, 71297, 81900, 91533}, 4},
		// ext4 on a loop device: the journal batches concurrent fsyncs,
		// so throughput keeps growing up to the largest count.
		{"ext4 still growing", []float64{1212, 1589, 2192, 1983, 2245, 6889, 8840}, 64},
		// btrfs: one writer beats 2 to 16, but 32 and 64 beat it again.
		{"btrfs", []float64{411, 111, 222, 378, 677, 1478, 2378}, 64},
		// A storage array that saturates at 8 writers; a noisy dip at 16
		// must not move the knee.
		{"saturates at 8", []float64{500, 950, 1800, 3000, 2800, 3100, 3050}, 8},
		// A one-point dip before real growth continues.
		{"dip then growth", []float64{100, 180, 175, 300, 310, 305, 300}, 8},
		// Flat from the start: one writer is enough.
		{"flat", []float64{1000, 1050, 990, 1020, 1000, 980, 1010}, 1},
		// Falling: more writers only hurt.
		{"falling", []float64{1000, 900, 800, 700, 600, 500, 400}, 1},
		// Exactly 10% more is not growth.
		{"ten percent", []float64{1000, 1100, 1100, 1100, 1100, 1100, 1100}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := WriterKnee(tt.rates)
			if got := counts[i]; got != tt.want {
				t.Errorf("knee at %d writers, want %d (curve %v)", got, tt.want, tt.rates)
			}
		})
	}
	if WriterKnee(nil) != -1 {
		t.Error("an empty curve has no knee")
	}
}

func TestWriterSweepStillGrowing(t *testing.T) {
	ws := &WriterSweep{}
	for i, r := range []float64{1212, 1589, 2192, 1983, 2245, 6889, 8840} {
		ws.Steps = append(ws.Steps, WriterStep{Writers: 1 << i, PerSec: r})
	}
	ws.setKnee()
	if ws.Recommended != 64 || !ws.StillGrowing {
		t.Errorf("recommended %d, still growing %v; want 64, true", ws.Recommended, ws.StillGrowing)
	}
	ws.Steps[6].PerSec = 7000 // 32 writers are now the best within 10%
	ws.setKnee()
	if ws.Recommended != 32 || ws.StillGrowing {
		t.Errorf("recommended %d, still growing %v; want 32, false", ws.Recommended, ws.StillGrowing)
	}
}

func TestRoundDown2(t *testing.T) {
	for in, want := range map[int]int{0: 0, 99: 99, 100: 100, 4045: 4000, 44157: 44000, 64998: 64000, 100000: 100000, 123456: 120000} {
		if got := roundDown2(in); got != want {
			t.Errorf("roundDown2(%d) = %d, want %d", in, got, want)
		}
	}
}
