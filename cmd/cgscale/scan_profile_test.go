package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/fsbench"
	"github.com/cgscale/cgscale/internal/testfs"
	"github.com/cgscale/cgscale/layout"
)

// profileFor writes a bench profile holding the result recorded in
// testdata/bench/ext4-nodirindex.json (a real run of `cgscale bench
// --sizes 250,1000,2000,4000,8000` on that volume: knee at about 1,500
// entries), given the identity of the volume at vol as it is mounted now
// (its filesystem id changes whenever the volume is made again).
func profileFor(t *testing.T, vol string) (path string, rec fsbench.Result) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "bench", "ext4-nodirindex.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	id, err := fsbench.Identify(vol, fsbench.IdentifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec.Filesystem = id
	rec.Dir = vol
	out, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "bench.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, rec
}

// mkAccounts makes n empty account directories in dir.
func mkAccounts(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("user%05d.macnt", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func scanJSON(t *testing.T, args ...string) (*layout.Report, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, getenv: os.Getenv}
	code := run(context.Background(), e, append([]string{"scan", "--json"}, args...))
	var r layout.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("scan %v: exit %d, no JSON report: %v\nstderr: %s", args, code, err, stderr.String())
	}
	return &r, code
}

func findingsOf(r *layout.Report, id string) map[string]layout.Finding {
	out := map[string]layout.Finding{}
	for _, f := range r.Findings {
		if f.ID == id {
			out[f.Subject] = f
		}
	}
	return out
}

// scan --profile: on the volume the profile describes (ext4 without
// dir_index, measured limit 1,500) a flat domain of 3,000 accounts is a
// finding that cites the measurement, and so is a mailbox of 2,000
// messages; the same domain on a volume the profile does not describe
// (ext4) is judged by the default 5,000 and is not; without the profile
// neither is.
func TestScanProfileMeasuredThreshold(t *testing.T) {
	far := testfs.Scratch(t, "ext4-nodirindex")
	store := testfs.Scratch(t, "ext4")
	mkAccounts(t, filepath.Join(store, "Domains", "home.test"), 3000)
	mkAccounts(t, filepath.Join(far, "far.test"), 3000)
	if err := os.Symlink(filepath.Join(far, "far.test"), filepath.Join(store, "Domains", "far.test")); err != nil {
		t.Fatal(err)
	}
	mbox := filepath.Join(far, "far.test", "user00000.macnt", "INBOX.mdir")
	if err := os.Mkdir(mbox, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if err := os.WriteFile(filepath.Join(mbox, fmt.Sprintf("%d.msg", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	profile, rec := profileFor(t, far)

	r, code := scanJSON(t, store)
	if code != 0 || len(findingsOf(r, layout.RuleFlatTooLarge)) != 0 || len(findingsOf(r, layout.RuleOverMeasured)) != 0 {
		t.Errorf("without a profile: exit %d, findings %+v; want 0 and no CGS001/CGS012", code, r.Findings)
	}

	r, code = scanJSON(t, "--profile", profile, store)
	if code != 3 {
		t.Errorf("with the profile: exit %d, want 3", code)
	}
	flat := findingsOf(r, layout.RuleFlatTooLarge)
	farDir := filepath.Join(store, "Domains", "far.test")
	f, ok := flat[farDir]
	if !ok || len(flat) != 1 {
		t.Fatalf("CGS001 findings %+v, want one, for %s", flat, farDir)
	}
	th := f.Threshold
	if th == nil || th.Source != layout.SourceProfile || th.Entries != rec.Knee.MaxEntries+1 || th.Profile != profile {
		t.Errorf("CGS001 threshold %+v, want %d from profile %s", th, rec.Knee.MaxEntries+1, profile)
	}
	for _, want := range []string{"3000 accounts", fmt.Sprintf("measured limit of this volume %d entries", rec.Knee.MaxEntries),
		"ext4 without dir_index", rec.Knee.Evidence, profile} {
		if !strings.Contains(f.Evidence, want) {
			t.Errorf("CGS001 evidence lacks %q:\n%s", want, f.Evidence)
		}
	}
	over := findingsOf(r, layout.RuleOverMeasured)
	mboxInStore := filepath.Join(farDir, "user00000.macnt", "INBOX.mdir")
	if o, ok := over[mboxInStore]; !ok || len(over) != 1 || !strings.Contains(o.Evidence, "2000 entries in this mailbox directory") || o.Threshold == nil || o.Threshold.Source != layout.SourceProfile {
		t.Errorf("CGS012 findings %+v, want one for %s", over, mboxInStore)
	}
	measured := 0
	for _, v := range r.Volumes {
		switch {
		case v.Measured != nil && v.MountPoint == filepath.Dir(far):
			measured++
			if v.Measured.MaxEntries != rec.Knee.MaxEntries || !v.Measured.Ceiling {
				t.Errorf("volume %s: measured %+v", v.MountPoint, v.Measured)
			}
		case v.Measured != nil:
			t.Errorf("volume %s is not in the profile, yet has a measured limit %+v", v.MountPoint, v.Measured)
		}
	}
	if measured != 1 {
		t.Errorf("volumes %+v: want the ext4-nodirindex one measured", r.Volumes)
	}

	// The text report says which limit applies where.
	var stdout bytes.Buffer
	e := &env{stdout: &stdout, stderr: &bytes.Buffer{}, getenv: os.Getenv}
	run(context.Background(), e, []string{"scan", "--profile", profile, store})
	for _, want := range []string{"Measured limits (" + profile + ")", filepath.Dir(far) + fmt.Sprintf(": %d entries per directory", rec.Knee.MaxEntries),
		filepath.Dir(store) + ": not in the profile; --max-flat-accounts 5000 applies"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, stdout.String())
		}
	}
}
