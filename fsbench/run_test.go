package fsbench

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
	"github.com/cgscale/cgscale/layout"
)

// small keeps a run short: a few hundred entries, a few samples.
func small(dir string) Options {
	return Options{
		Dir: dir, Sizes: []int{100, 400}, Reps: 2, Samples: 50,
		Writers: []int{1, 2}, WriterTime: 100 * time.Millisecond, MsgSize: 2048, Accounts: 10,
	}
}

// entries lists what is left in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	if _, err := layout.ReadDir(dir, false, func(n []byte) error { names = append(names, string(n)); return nil }); err != nil {
		t.Fatal(err)
	}
	return names
}

func TestRunMeasuresEveryOperationAndCleansUp(t *testing.T) {
	for _, vol := range []string{"tmpfs", "ext4"} {
		t.Run(vol, func(t *testing.T) {
			dir := testfs.Scratch(t, vol)
			o := small(dir)
			var stages []string
			o.Stage = func(desc string, total int64, done *atomic.Int64) func() {
				stages = append(stages, desc)
				return func() {
					if total > 0 && done.Load() != total {
						t.Errorf("stage %q ended at %d of %d", desc, done.Load(), total)
					}
				}
			}
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if left := entries(t, dir); len(left) != 0 {
				t.Errorf("left behind in %s: %v", dir, left)
			}
			if res.Schema != Schema || res.Stopped != "" || len(res.Sizes) != 2 {
				t.Fatalf("result: schema %q stopped %q sizes %d", res.Schema, res.Stopped, len(res.Sizes))
			}
			for _, s := range res.Sizes {
				// Every operation was timed exactly as often as asked: the
				// lookups Samples times a repetition, the changing operations
				// a fifth of that (at most a fifth of the directory), the
				// listing once; each repetition has its own median.
				small := max(1, min(o.Samples/5, s.Entries/5))
				want := map[string]int{OpLookup: o.Samples, OpMissing: o.Samples, OpOpenRead: small,
					OpCreate: small, OpRemove: small, OpList: 1}
				for _, op := range Ops {
					l := s.Ops[op]
					if l.N != o.Reps*want[op] || len(l.RepP50ns) != o.Reps {
						t.Errorf("%d entries, %s: timed %d times in %d repetitions, want %d in %d: %+v",
							s.Entries, op, l.N, len(l.RepP50ns), o.Reps*want[op], o.Reps, l)
					}
				}
			}
			if res.Knee == nil || len(res.Knee.Points) != 2 || res.Knee.MaxEntries <= 0 {
				t.Errorf("knee: %+v", res.Knee)
			}
			w := res.Writers
			if w == nil || len(w.Steps) != 2 || w.Recommended == 0 {
				t.Fatalf("writers: %+v", w)
			}
			for _, s := range w.Steps {
				if s.Messages == 0 || s.PerSec <= 0 || len(s.RoundPerSec) != o.Reps {
					t.Errorf("writer step %+v", s)
				}
			}
			if len(stages) == 0 || !strings.Contains(strings.Join(stages, "|"), "fill to 400 entries") {
				t.Errorf("stages: %v", stages)
			}
		})
	}
}

func TestRunInterruptedKeepsPartialResultsAndCleansUp(t *testing.T) {
	dir := testfs.Scratch(t, "tmpfs")
	o := small(dir)
	o.Sizes = []int{100, 200000}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Stage = func(desc string, total int64, done *atomic.Int64) func() {
		if strings.HasPrefix(desc, "fill to 200000") {
			cancel() // Ctrl-C while the big directory fills
		}
		return func() {}
	}
	res, err := Run(ctx, o)
	if errs.KindOf(err) != errs.Interrupted || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v (kind %v), want interrupted", err, errs.KindOf(err))
	}
	if res == nil || len(res.Sizes) != 1 || res.Sizes[0].Entries != 100 || res.Stopped != "interrupted" || res.Writers != nil {
		t.Fatalf("partial result: %+v", res)
	}
	if left := entries(t, dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}

	// Interrupted during the second writer count: the first is reported,
	// but a curve of one point gives no recommendation.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	o = small(dir)
	o.Sizes, o.Reps = nil, 1
	o.Stage = func(desc string, total int64, done *atomic.Int64) func() {
		if strings.HasPrefix(desc, "2 writers") {
			cancel()
		}
		return func() {}
	}
	res, err = Run(ctx, o)
	if errs.KindOf(err) != errs.Interrupted {
		t.Fatalf("err = %v, want interrupted", err)
	}
	if res.Writers == nil || len(res.Writers.Steps) != 1 || res.Writers.Steps[0].Writers != 1 || res.Writers.Recommended != 0 {
		t.Fatalf("partial writer sweep: %+v", res.Writers)
	}
	if left := entries(t, dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// C12: a full volume (blocks or inodes) ends the run with a message that
// says which resource ran out, and the sizes measured until then.
func TestC12FullVolumeEndsWithPartialResults(t *testing.T) {
	tests := []struct {
		name string
		mkfs []string
		want string
	}{
		// 1024 inodes: the fill runs out of inodes near 1000 entries.
		{"inodes", []string{"mkfs.ext4", "-q", "-N", "1024"}, "out of inodes"},
		// Many inodes but few blocks: each directory takes a block.
		{"blocks", []string{"mkfs.ext4", "-q", "-N", "16384", "-b", "4096"}, "out of space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mnt := testfs.Mount(t, 16, tt.mkfs...)
			o := small(mnt)
			o.Sizes = []int{100, 20000}
			res, err := Run(context.Background(), o)
			if errs.KindOf(err) != errs.Partial || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), mnt) {
				t.Fatalf("err = %v (kind %v), want a partial-result error saying %q and naming %s", err, errs.KindOf(err), tt.want, mnt)
			}
			if res == nil || len(res.Sizes) != 1 || res.Sizes[0].Entries != 100 || res.Stopped == "" {
				t.Fatalf("partial result: %+v", res)
			}
			for _, n := range entries(t, mnt) {
				if n != "lost+found" {
					t.Errorf("left behind: %s", n)
				}
			}
		})
	}
}

func TestRunColdSaysWhetherCachesWereDropped(t *testing.T) {
	dir := testfs.Scratch(t, "tmpfs")
	o := small(dir)
	o.Cold, o.Writers = true, nil
	o.Sizes, o.Reps = []int{100}, 1 // each phase drops the caches: keep them few
	var notes []string
	o.Note = func(s string) { notes = append(notes, s) }
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	can, _ := canDropCaches()
	switch {
	case can && (res.Cache != "cold" || len(notes) != 0):
		t.Errorf("caches can be dropped, but cache = %q, notes %v", res.Cache, notes)
	case !can && (res.Cache != "warm" || len(notes) != 1 || !strings.Contains(notes[0], "cannot drop")):
		t.Errorf("caches cannot be dropped, but cache = %q, notes %v", res.Cache, notes)
	}
	if os.Geteuid() == 0 && !can {
		t.Logf("running as root, but %s is not writable (a container?)", dropCachesPath)
	}
}

func TestSVGHasOneLinePerOperation(t *testing.T) {
	r := &Result{Dir: "/srv/mail & more", Cache: "warm", Settings: Settings{Reps: 3}}
	r.Sizes = curve(defaultEntries[:5], []int64{5000, 24700, 50600, 125000, 326000}, []int64{534, 870, 1020, 1190, 1440})
	for i := range r.Sizes {
		for j, op := range []string{OpOpenRead, OpCreate, OpRemove, OpList} {
			r.Sizes[i].Ops[op] = Latency{P50ns: int64(1000 * (j + 1) * (i + 1))}
		}
	}
	r.Knee = FindKnee(r.Sizes, 4)
	doc := SVG(r)
	var parsed struct {
		XMLName   xml.Name `xml:"svg"`
		Polylines []struct {
			Op     string `xml:"data-op,attr"`
			Points string `xml:"points,attr"`
		} `xml:"polyline"`
		Texts []string `xml:"text"`
	}
	if err := xml.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatalf("not well-formed XML: %v\n%s", err, doc)
	}
	if len(parsed.Polylines) != len(Ops) {
		t.Fatalf("%d polylines, want %d", len(parsed.Polylines), len(Ops))
	}
	for i, p := range parsed.Polylines {
		if p.Op != Ops[i] || len(strings.Fields(p.Points)) != len(r.Sizes) {
			t.Errorf("polyline %d: op %q, %d points", i, p.Op, len(strings.Fields(p.Points)))
		}
	}
	all := strings.Join(parsed.Texts, "\n")
	for _, want := range []string{"entries in the directory (log scale)", "time per operation, median (log scale)",
		"lookup, missing name", "knee: keep directories under 4k entries", "/srv/mail & more", "1k", "50k", "1ms"} {
		if !strings.Contains(all, want) {
			t.Errorf("chart text lacks %q", want)
		}
	}
}

// C04: where readdir gives no entry types, bench says that a walk pays an
// extra lstat per entry, and shows both listing rates.
func TestC04BenchReportsExtraStatPerEntry(t *testing.T) {
	o := small(testfs.Scratch(t, "ext4-notype"))
	o.Writers = nil
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Filesystem.FileType != No || !res.ListNeedsStat {
		t.Fatalf("filetype %q, list needs stat %v; want no, true", res.Filesystem.FileType, res.ListNeedsStat)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "one lstat per entry") {
		t.Errorf("notes %q do not mention the extra lstat", res.Notes)
	}
	for _, s := range res.Sizes {
		if s.ListNamesPerSec <= 0 || s.ListTypedPerSec <= 0 {
			t.Errorf("%d entries: listing rates %v / %v", s.Entries, s.ListNamesPerSec, s.ListTypedPerSec)
		}
	}
}

// C06: lookup latency of single names is reported apart from the time of a
// full listing, and the result says whether caches were warm or cold.
func TestC06LookupReportedApartFromListing(t *testing.T) {
	o := small(testfs.Scratch(t, "ext4"))
	o.Writers = nil
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	doc := string(b)
	for _, want := range []string{`"cache":"warm"`, `"lookup":{`, `"lookup-missing":{`, `"list":{`, `"list_names_per_sec":`, `"list_typed_per_sec":`} {
		if !strings.Contains(doc, want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	for _, s := range res.Sizes {
		if s.Ops[OpLookup].N != o.Reps*o.Samples || s.Ops[OpList].N != o.Reps {
			t.Errorf("%d entries: %d single lookups and %d listings timed", s.Entries, s.Ops[OpLookup].N, s.Ops[OpList].N)
		}
	}
}
