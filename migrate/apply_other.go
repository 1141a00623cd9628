//go:build !linux

package migrate

import "golang.org/x/sys/unix"

// renameNoReplace checks that the target is absent, then renames; the
// store lock keeps other cgscale runs out meanwhile.
func renameNoReplace(oldfd int, oldname string, newfd int, newname string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(newfd, newname, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return unix.EEXIST
	}
	return unix.Renameat(oldfd, oldname, newfd, newname)
}

// syncFS makes the directory's changes durable where syncfs is missing.
func syncFS(fd int) error { return unix.Fsync(fd) }

// readOnlyFS reports whether statfs says the filesystem is mounted read-only.
func readOnlyFS(s *unix.Statfs_t) bool { return s.Flags&unix.MNT_RDONLY != 0 }
