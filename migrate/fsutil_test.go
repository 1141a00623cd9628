package migrate

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/internal/testfs"
)

// xattrsAt answers as xattrs does through /proc, and xattrs through a
// descriptor as through a path, for entries with and without attributes,
// with more attribute names than the first small buffer holds,
// directories and links, and names one left dangling.
func TestXattrsAtAgreesWithProcPath(t *testing.T) {
	dir := testfs.Scratch(t, "ext4")
	with, without, sub := filepath.Join(dir, "with"), filepath.Join(dir, "without"), filepath.Join(dir, "sub")
	must(t, os.WriteFile(with, []byte("x"), 0o600))
	must(t, os.WriteFile(without, []byte("y"), 0o600))
	must(t, os.Mkdir(sub, 0o700))
	must(t, os.Symlink("with", filepath.Join(dir, "link")))
	must(t, os.Symlink("nowhere", filepath.Join(dir, "dangling")))
	must(t, unix.Setxattr(with, "user.mail.flags", []byte("Seen"), 0))
	must(t, unix.Setxattr(sub, "user.quota.bytes", []byte("7"), 0))
	many := filepath.Join(dir, "many")
	must(t, os.WriteFile(many, []byte("z"), 0o600))
	for i := range 20 { // 20 names of 31 bytes with their NULs: past 256
		must(t, unix.Setxattr(many, fmt.Sprintf("user.cgscale.attribute.%07d", i), []byte{byte(i)}, 0))
	}
	fd, err := openDirAt(unix.AT_FDCWD, dir)
	must(t, err)
	defer unix.Close(fd)
	want := map[string]int{"with": 1, "without": 0, "sub": 1, "link": 0, "dangling": 0, "many": 20}
	for name, n := range want {
		got, err := xattrsAt(fd, name)
		must(t, err)
		slow, err := xattrs(-1, procPath(fd, name))
		must(t, err)
		if len(got) != n || len(slow) != n {
			t.Errorf("%s: %d attributes by xattrsAt, %d through /proc, want %d", name, len(got), len(slow), n)
		}
		for k, v := range slow {
			if string(got[k]) != string(v) {
				t.Errorf("%s: %s is %q by xattrsAt, %q through /proc", name, k, got[k], v)
			}
		}
		if name == "link" || name == "dangling" {
			continue
		}
		f, err := os.Open(filepath.Join(dir, name))
		must(t, err)
		byFd, err := xattrs(int(f.Fd()), "")
		f.Close()
		must(t, err)
		if len(byFd) != n {
			t.Errorf("%s: %d attributes through a descriptor, want %d", name, len(byFd), n)
		}
		for k, v := range slow {
			if string(byFd[k]) != string(v) {
				t.Errorf("%s: %s is %q through a descriptor, %q through /proc", name, k, byFd[k], v)
			}
		}
	}
	if _, err := xattrsAt(fd, "gone"); err == nil {
		t.Error("an absent entry gave no error")
	}
}
