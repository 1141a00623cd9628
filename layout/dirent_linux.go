//go:build linux

package layout

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Directory reading on Linux.
//
// This file and dirent_other.go are the only code in the project that reads
// directory entries. On Linux it calls getdents64 itself instead of using
// godirwalk's Scanner, os.ReadDir or unix.ParseDirent, because all three
// skip entries whose inode number is 0, treating them as deleted slots.
// Linux never hands deleted slots to getdents64, and some FUSE filesystems
// report real entries with inode 0: skipping them would make accounts
// vanish from the audit without an error. Every record the kernel returns
// is therefore kept, except "." and "..".
//
// Directories are opened relative to their parent's descriptor where the
// walker has one (openat), so trees deeper than PATH_MAX can be read.

// Entry types as the walker sees them.
const (
	typeUnknown uint8 = iota // the filesystem did not say: lstat to learn it
	typeDir
	typeFile
	typeLink
	typeOther
)

// dirBufSize is the getdents64 buffer; one per open directory level.
const dirBufSize = 32 << 10

// dirHandle is an open directory.
type dirHandle struct {
	fd int
}

const openFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NONBLOCK

// openDir opens the directory name inside parent, or the directory at path
// when parent is nil. The last component is never followed when it is a
// symbolic link unless follow is set.
func openDir(parent *dirHandle, name, path string, follow bool) (*dirHandle, error) {
	flags := openFlags
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	var err error
	if parent != nil {
		fd, err = openatRetry(parent.fd, name, flags)
	} else {
		fd, err = openLong(path, flags)
	}
	if err != nil {
		return nil, err
	}
	return &dirHandle{fd: fd}, nil
}

func openatRetry(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// openLong opens path, walking it one piece at a time with openat when it
// is longer than the kernel accepts in one call.
func openLong(path string, flags int) (int, error) {
	if len(path) < unix.PathMax {
		return openatRetry(unix.AT_FDCWD, path, flags)
	}
	dirfd := unix.AT_FDCWD
	rest := path
	for len(rest) >= unix.PathMax {
		// Cut at the last separator that leaves a piece short enough.
		cut := strings.LastIndexByte(rest[:unix.PathMax-1], '/')
		if cut <= 0 {
			if dirfd != unix.AT_FDCWD {
				unix.Close(dirfd)
			}
			return -1, unix.ENAMETOOLONG
		}
		fd, err := openatRetry(dirfd, rest[:cut], openFlags)
		if dirfd != unix.AT_FDCWD {
			unix.Close(dirfd)
		}
		if err != nil {
			return -1, err
		}
		dirfd, rest = fd, strings.TrimLeft(rest[cut:], "/")
	}
	fd, err := openatRetry(dirfd, rest, flags)
	if dirfd != unix.AT_FDCWD {
		unix.Close(dirfd)
	}
	return fd, err
}

func (h *dirHandle) close() { unix.Close(h.fd) }

// each calls fn for every entry, streaming: the directory is read one
// buffer at a time and never held whole. name is only valid during the
// call. buf is the caller's reusable buffer.
func (h *dirHandle) each(buf []byte, fn func(name []byte, typ uint8) error) error {
	for {
		n, err := unix.Getdents(h.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("getdents64", err)
		}
		if n <= 0 {
			return nil
		}
		if err := ParseDirents(buf[:n], func(name []byte, _ uint64, dtype uint8) error {
			return fn(name, direntType(dtype))
		}); err != nil {
			return err
		}
	}
}

// linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name.
const (
	direntReclenOff = 16
	direntTypeOff   = 18
	direntNameOff   = 19
)

// ParseDirents decodes getdents64 records: fn gets each entry's name (valid
// only during the call), inode number and d_type (unix.DT_*), "." and ".."
// excepted. Records with inode 0 are kept (see the comment at the top of
// this file). It is the project's one decoder of directory records: the
// walker's, and migrate's.
func ParseDirents(b []byte, fn func(name []byte, ino uint64, dtype uint8) error) error {
	for len(b) >= direntNameOff {
		reclen := int(binary.NativeEndian.Uint16(b[direntReclenOff:]))
		if reclen < direntNameOff || reclen > len(b) {
			return os.NewSyscallError("getdents64", unix.EBADMSG)
		}
		name := b[direntNameOff:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		ino, typ := binary.NativeEndian.Uint64(b), b[direntTypeOff]
		b = b[reclen:]
		if len(name) == 0 || name[0] == '.' && (len(name) == 1 || len(name) == 2 && name[1] == '.') {
			continue
		}
		if err := fn(name, ino, typ); err != nil {
			return err
		}
	}
	return nil
}

func direntType(t uint8) uint8 {
	switch t {
	case unix.DT_DIR:
		return typeDir
	case unix.DT_REG:
		return typeFile
	case unix.DT_LNK:
		return typeLink
	case unix.DT_UNKNOWN:
		return typeUnknown
	}
	return typeOther
}

// fileInfo is what the walker needs of an lstat or stat.
type fileInfo struct {
	typ       uint8
	dev, ino  uint64
	size      int64
	allocated int64 // bytes of allocated blocks
}

func fromStat(st *unix.Stat_t) fileInfo {
	fi := fileInfo{dev: st.Dev, ino: st.Ino, size: st.Size, allocated: st.Blocks * 512}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fi.typ = typeDir
	case unix.S_IFREG:
		fi.typ = typeFile
	case unix.S_IFLNK:
		fi.typ = typeLink
	default:
		fi.typ = typeOther
	}
	return fi
}

// lstat describes the entry name of h without following a link.
func (h *dirHandle) lstat(name string) (fileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(h.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fileInfo{}, os.NewSyscallError("lstat", err)
	}
	return fromStat(&st), nil
}

// stat describes the entry name of h, following a link.
func (h *dirHandle) stat(name string) (fileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(h.fd, name, &st, 0); err != nil {
		return fileInfo{}, os.NewSyscallError("stat", err)
	}
	return fromStat(&st), nil
}

// self describes the open directory itself.
func (h *dirHandle) self() (fileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstat(h.fd, &st); err != nil {
		return fileInfo{}, os.NewSyscallError("fstat", err)
	}
	return fromStat(&st), nil
}

// readlink returns the text of the link name in h.
func (h *dirHandle) readlink(name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(h.fd, name, buf)
		if err != nil {
			return "", os.NewSyscallError("readlink", err)
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// fsidOf returns the filesystem id (statfs f_fsid, in the form the move
// journal records) of the filesystem holding path, links followed; "" when
// it cannot be read.
func fsidOf(path string) string {
	var sfs unix.Statfs_t
	if unix.Statfs(path, &sfs) != nil {
		return ""
	}
	return fmt.Sprintf("%08x%08x", uint32(sfs.Fsid.Val[0]), uint32(sfs.Fsid.Val[1]))
}

// devName writes a device number as major:minor.
func devName(dev uint64) string {
	return fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
}
