package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/internal/testfs"
)

// On a full disk, apply and apply --undo fail before changing anything
// with one operation and one path named and a hint that says to free
// space and run the same command again; no empty journal is left behind
// (resume would not understand it). A plan blocked by the space of its
// target names that target's path once.
func TestApplyDiskFull(t *testing.T) {
	vol := testfs.Mount(t, 4, "tmpfs")
	store := filepath.Join(vol, "store")
	writeTree(t, store, "Settings/Main.settings", "Domains/d.test/ann.macnt/INBOX.mbox", "Domains/d.test/bob.macnt/INBOX.mbox")
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if code, out, errOut := runCmd("plan", "--domain", "d.test", "--out", planFile, store); code != 0 {
		t.Fatalf("plan: exit %d %s%s", code, out, errOut)
	}
	if code, out, errOut := runCmd("apply", planFile); code != 0 {
		t.Fatalf("apply: exit %d %s%s", code, out, errOut)
	}
	journals := func() []string {
		es, _ := os.ReadDir(filepath.Join(store, ".cgscale", "journal"))
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
			if fi, err := e.Info(); err == nil && fi.Size() == 0 {
				t.Errorf("an empty journal was left behind: %s", e.Name())
			}
		}
		return names
	}
	fill := filepath.Join(vol, "fill")
	full := func() {
		exec.Command("dd", "if=/dev/zero", "of="+fill, "bs=64k").Run() // ends with ENOSPC
	}
	before := journals()

	full()
	code, out, errOut := runCmd("apply", "--undo", planFile)
	if code != 1 || !strings.Contains(errOut, "no space left on device") || strings.Contains(errOut, "--resume") ||
		!strings.Contains(errOut, "hint: free space on the store's volume, then run `cgscale apply --undo "+planFile+"` again") {
		t.Errorf("undo on a full disk: exit %d\n%s%s", code, out, errOut)
	}
	if got := journals(); len(got) != len(before) {
		t.Errorf("undo on a full disk left journals %v, had %v", got, before)
	}
	os.Remove(fill)
	if code, out, errOut := runCmd("apply", "--undo", planFile); code != 0 {
		t.Fatalf("undo after freeing space: exit %d %s%s", code, out, errOut)
	}

	full()
	before = journals()
	code, out, errOut = runCmd("apply", planFile)
	first, _, _ := strings.Cut(errOut, "\n")
	if code != 1 || strings.Count(errOut, "no space left on device") != 1 || !strings.HasPrefix(first, "cgscale: save plan copy ") ||
		!strings.Contains(errOut, "then run `cgscale apply "+planFile+"` again") {
		t.Errorf("apply on a full disk: exit %d\n%s%s", code, out, errOut)
	}
	if got := journals(); len(got) != len(before) {
		t.Errorf("apply on a full disk left journals %v, had %v", got, before)
	}
	if _, err := os.Stat(filepath.Join(store, "Domains", "d.test", "ann.macnt")); err != nil {
		t.Errorf("apply on a full disk changed the store: %v", err)
	}

	// Planned on the full disk: the plan is blocked by its target's space.
	blocked := filepath.Join(t.TempDir(), "blocked.json")
	runCmd("plan", "--domain", "d.test", "--out", blocked, store)
	code, _, errOut = runCmd("apply", blocked)
	first, _, _ = strings.Cut(errOut, "\n")
	if code != 5 || strings.Count(first, store) != 1 || !strings.Contains(errOut, "space") || !strings.Contains(errOut, "hint: free space") {
		t.Errorf("apply of a space-blocked plan: exit %d\n%s", code, errOut)
	}
}
