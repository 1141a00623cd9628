package durable

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// MkdirAll creates each missing level and syncs exactly the parents whose
// entries it created, outermost first; a second call creates and syncs
// nothing.
func TestMkdirAllSyncsEachCreatedParent(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, ".cgscale", "journal")
	var synced []string
	rec := func(dir string) error {
		synced = append(synced, dir)
		return SyncDir(dir)
	}
	if err := mkdirAll(target, 0o700, rec); err != nil {
		t.Fatal(err)
	}
	want := []string{base, filepath.Join(base, ".cgscale")}
	if !slices.Equal(synced, want) {
		t.Errorf("synced %q, want %q", synced, want)
	}
	for _, d := range []string{filepath.Join(base, ".cgscale"), target} {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want a directory with mode 0700", d, fi, err)
		}
	}
	synced = nil
	if err := mkdirAll(target, 0o700, rec); err != nil || len(synced) != 0 {
		t.Errorf("second call: err %v, synced %q; want nothing done", err, synced)
	}
	// One more level under an existing tree syncs only its own parent.
	if err := mkdirAll(filepath.Join(base, ".cgscale", "plans"), 0o700, rec); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(synced, []string{filepath.Join(base, ".cgscale")}) {
		t.Errorf("synced %q, want only %s", synced, filepath.Join(base, ".cgscale"))
	}
}

// A file where a directory is needed is an error naming it.
func TestMkdirAllFileInTheWay(t *testing.T) {
	base := t.TempDir()
	f := filepath.Join(base, "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(filepath.Join(f, "sub"), 0o700); err == nil {
		t.Fatal("created a directory under a regular file")
	}
}

// WriteFile replaces the file whole, with the mode asked, and leaves no
// temporary file behind.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.svg")
	if err := os.WriteFile(p, []byte("old content, longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil || string(data) != "new" {
		t.Fatalf("read back %q, %v", data, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil, 0o644); err == nil {
		t.Error("wrote into a directory that does not exist")
	}
}
