package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
)

// bindMount mounts dir at at (both on one filesystem, so the mount has
// the device number of the tree around it) until the test ends.
func bindMount(t *testing.T, dir, at string) {
	t.Helper()
	must(t, os.MkdirAll(at, 0o700))
	if err := unix.Mount(dir, at, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount %s at %s: %v", dir, at, err)
	}
	t.Cleanup(func() { unix.Unmount(at, unix.MNT_DETACH) })
}

// outsideMail is a directory beside the store holding one message, the
// data a bind mount brings into the tree; it returns the message's path.
func outsideMail(t *testing.T, base string) (dir, msg string) {
	t.Helper()
	dir = filepath.Join(filepath.Dir(base), "outside")
	must(t, os.MkdirAll(dir, 0o700))
	msg = filepath.Join(dir, "precious.msg")
	must(t, os.WriteFile(msg, []byte("From x\n\nkeep me\n"), 0o600))
	return dir, msg
}

// A bind mount of a directory of the same filesystem inside the tree is
// another mount, though its device number is the tree's: the move does
// not copy it as part of the tree, and above all never deletes into it.
func TestMoveRefusesBindMount(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := genDomain(t, base, 20, 3, false)
	outside, msg := outsideMail(t, base)
	mnt := filepath.Join(firstExtras(t, dom), "Archive.mdir")
	bindMount(t, outside, mnt)
	vol := testfs.Scratch(t, "xfs")
	_, err := runMove(t, dom, vol)
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), mountedHere) || !strings.Contains(err.Error(), mnt) {
		t.Fatalf("move: %v; want a refusal before any change, naming %s", err, mnt)
	}
	if st := lstat(t, dom); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("%s is no longer a directory", dom)
	}
	if _, err := os.Stat(msg); err != nil {
		t.Errorf("the bind-mounted message: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(vol, "Domains", filepath.Base(dom))); !os.IsNotExist(err) {
		t.Errorf("a copy is left on the target (%v)", err)
	}
}

// The deletion stops at a bind mount met inside the tree it deletes,
// whatever let it get there: what the mount shows lives elsewhere.
func TestRemoveTreeStopsAtBindMount(t *testing.T) {
	needRoot(t)
	dir := testfs.Scratch(t, "ext4")
	outside, msg := outsideMail(t, filepath.Join(dir, "store"))
	tree := filepath.Join(dir, "old")
	must(t, os.MkdirAll(filepath.Join(tree, "a.macnt"), 0o700))
	must(t, os.WriteFile(filepath.Join(tree, "a.macnt", "1.msg"), []byte("x"), 0o600))
	mnt := filepath.Join(tree, "a.macnt", "INBOX.mdir")
	bindMount(t, outside, mnt)
	fd := dirFd(t, dir)
	err := removeTree(context.Background(), fd, "old", tree, 2, nil)
	if err == nil || !strings.Contains(err.Error(), mountedHere) || !strings.Contains(err.Error(), mnt) {
		t.Fatalf("removeTree: %v; want a refusal naming %s", err, mnt)
	}
	if _, err := os.Stat(msg); err != nil {
		t.Errorf("the bind-mounted message was deleted: %v", err)
	}
}

// A directory on a relocation volume (VOL/Domains/NAME, no Settings/
// beside Domains/) is no store's: moving it would bypass the store's lock
// and server check, so the move refuses it and names it a volume.
func TestMoveRefusesVolumeAsBase(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := genDomain(t, base, 10, 3, false)
	vol := testfs.Scratch(t, "xfs")
	if _, err := runMove(t, dom, vol); err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(vol, "Domains", filepath.Base(dom))
	again := testfs.Scratch(t, "btrfs")
	_, err := runMove(t, moved, again)
	if errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), "relocation volume") || !strings.Contains(err.Error(), vol) {
		t.Fatalf("moving %s: %v, want a refusal naming %s a relocation volume", moved, err, vol)
	}
	_, err = runMove(t, dom, again)
	if errs.KindOf(err) != errs.Refused || strings.Contains(errs.HintOf(err), "points to") {
		t.Errorf("moving the link %s: %v (hint %q), want refused without advice to move its target", dom, err, errs.HintOf(err))
	}
	if entries, _ := os.ReadDir(again); len(entries) != 0 {
		t.Errorf("the refused moves left %d entries in %s", len(entries), again)
	}
}
