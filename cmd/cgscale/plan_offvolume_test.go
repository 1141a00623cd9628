package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/internal/testfs"
)

// A domain relocated with `cgscale move` whose volume is later not
// mounted, while a stray tree stands at the link's target on the root
// filesystem (scan's CGS013): plan lists a blocking problem naming the
// recorded and the current filesystem, and apply of a plan made while the
// volume was mounted refuses before renaming anything in the stray tree.
func TestPlanApplyRelocationOffVolume(t *testing.T) {
	vol := testfs.Mount(t, 32, "mkfs.ext4", "-q", "-N", "1024")
	store := filepath.Join(t.TempDir(), "store")
	writeTree(t, store, "Settings/Main.settings",
		"Domains/example.test/acct0001.macnt/INBOX.mbox", "Domains/example.test/bcct0002.macnt/INBOX.mbox",
		"Domains/other.test/acct0003.macnt/INBOX.mbox")
	src := filepath.Join(store, "Domains", "example.test")
	if code, out, errOut := runCmd("move", src, vol); code != 0 {
		t.Fatalf("move: exit %d\n%s%s", code, out, errOut)
	}
	dst := filepath.Join(vol, "Domains", "example.test")
	planFile := filepath.Join(t.TempDir(), "mounted.json")
	if code, out, errOut := runCmd("plan", "--domain", "example.test", "--scheme", "prefix:1", "--out", planFile, store); code != 0 {
		t.Fatalf("plan while mounted: exit %d\n%s%s", code, out, errOut)
	}

	if out, err := exec.Command("umount", vol).CombinedOutput(); err != nil {
		t.Fatalf("umount %s: %v %s", vol, err, out)
	}
	// The server recreated part of the domain on the root filesystem.
	writeTree(t, vol, "Domains/example.test/acct0001.macnt/INBOX.mbox", "Domains/example.test/zz.macnt/INBOX.mbox")

	code, out, errOut := runCmd("plan", "--domain", "example.test", "--scheme", "prefix:1", store)
	if code != 3 || !strings.Contains(out, "off-volume") || !strings.Contains(out, "Domains/example.test") ||
		!strings.Contains(out, "cgscale move made onto "+dst) || !strings.Contains(out, "it now lands on") {
		t.Errorf("plan off its volume: exit %d, want 3 and a blocking off-volume problem\n%s%s", code, out, errOut)
	}

	code, out, errOut = runCmd("apply", planFile)
	if code != 5 || !strings.Contains(errOut, "cgscale move recorded ("+dst) || !strings.Contains(errOut, "mount the volume") {
		t.Errorf("apply off its volume: exit %d, want 5 naming the recorded volume\n%s%s", code, out, errOut)
	}
	for _, p := range []string{"acct0001.macnt", "zz.macnt"} {
		if _, err := os.Stat(filepath.Join(dst, p)); err != nil {
			t.Errorf("apply changed the stray tree: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "a.sub")); err == nil {
		t.Errorf("apply created a.sub in the stray tree")
	}
}
