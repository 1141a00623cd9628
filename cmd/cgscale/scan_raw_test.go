package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/internal/rawjson"
	"github.com/cgscale/cgscale/layout"
)

// scan --json keeps path bytes that are not UTF-8, written {"b64": ...}
// as plan does, instead of replacing them with U+FFFD.
func TestScanJSONKeepsPathBytes(t *testing.T) {
	base := filepath.Join(t.TempDir(), "store")
	if code, _, stderr := runCmd("gen", "--accounts", "10", "--domains", "1", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: %s", stderr)
	}
	dom := filepath.Join(base, "Domains", "caf\xe9.test")
	if err := os.MkdirAll(filepath.Join(dom, "a.macnt"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCmd("scan", "--json", base)
	if code != 0 {
		t.Fatalf("scan exits %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"b64"`) {
		t.Errorf("no b64 form in:\n%s", out)
	}
	var r layout.Report
	if err := rawjson.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range r.Domains {
		if d.Path == dom && d.Name == "caf\xe9.test" && d.Accounts == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("no domain %q with its exact bytes: %+v", dom, r.Domains)
	}
}

// The list of links gives a relative link's text and, beside it, where it
// resolves.
func TestScanShowsLinkTextAndTarget(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "store")
	if code, _, stderr := runCmd("gen", "--accounts", "10", "--domains", "2", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: %s", stderr)
	}
	dom := filepath.Join(base, "Domains", "example-0001.test")
	vol := filepath.Join(root, "vol")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dom, filepath.Join(vol, "example-0001.test")); err != nil {
		t.Fatal(err)
	}
	text := "../../vol/example-0001.test"
	if err := os.Symlink(text, dom); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCmd("scan", base)
	if code != 0 {
		t.Fatalf("scan exits %d: %s\n%s", code, stderr, out)
	}
	want := "-> " + text + " (resolves to " + filepath.Join(vol, "example-0001.test") + ")"
	if !strings.Contains(out, want) {
		t.Errorf("want %q in:\n%s", want, out)
	}
}
