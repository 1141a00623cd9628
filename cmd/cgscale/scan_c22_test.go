package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/internal/testfs"
	"github.com/cgscale/cgscale/layout"
)

// C22: a domain moved with `cgscale move` onto a volume that is later not
// mounted. While the link dangles, scan reports the dangling link with
// what the move recorded; once a directory reappears at the target path
// on the root filesystem (a server that creates what it misses), the link
// resolves again, and scan reports that it lands on another filesystem
// than the move recorded. Both are critical and say to make the mail
// service wait for the mount.
func TestC22RelocationVolumeNotMounted(t *testing.T) {
	vol := testfs.Mount(t, 32, "mkfs.ext4", "-q", "-N", "1024")
	store := t.TempDir()
	writeTree(t, store, "Settings/Main.settings", "Domains/example.test/acct0001.macnt/INBOX.mdir/1.msg",
		"Domains/example.test/acct0002.macnt/INBOX.mdir/1.msg", "Domains/other.test/acct0003.macnt/INBOX.mdir/1.msg")
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, getenv: os.Getenv}
	src := filepath.Join(store, "Domains", "example.test")
	if code := run(context.Background(), e, []string{"move", src, vol}); code != 0 {
		t.Fatalf("move: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	dst := filepath.Join(vol, "Domains", "example.test")

	// Mounted: the link lands where the move put it.
	r, code := scanJSON(t, store)
	rl := relocationAt(t, r, src)
	if code != 0 || rl.Recorded == nil || rl.Recorded.Dst != dst || rl.Moved || rl.FSID == "" || rl.FSID != rl.Recorded.FSID {
		t.Fatalf("mounted: exit %d, relocation %+v recorded %+v; want exit 0, recorded and not moved", code, rl, rl.Recorded)
	}
	if r.Totals.Accounts != 3 {
		t.Errorf("mounted: %d accounts, want 3", r.Totals.Accounts)
	}

	// "Rebooted, the volume is not mounted": the link dangles.
	if out, err := exec.Command("umount", vol).CombinedOutput(); err != nil {
		t.Fatalf("umount %s: %v %s", vol, err, out)
	}
	r, code = scanJSON(t, store)
	f, ok := findingsOf(r, layout.RuleDanglingLink)[src]
	if code != 3 || !ok || f.Severity != layout.Critical || !strings.Contains(f.Evidence, "cgscale move put it on device") ||
		!strings.Contains(f.Next, "RequiresMountsFor="+dst) {
		t.Errorf("unmounted: exit %d, dangling-link finding %+v", code, f)
	}
	if len(findingsOf(r, layout.RuleOffVolume)) != 0 {
		t.Errorf("unmounted: a dangling link is not also off its volume: %+v", r.Findings)
	}

	// The server recreated the tree on the root filesystem.
	writeTree(t, vol, "Domains/example.test/acct0001.macnt/INBOX.mdir/2.msg")
	r, code = scanJSON(t, store)
	off := findingsOf(r, layout.RuleOffVolume)
	f, ok = off[src]
	if code != 3 || !ok || len(off) != 1 || f.Severity != layout.Critical {
		t.Fatalf("recreated: exit %d, findings %+v; want CGS013 critical for %s", code, r.Findings, src)
	}
	rl = relocationAt(t, r, src)
	for _, want := range []string{"made by cgscale move onto device", "filesystem id " + rl.Recorded.FSID, "now lands on", "filesystem id " + rl.FSID} {
		if !strings.Contains(f.Evidence, want) {
			t.Errorf("CGS013 evidence lacks %q:\n%s", want, f.Evidence)
		}
	}
	if !strings.Contains(f.Next, "mount the volume that holds "+dst) || !strings.Contains(f.Next, "RequiresMountsFor="+dst) {
		t.Errorf("CGS013 next step: %s", f.Next)
	}
	if !rl.Moved || rl.FSID == rl.Recorded.FSID {
		t.Errorf("recreated: relocation %+v recorded %+v", rl, rl.Recorded)
	}
	if len(findingsOf(r, layout.RuleDanglingLink)) != 0 {
		t.Errorf("recreated: the link resolves, yet it is reported dangling")
	}

	// The text report shows it too.
	stdout.Reset()
	run(context.Background(), e, []string{"scan", store})
	if !strings.Contains(stdout.String(), "CGS013 critical relocation-off-its-volume") {
		t.Errorf("text report:\n%s", stdout.String())
	}
}

func relocationAt(t *testing.T, r *layout.Report, link string) layout.Relocation {
	t.Helper()
	for _, rl := range r.Relocations {
		if rl.Link == link {
			return rl
		}
	}
	t.Fatalf("no relocation link %s in %+v", link, r.Relocations)
	return layout.Relocation{}
}
