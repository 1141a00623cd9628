package migrate

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/layout"
)

// listDir returns the names in the open directory fd, without "." and "..".
func listDir(fd int) ([]string, error) {
	ents, err := readDirents(fd)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.name
	}
	return names, nil
}

// dirent is one entry of a directory as the kernel lists it: its inode
// number and its type (unix.DT_UNKNOWN where the filesystem does not say).
type dirent struct {
	name string
	ino  uint64
	typ  uint8
}

// sortByInode puts ents in inode order, the order of the inode table on
// disk: the entries of a large directory are then deleted without the
// filesystem updating its inode blocks at random.
func sortByInode(ents []dirent) {
	sort.Slice(ents, func(i, j int) bool { return ents[i].ino < ents[j].ino })
}

// direntBufs holds getdents buffers: a move reads every directory of the
// tree three or four times, and a fresh 32 KiB buffer each time made most
// of the garbage the collector had to chase.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// readDirents lists the directory fd, freshly opened (it reads on from
// the descriptor's position), without "." and "..", with
// layout's decoder, which keeps entries whose inode number reads as zero
// (some FUSE filesystems report real entries that way): nothing is
// silently dropped.
func readDirents(fd int) ([]dirent, error) {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	var ents []dirent
	add := func(name []byte, ino uint64, dtype uint8) error {
		ents = append(ents, dirent{name: string(name), ino: ino, typ: dtype})
		return nil
	}
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return ents, nil
		}
		if err := layout.ParseDirents(buf[:n], add); err != nil {
			return nil, err
		}
	}
}

const (
	dirFlags  = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fileFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY
)

// ioBufs holds the 1 MiB buffers that file copies and content checks
// read into (a *[]byte each).
var ioBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func openDirAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, dirFlags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// preadFull reads len(b) bytes at off, fewer only at the end of the file.
func preadFull(fd int, b []byte, off int64) (int, error) {
	got := 0
	for got < len(b) {
		n, err := unix.Pread(fd, b[got:], off+int64(got))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return got, err
		}
		if n == 0 {
			break
		}
		got += n
	}
	return got, nil
}

// mountOf is the id of the mount holding the open file fd, or 0 where
// the kernel does not say (before Linux 5.8). A bind mount of a directory
// of the same filesystem has the device number of the tree around it;
// only its mount id tells it apart.
func mountOf(fd int) (uint64, error) { return mountAt(fd, "", unix.AT_EMPTY_PATH) }

// mountAt is mountOf for the entry path relative to dirfd (not following
// a final symbolic link).
func mountAt(dirfd int, path string, flags int) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(dirfd, path, flags|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, err
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, nil
	}
	return stx.Mnt_id, nil
}

// mountedHere is the message of a directory inside a tree that is the root
// of another mount: another filesystem, or a bind mount.
const mountedHere = "another filesystem or a bind mount is mounted here"

func lstatAt(dirfd int, name string, st *unix.Stat_t) error {
	return unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
}

func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// procPath names entry name of the open directory dirfd by a short path,
// for calls that have no *at form (the l*xattr family).
func procPath(dirfd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
}

// xattrsAt is xattrs for entry name of the open directory dirfd, not
// following a final link. Where the kernel has listxattrat (Linux 6.13) it
// first asks that, which spares the lookup through /proc that most
// entries, having no attributes, would pay for nothing; any other answer
// than "none" is read the long way.
func xattrsAt(dirfd int, name string) (map[string][]byte, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return nil, err
	}
	var buf [256]byte
	n, _, e := unix.Syscall6(unix.SYS_LISTXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), unix.AT_SYMLINK_NOFOLLOW,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
	if e == 0 && n == 0 {
		return nil, nil
	}
	return xattrs(-1, procPath(dirfd, name))
}

// xattrs lists the extended attributes of an open file (fd >= 0) or of the
// entry path (fd < 0, not following a final link) with their values.
func xattrs(fd int, path string) (map[string][]byte, error) {
	// Most entries have no attributes: the first answer comes into a
	// buffer on the stack, so that "none" allocates nothing.
	var small [256]byte
	buf := small[:]
	n, err := listx(fd, path, buf)
	for errors.Is(err, unix.ERANGE) {
		if n, err = listx(fd, path, nil); err != nil {
			break
		}
		buf = make([]byte, n+256)
		n, err = listx(fd, path, buf)
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	out := map[string][]byte{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		val := make([]byte, 256)
		m, err := getx(fd, path, name, val)
		for errors.Is(err, unix.ERANGE) {
			if m, err = getx(fd, path, name, nil); err != nil {
				break
			}
			val = make([]byte, m+64)
			m, err = getx(fd, path, name, val)
		}
		if errors.Is(err, unix.ENODATA) { // removed meanwhile
			continue
		}
		if err != nil {
			return nil, &xattrError{name: name, err: err}
		}
		out[name] = val[:m]
	}
	return out, nil
}

type xattrError struct {
	name string
	err  error
}

func (e *xattrError) Error() string { return "attribute " + e.name + ": " + e.err.Error() }
func (e *xattrError) Unwrap() error { return e.err }

// listx and getx are listxattr and getxattr on the open file fd, or on
// path (not following a final link) when fd < 0.
func listx(fd int, path string, b []byte) (int, error) {
	if fd >= 0 {
		return unix.Flistxattr(fd, b)
	}
	return unix.Llistxattr(path, b)
}

func getx(fd int, path, name string, b []byte) (int, error) {
	if fd >= 0 {
		return unix.Fgetxattr(fd, name, b)
	}
	return unix.Lgetxattr(path, name, b)
}

// ShowPath makes a path printable: names that are not valid UTF-8 or hold
// control characters are quoted Go-style, so the bytes can be recovered.
//
// Results (Changed, Mismatch, XattrLoss, LinkRewrite, OutsideLink) hold
// paths as they are, byte for byte, for --json; text output and messages
// pass them through ShowPath.
func ShowPath(p string) string {
	if utf8.ValidString(p) && !strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return p
	}
	return strconv.Quote(p)
}

// isNoSpace tells errors that mean the target is full (blocks, inodes,
// directory index, quota, file size limit).
func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) || errors.Is(err, unix.EFBIG)
}

// under names entry rel of the tree at root for messages: the full path,
// made printable. rel "." or "" is root itself.
func under(root, rel string) string {
	switch {
	case rel == "" || rel == ".":
		return ShowPath(root)
	case root == "":
		return ShowPath(rel)
	}
	return ShowPath(strings.TrimSuffix(root, "/") + "/" + rel)
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// futimens sets the access and modification times of the file open at fd
// (utimensat with no path: no lookup by name).
func futimens(fd int, ts []unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func timespecs(st *unix.Stat_t) []unix.Timespec {
	return []unix.Timespec{st.Atim, st.Mtim}
}

// firstErr keeps the first error of a pool of workers (the copier's, the
// verifier's, the remover's); recording it cancels the pool's context so
// the rest stop. A real error always wins over a cancellation: the
// cancellation it caused, or one that merely raced with it, is never what
// the pool reports when something actually failed.
type firstErr struct {
	errMu  sync.Mutex
	err    error
	cancel context.CancelFunc // may be nil
}

func (f *firstErr) fail(err error) {
	if err == nil {
		return
	}
	f.errMu.Lock()
	if f.err == nil || (isCanceled(f.err) && !isCanceled(err)) {
		f.err = err
	}
	f.errMu.Unlock()
	if f.cancel != nil {
		f.cancel()
	}
}

func (f *firstErr) recorded() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return f.err
}

// isCanceled tells an error that only says the work was cancelled.
func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled)
}

// wait waits for the workers and returns the first error, or the caller's
// context's error when it was cancelled and no worker failed.
func (f *firstErr) wait(ctx context.Context, wg *sync.WaitGroup) error {
	wg.Wait()
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if f.err == nil && ctx.Err() != nil {
		f.err = ctx.Err()
	}
	return f.err
}

// spread runs f in a new goroutine, counted in wg, when a token of sem is
// free (the token is held until f returns), and here otherwise. The pools
// that walk trees use it to hand whole directories to other goroutines.
func spread(sem chan struct{}, wg *sync.WaitGroup, f func()) {
	select {
	case sem <- struct{}{}:
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f()
		}()
	default:
		f()
	}
}

// spreadRange calls f over [0, n) in chunks of entries, each chunk through
// spread: so the entries of one large directory (a flat domain of tens of
// thousands of accounts) are handled in parallel too, not only the
// directories below it.
func spreadRange(sem chan struct{}, wg *sync.WaitGroup, n int, f func(lo, hi int)) {
	const chunk = 64
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		spread(sem, wg, func() { f(lo, hi) })
	}
}
