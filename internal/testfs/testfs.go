// Package testfs gives tests real filesystems: the loop volumes that
// scripts/mkvolumes.sh mounts (found through CGSCALE_VOLUMES), and small
// throwaway volumes a test mounts for itself (a full disk, few inodes).
//
// When a volume cannot be had, the test is skipped with a reason a person
// can act on, unless CGSCALE_REQUIRE_VOLUMES=1 (set by .ci/run), in which
// case it fails: CI never skips the filesystem matrix silently.
package testfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// EnvVolumes names the directory that scripts/mkvolumes.sh filled.
const EnvVolumes = "CGSCALE_VOLUMES"

// EnvRequire, when "1", turns every would-be skip into a failure.
const EnvRequire = "CGSCALE_REQUIRE_VOLUMES"

// Names of the volumes scripts/mkvolumes.sh makes.
var Names = []string{"ext4", "ext4-nodirindex", "ext4-notype", "xfs", "btrfs", "tmpfs"}

// Unavailable skips t, or fails it when volumes are required.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s (%s=1: this run must exercise real volumes)", msg, EnvRequire)
	}
	t.Skip(msg)
}

// Volume returns the mount point of the named volume of scripts/mkvolumes.sh,
// checked to be a mount point.
func Volume(t testing.TB, name string) string {
	t.Helper()
	root := os.Getenv(EnvVolumes)
	if root == "" {
		Unavailable(t, "needs the %s volume: run `sudo scripts/mkvolumes.sh /var/tmp/cgvol` and set %s=/var/tmp/cgvol", name, EnvVolumes)
	}
	dir := filepath.Join(root, name)
	if !IsMountPoint(dir) {
		Unavailable(t, "%s is not a mounted volume: rerun `sudo scripts/mkvolumes.sh %s`", dir, root)
	}
	return dir
}

// Scratch returns a fresh empty directory on the named volume, removed when
// the test ends.
func Scratch(t testing.TB, name string) string {
	t.Helper()
	vol := Volume(t, name)
	dir, err := os.MkdirTemp(vol, strings.ReplaceAll(t.Name(), "/", "_")+".")
	if err != nil {
		t.Fatalf("make a scratch directory on %s: %v", vol, err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// IsMountPoint reports whether dir is on another device than its parent.
func IsMountPoint(dir string) bool {
	var a, b unix.Stat_t
	if unix.Lstat(dir, &a) != nil || unix.Lstat(filepath.Join(dir, ".."), &b) != nil {
		return false
	}
	return a.Dev != b.Dev || a.Ino == b.Ino
}

// Mount makes and mounts a private loop volume of sizeMB megabytes with
// mkfs (for example "mkfs.ext4", "-q", "-N", "512"), or a tmpfs when mkfs
// is "tmpfs". It is unmounted and deleted when the test ends. Needs root.
func Mount(t testing.TB, sizeMB int, mkfs ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "mounting a test volume needs root: run the tests as root (CI does)")
	}
	base := t.TempDir()
	mnt := filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if mkfs[0] == "tmpfs" {
		run(t, "mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMB), "tmpfs", mnt)
	} else {
		if _, err := exec.LookPath(mkfs[0]); err != nil {
			Unavailable(t, "%s is not installed: apt-get install e2fsprogs xfsprogs btrfs-progs", mkfs[0])
		}
		img := filepath.Join(base, "vol.img")
		run(t, "truncate", "-s", fmt.Sprintf("%dM", sizeMB), img)
		run(t, append(mkfs, img)...)
		run(t, "mount", "-o", "loop", img, mnt)
	}
	t.Cleanup(func() {
		if err := exec.Command("umount", mnt).Run(); err != nil {
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	return mnt
}

func run(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
