package testfs

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountedVolumesAreDistinctDevices(t *testing.T) {
	seen := map[uint64]string{}
	for _, name := range Names {
		dir := Volume(t, name)
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[st.Dev]; dup {
			t.Fatalf("%s and %s are on the same device", name, other)
		}
		seen[st.Dev] = name
	}
}

func TestMountTinyVolume(t *testing.T) {
	mnt := Mount(t, 16, "mkfs.ext4", "-q", "-N", "64")
	var sfs unix.Statfs_t
	if err := unix.Statfs(mnt, &sfs); err != nil {
		t.Fatal(err)
	}
	if sfs.Files > 128 {
		t.Fatalf("asked for 64 inodes, the volume has %d", sfs.Files)
	}
	if !IsMountPoint(mnt) {
		t.Fatalf("%s is not a mount point", mnt)
	}
	if err := os.WriteFile(mnt+"/f", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}
