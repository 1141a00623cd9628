package fsbench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
)

// benchJSON runs a small sweep on the named volume and returns its JSON.
func benchJSON(t *testing.T, vol string) []byte {
	t.Helper()
	o := small(testfs.Scratch(t, vol))
	o.Writers = nil
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProfileMatchesTheVolumesItDescribes(t *testing.T) {
	dir := t.TempDir()
	ext4, tmpfs := benchJSON(t, "ext4"), benchJSON(t, "tmpfs")
	single := filepath.Join(dir, "ext4.json")
	os.WriteFile(single, ext4, 0o600)
	both := filepath.Join(dir, "both.json")
	os.WriteFile(both, []byte("[\n"+string(ext4)+",\n"+string(tmpfs)+"\n]\n"), 0o600)

	idOf := func(vol string) Identity {
		id, err := Identify(testfs.Volume(t, vol), IdentifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	p, err := LoadProfile(single)
	if err != nil {
		t.Fatal(err)
	}
	th, ok := p.MaxEntriesFor(idOf("ext4"))
	if !ok || th.MaxEntries <= 0 || !strings.Contains(th.Evidence, "cgscale bench of "+testfs.Volume(t, "ext4")) {
		t.Errorf("ext4 threshold = %+v, %v", th, ok)
	}
	// Another ext4 volume (no dir_index), and other types, are not described.
	for _, vol := range []string{"ext4-nodirindex", "xfs", "tmpfs"} {
		if th, ok := p.MaxEntriesFor(idOf(vol)); ok {
			t.Errorf("profile of ext4 claims %s: %+v", vol, th)
		}
	}
	p, err = LoadProfile(both)
	if err != nil {
		t.Fatal(err)
	}
	for _, vol := range []string{"ext4", "tmpfs"} {
		if _, ok := p.MaxEntriesFor(idOf(vol)); !ok {
			t.Errorf("two-volume profile does not describe %s", vol)
		}
	}
	if _, ok := p.MaxEntriesFor(idOf("xfs")); ok {
		t.Error("two-volume profile claims xfs")
	}
}

func TestProfileThresholdIsTheKnee(t *testing.T) {
	r := Result{Schema: Schema, Dir: "/srv/mail2", Cache: "warm", Started: "2026-01-02T03:04:05Z",
		Filesystem: Identity{Type: "ext4", DirIndex: No, Device: "8:17", FSID: "00000000000000ab"}}
	r.Sizes = curve(defaultEntries[:5], []int64{5000, 24700, 50600, 125000, 326000}, []int64{534, 870, 1020, 1190, 1440})
	r.Knee = FindKnee(r.Sizes, 4)
	b, _ := json.Marshal(r)
	path := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(path, b, 0o600)
	p, err := LoadProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	th, ok := p.MaxEntriesFor(Identity{Type: "ext4", Device: "8:99", FSID: "00000000000000ab"})
	if !ok || th.MaxEntries != 4000 || !th.Knee || !strings.Contains(th.Evidence, "ext4 without dir_index") || !strings.Contains(th.Evidence, "at 5000 entries") {
		t.Errorf("threshold = %+v, %v; want 4000 from the knee at 5000", th, ok)
	}
	// A zero fsid falls back to the device number.
	r.Filesystem.FSID = "0000000000000000"
	b, _ = json.Marshal(r)
	os.WriteFile(path, b, 0o600)
	p, _ = LoadProfile(path)
	if _, ok := p.MaxEntriesFor(Identity{Type: "ext4", Device: "8:17", FSID: "0000000000000000"}); !ok {
		t.Error("same device, zero fsid: not matched")
	}
	if _, ok := p.MaxEntriesFor(Identity{Type: "ext4", Device: "8:18", FSID: "0000000000000000"}); ok {
		t.Error("other device, zero fsid: matched")
	}
}

func TestLoadProfileRejectsWhatBenchDidNotWrite(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	fs := `"filesystem":{"type":"xfs","device":"7:3","fsid":"0000070300000000"}`
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.json"), "no such file"},
		{write("garbage.json", "not json"), "invalid character"},
		{write("empty.json", "[]"), "no results"},
		{write("schema.json", `{"schema":"cgscale.scan/v1",`+fs+`,"knee":{"max_entries_per_dir":5}}`), `want "cgscale.bench/v1"`},
		{write("nosweep.json", `{"schema":"cgscale.bench/v1",`+fs+`}`), "no lookup sweep"},
		{write("noid.json", `{"schema":"cgscale.bench/v1","knee":{"max_entries_per_dir":5}}`), "does not identify"},
	} {
		_, err := LoadProfile(tt.path)
		if err == nil || errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("LoadProfile(%s) = %v, want a bad-input error naming it and saying %q", filepath.Base(tt.path), err, tt.want)
		}
	}
}
