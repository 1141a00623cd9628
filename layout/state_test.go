package layout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/internal/journal"
)

// The walk does not read BASE/.cgscale: it is cgscale's state, not store
// data, and is kept mode 0700, so a scan as the server's user would
// otherwise always be partial. Its journals are read by ReadJobs.
func TestWalkSkipsStateDir(t *testing.T) {
	base := t.TempDir()
	sampleStore(t, base)
	want := walkOK(t, base, WalkOptions{})
	build(t, base, ".cgscale/journal/", ".cgscale/plans/a.json", ".cgscale/journal/x/y/")
	if err := os.Chmod(filepath.Join(base, ".cgscale"), 0o700); err != nil {
		t.Fatal(err)
	}
	got := walkOK(t, base, WalkOptions{})
	if got.Totals.Directories != want.Totals.Directories || got.Totals.Entries != want.Totals.Entries+1 {
		t.Errorf("with .cgscale: %d directories, %d entries; without: %d, %d (want the same directories, one more entry)",
			got.Totals.Directories, got.Totals.Entries, want.Totals.Directories, want.Totals.Entries)
	}
	for _, d := range got.TopDirs {
		if strings.Contains(d.Path, "/.cgscale") {
			t.Errorf("the walk read %s", d.Path)
		}
	}
}

// writeJournal writes journal lines (JSON objects) to a new journal of
// the store at base and returns its path.
func writeJournal(t *testing.T, base string, recs ...map[string]any) string {
	t.Helper()
	dir := journal.Dir(base)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	p := filepath.Join(dir, "20260101T000000Z-1.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// An unfinished apply offers --undo only while none of its relocations
// has swapped: after the swap apply --undo refuses, and the way on is
// --resume.
func TestUnfinishedApplyOffersUndoOnlyBeforeSwap(t *testing.T) {
	begin := map[string]any{"time": "2026-01-01T00:00:00Z", "kind": "job", "step": "begin", "opts": map[string]string{"command": "apply", "plan_copy": "/s/.cgscale/plans/p.json"}}
	mv := func(step string) map[string]any {
		return map[string]any{"time": "2026-01-01T00:00:01Z", "op": 3, "kind": "move", "step": step, "src": "/s/Domains/a.test"}
	}
	for _, tc := range []struct {
		name  string
		steps []string
		undo  bool
	}{
		{"no relocation", nil, true},
		{"copying", []string{"begin", "copied"}, true},
		{"swapped", []string{"begin", "copied", "swapped"}, false},
		{"done", []string{"begin", "copied", "swapped", "done"}, false},
		{"rolled back", []string{"begin", "copied", "rolled back"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			recs := []map[string]any{begin}
			for _, s := range tc.steps {
				recs = append(recs, mv(s))
			}
			writeJournal(t, base, recs...)
			jobs, _, _, err := ReadJobs(base)
			if err != nil || len(jobs) != 1 {
				t.Fatalf("ReadJobs: %v, %+v", err, jobs)
			}
			r := jobs[0].Resume
			if !strings.HasPrefix(r, "cgscale apply --resume ") || strings.Contains(r, "--undo") != tc.undo {
				t.Errorf("resume %q: want --undo offered = %v", r, tc.undo)
			}
		})
	}
}
