package fsbench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
)

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// liveProcess starts a process that lives until the test ends.
func liveProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// fakeScratch makes a scratch directory as a run with pid would, with the
// given marker content ("" for none) and one file inside.
func fakeScratch(t *testing.T, parent string, pid int, marker string) string {
	t.Helper()
	dir := filepath.Join(parent, fmt.Sprintf("%s%d.abcdef", ScratchPrefix, pid))
	if err := os.MkdirAll(filepath.Join(dir, "domain", "anna.smith.macnt"), 0o700); err != nil {
		t.Fatal(err)
	}
	if marker != "" {
		if err := os.WriteFile(filepath.Join(dir, markerName), []byte(marker), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRemoveStaleRemovesOnlyDeadRuns(t *testing.T) {
	parent := t.TempDir()
	outside := t.TempDir()
	precious := filepath.Join(outside, "precious.mbox")
	if err := os.WriteFile(precious, []byte("mail"), 0o600); err != nil {
		t.Fatal(err)
	}

	dead := deadPid(t)
	deadDir := fakeScratch(t, parent, dead, ownerLine(dead))
	// A link inside a stale directory must be removed, not followed.
	if err := os.Symlink(outside, filepath.Join(deadDir, "domain", "link")); err != nil {
		t.Fatal(err)
	}
	live := liveProcess(t)
	liveDir := fakeScratch(t, parent, live, ownerLine(live))
	// The same live pid, but the marker records another start time: the
	// pid was recycled, the run that made the directory is gone.
	recycled := filepath.Join(parent, fmt.Sprintf("%s%d.012345", ScratchPrefix, live))
	if err := os.Mkdir(recycled, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(recycled, markerName), []byte(fmt.Sprintf("pid %d start 1\n", live)), 0o600)
	// A directory of a live run without a marker yet is left alone.
	young := fakeScratch(t, parent, os.Getppid(), "")
	// Lookalikes that are not ours: a link named like a scratch
	// directory pointing outside, a plain file, a name without a pid.
	link := filepath.Join(parent, fmt.Sprintf("%s%d.aaaaaa", ScratchPrefix, dead))
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(parent, fmt.Sprintf("%s%d.bbbbbb", ScratchPrefix, dead))
	os.WriteFile(file, nil, 0o600)
	odd := filepath.Join(parent, ScratchPrefix+"notapid")
	os.Mkdir(odd, 0o700)
	other := filepath.Join(parent, "Accounts")
	os.Mkdir(other, 0o700)

	removed, err := RemoveStale(parent)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range removed {
		got[s.Path] = s.Pid
	}
	if len(got) != 2 || got[deadDir] != dead || got[recycled] != live {
		t.Errorf("removed %v, want %s (pid %d) and %s (pid %d)", removed, deadDir, dead, recycled, live)
	}
	for _, p := range []string{deadDir, recycled} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists", p)
		}
	}
	for _, p := range []string{liveDir, young, link, file, odd, other, precious} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was touched: %v", p, err)
		}
	}
}

func TestNewScratchRefusesBadDirs(t *testing.T) {
	parent := t.TempDir()
	file := filepath.Join(parent, "file")
	os.WriteFile(file, nil, 0o600)
	for _, tt := range []struct {
		dir  string
		kind errs.Kind
	}{
		{filepath.Join(parent, "missing"), errs.BadInput},
		{file, errs.BadInput},
	} {
		_, err := NewScratch(tt.dir)
		if err == nil || errs.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.dir) {
			t.Errorf("NewScratch(%s) = %v (kind %v), want a %v error naming it", tt.dir, err, errs.KindOf(err), tt.kind)
		}
	}
}

func TestNewScratchRefusesReadOnlyVolume(t *testing.T) {
	mnt := testfs.Mount(t, 4, "tmpfs")
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v\n%s", err, out)
	}
	_, err := NewScratch(mnt)
	if err == nil || errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), mnt) || !strings.Contains(errs.HintOf(err), "read-only") {
		t.Fatalf("NewScratch on a read-only volume = %v (hint %q), want a refusal naming %s", err, errs.HintOf(err), mnt)
	}
}

func TestScratchRemoveDoesNotFollowLinks(t *testing.T) {
	parent := t.TempDir()
	outside := t.TempDir()
	precious := filepath.Join(outside, "INBOX.mbox")
	os.WriteFile(precious, []byte("mail"), 0o600)
	s, err := NewScratch(parent)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(s.Path), ScratchPrefix+fmt.Sprint(os.Getpid())+".") {
		t.Errorf("scratch %s is not named after this process", s.Path)
	}
	if m := readMarker(s.Path); m != ownerLine(os.Getpid()) {
		t.Errorf("marker = %q", m)
	}
	os.Symlink(outside, filepath.Join(s.Path, "elsewhere"))
	os.Symlink(precious, filepath.Join(s.Path, "mbox-link"))
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Path); !os.IsNotExist(err) {
		t.Errorf("scratch %s still exists", s.Path)
	}
	if b, err := os.ReadFile(precious); err != nil || string(b) != "mail" {
		t.Errorf("file behind a link was touched: %q, %v", b, err)
	}
}
