package migrate

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames without ever replacing an existing target
// (renameat2 RENAME_NOREPLACE). Filesystems without the flag get a checked
// plain rename; the store lock keeps other cgscale runs out meanwhile.
func renameNoReplace(oldfd int, oldname string, newfd int, newname string) error {
	err := unix.Renameat2(oldfd, oldname, newfd, newname, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(newfd, newname, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return unix.EEXIST
	}
	return unix.Renameat(oldfd, oldname, newfd, newname)
}

// syncFS flushes the whole filesystem holding fd, one call per batch.
func syncFS(fd int) error { return unix.Syncfs(fd) }

// readOnlyFS reports whether statfs says the filesystem is mounted read-only.
func readOnlyFS(s *unix.Statfs_t) bool { return s.Flags&unix.ST_RDONLY != 0 }
