package migrate

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// removeTree deletes parentFd/name and everything below it; path is the
// full path of parentFd/name, for messages. It never follows a symbolic
// link (links are unlinked, directories are opened with O_NOFOLLOW) and
// never descends into another filesystem mounted inside the tree: that is
// an error and the mount stays. Entries that vanish meanwhile are fine.
// Subdirectories are removed by up to jobs goroutines.
func removeTree(ctx context.Context, parentFd int, name, path string, jobs int, counters *Counters) error {
	_, err := removeUnchanged(ctx, parentFd, name, path, jobs, counters, keepChanged{copyFd: -1})
	return err
}

// keepChanged says what removeUnchanged keeps.
type keepChanged struct {
	since time.Time // keep what changed after this; zero: keep nothing
	// again: an earlier run may have deleted part of the tree
	again bool
	// copyFd is the top directory of a copy of the tree (-1: none): what
	// only may have changed goes if the copy holds it
	copyFd int
}

// Changed are the entries a removal kept because they changed after the
// time it was given.
type Changed struct {
	Count int      `json:"count"`
	Paths []string `json:"paths"` // the first ones, relative to the tree
}

// removeUnchanged is removeTree that keeps what changed after since (a
// zero since: nothing is kept): an entry whose status changed then (its
// inode change time; for the top directory, which the swap renamed, its
// modification time) is left in place with the directories above it, and
// so is a directory that gained entries while it was being emptied. A
// move deletes its old tree this way: whatever was written into the
// source after its copy began, and so may be missing from the copy, is
// kept.
//
// A directory that changed may have been renamed in whole, its entries
// keeping their older times: below it, an entry goes only if the copy at
// k.copyFd holds it alike (sameInCopy). A file whose other name this run
// deleted has a later change time for that alone: it goes only if the
// copy holds it at the same path with the same attributes and contents
// (inCopy). With k.again, an earlier run may have deleted part of the
// tree: its deletions changed the directories, so every one is judged
// as changed, and the files whose other names it deleted are judged by
// the copy as above.
func removeUnchanged(ctx context.Context, parentFd int, name, path string, jobs int, counters *Counters, k keepChanged) (*Changed, error) {
	if jobs < 1 {
		jobs = 1
	}
	if counters == nil {
		counters = &Counters{}
	}
	var st unix.Stat_t
	if err := lstatAt(parentFd, name, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return &Changed{}, nil
		}
		return nil, errs.New(errs.Failed, "stat", ShowPath(path), err, "")
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(parentFd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return nil, errs.New(errs.Failed, "remove", ShowPath(path), err, "")
		}
		return &Changed{}, nil
	}
	r := &remover{ctx: ctx, root: path, dev: st.Dev, sem: make(chan struct{}, jobs-1), counters: counters}
	r.copyFd = -1
	if !k.since.IsZero() {
		r.since = unix.NsecToTimespec(k.since.UnixNano())
		r.keeping, r.again, r.copyFd = true, k.again, k.copyFd
		r.unlinked = map[uint64]bool{}
	}
	var top atomic.Bool
	r.dir(parentFd, name, ".", false, &top)
	r.mu.Lock()
	defer r.mu.Unlock()
	return &r.changed, r.recorded()
}

// remover deletes one tree. Its first real error is what removeTree
// returns (see firstErr); a cancellation only stops the work.
type remover struct {
	ctx context.Context
	firstErr
	root     string        // full path of the tree, for messages
	dev      uint64        // the tree's filesystem
	mnt      uint64        // its mount id, from the top directory (0: unknown)
	sem      chan struct{} // tokens for extra goroutines
	counters *Counters

	keeping  bool // keep what changed after since
	again    bool // an earlier run deleted part of the tree
	since    unix.Timespec
	copyFd   int // the copy's top directory, or -1
	mu       sync.Mutex
	changed  Changed         // under mu
	unlinked map[uint64]bool // under mu: files with another name, one of which this run deleted
}

// fileChanged says whether the non-directory st, the entry name in the
// directory fd and rel in the tree, may have changed after r.since, and
// so is kept; suspect: a directory above it changed (see dir).
func (r *remover) fileChanged(fd int, name, rel string, st *unix.Stat_t, suspect bool) bool {
	if r.after(st.Mtim) {
		return true
	}
	if !r.after(st.Ctim) {
		return suspect && !r.sameInCopy(fd, name, rel, st)
	}
	// A later change time alone: a new name (a message renamed or linked
	// in), new attributes, or the unlink of another name of the same
	// file, by this run or by an interrupted one. Only the last may go,
	// and only if the copy holds this very file.
	r.mu.Lock()
	mine := r.unlinked[st.Ino]
	r.mu.Unlock()
	if !mine && !r.again {
		return true
	}
	return !r.inCopy(fd, name, rel, st)
}

// openInCopy opens rel in the copy, without following any symbolic link
// or leaving the copy's filesystem.
func (r *remover) openInCopy(rel string, flags int) (int, error) {
	if r.copyFd < 0 {
		return -1, unix.ENOENT
	}
	return unix.Openat2(r.copyFd, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS})
}

// sameInCopy says whether the copy holds an entry at rel like st, the
// entry name in the directory fd: of the same type, mode, owner and
// extended attributes and, but for a directory (whose times and size its
// own entries change), size and modification time. It judges what did
// not change after r.since in a directory that did: an entry whose
// status is older and that the copy holds as it is was there when the
// copy was verified.
func (r *remover) sameInCopy(fd int, name, rel string, st *unix.Stat_t) bool {
	pfd, err := r.openInCopy(filepath.Dir(rel), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return false
	}
	defer unix.Close(pfd)
	base := filepath.Base(rel)
	var c unix.Stat_t
	if lstatAt(pfd, base, &c) != nil || c.Mode != st.Mode || c.Uid != st.Uid || c.Gid != st.Gid {
		return false
	}
	if c.Mode&unix.S_IFMT != unix.S_IFDIR && (c.Size != st.Size || c.Mtim != st.Mtim) {
		return false
	}
	sx, err := xattrsAt(fd, name)
	if err != nil {
		return false
	}
	cx, err := xattrsAt(pfd, base)
	if err != nil || len(sx) != len(cx) {
		return false
	}
	for k, v := range sx {
		if w, ok := cx[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// inCopy is sameInCopy for a regular file that also compares contents.
// Any doubt says no.
func (r *remover) inCopy(fd int, name, rel string, st *unix.Stat_t) bool {
	if st.Mode&unix.S_IFMT != unix.S_IFREG || !r.sameInCopy(fd, name, rel, st) {
		return false
	}
	cfd, err := r.openInCopy(rel, fileFlags|unix.O_NONBLOCK)
	if err != nil {
		return false
	}
	defer unix.Close(cfd)
	sfd, err := unix.Openat(fd, name, fileFlags|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(sfd)
	var a, b unix.Stat_t
	if unix.Fstat(sfd, &a) != nil || unix.Fstat(cfd, &b) != nil || a.Ino != st.Ino || a.Size != b.Size {
		return false
	}
	bp := ioBufs.Get().(*[]byte)
	defer ioBufs.Put(bp)
	x, _, err := sumFd(sfd, a.Size, false, *bp)
	if err != nil {
		return false
	}
	y, _, err := sumFd(cfd, b.Size, false, *bp)
	return err == nil && x == y
}

// unlinking notes, before it is unlinked, a file that has other names.
func (r *remover) unlinking(st *unix.Stat_t) {
	if st.Nlink > 1 {
		r.mu.Lock()
		r.unlinked[st.Ino] = true
		r.mu.Unlock()
	}
}

// keep records that the entry rel is kept because it changed.
func (r *remover) keep(rel string) {
	r.mu.Lock()
	r.changed.Count++
	if len(r.changed.Paths) < maxMismatches {
		r.changed.Paths = append(r.changed.Paths, rel)
	}
	r.mu.Unlock()
}

// after: t is later than r.since.
func (r *remover) after(t unix.Timespec) bool {
	return t.Sec > r.since.Sec || (t.Sec == r.since.Sec && t.Nsec > r.since.Nsec)
}

func (r *remover) path(rel string) string { return under(r.root, rel) }

// dir empties and removes parentFd/name, which is rel in the tree; when
// it keeps anything (r.keeping), it leaves the directory and sets kept,
// its parent's flag. suspect says that a directory above changed after
// r.since (it may have been renamed in, with all it holds): then each
// entry goes only if the copy holds it (see sameInCopy).
func (r *remover) dir(parentFd int, name, rel string, suspect bool, kept *atomic.Bool) {
	if err := r.ctx.Err(); err != nil {
		r.fail(err)
		return
	}
	fd, err := openDirAt(parentFd, name)
	if errors.Is(err, unix.ENOENT) {
		return
	}
	if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		// replaced by a file or a link meanwhile: remove the name only
		if err := unix.Unlinkat(parentFd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			r.fail(errs.New(errs.Failed, "remove", r.path(rel), err, ""))
		}
		return
	}
	if err != nil {
		r.fail(errs.New(errs.Failed, "open directory", r.path(rel), err, ""))
		return
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	var mnt uint64
	if err == nil {
		mnt, err = mountOf(fd)
	}
	if err != nil {
		unix.Close(fd)
		r.fail(errs.New(errs.Failed, "stat", r.path(rel), err, ""))
		return
	}
	if rel == "." {
		r.mnt = mnt // before any other goroutine starts
	}
	if st.Dev != r.dev || mnt != r.mnt {
		unix.Close(fd)
		r.fail(errs.Errorf(errs.Failed, "remove", r.path(rel), "unmount it, then run again",
			mountedHere+"; cgscale does not delete into it"))
		return
	}
	var here atomic.Bool // something in this directory is kept
	if r.keeping {
		t := st.Ctim
		if rel == "." { // renamed by the swap: its change time is that of the swap
			t = st.Mtim
		}
		// After an earlier run's deletions no directory's change time
		// tells anything: all are suspect.
		if r.again || r.after(t) {
			suspect = true
		}
		if (!r.again && r.after(t)) || (suspect && rel != "." && !r.sameInCopy(parentFd, name, rel, &st)) {
			r.keep(rel)
			here.Store(true)
		}
	}
	ents, err := readDirents(fd)
	if err != nil {
		unix.Close(fd)
		r.fail(errs.New(errs.Failed, "read directory", r.path(rel), err, ""))
		return
	}
	sortByInode(ents)
	var wg sync.WaitGroup
	for _, e := range ents {
		n := e.name
		if r.ctx.Err() != nil {
			r.fail(r.ctx.Err())
			break
		}
		if r.recorded() != nil {
			break
		}
		child := childRel(rel, n)
		if e.typ == unix.DT_DIR {
			spread(r.sem, &wg, func() { r.dir(fd, n, child, suspect, &here) })
			continue
		}
		if r.keeping {
			var est unix.Stat_t
			err := lstatAt(fd, n, &est)
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			if err != nil {
				r.fail(errs.New(errs.Failed, "stat", r.path(child), err, ""))
				break
			}
			if est.Mode&unix.S_IFMT == unix.S_IFDIR {
				spread(r.sem, &wg, func() { r.dir(fd, n, child, suspect, &here) })
				continue
			}
			if r.fileChanged(fd, n, child, &est, suspect) {
				r.keep(child)
				here.Store(true)
				continue
			}
			r.unlinking(&est)
		}
		// Try the name as a non-directory first (its type may be unknown,
		// or stale): one call for most entries.
		err := unix.Unlinkat(fd, n, 0)
		if err == nil || errors.Is(err, unix.ENOENT) {
			r.counters.Entries.Add(1)
			continue
		}
		if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
			r.fail(errs.New(errs.Failed, "remove", r.path(child), err, ""))
			break
		}
		spread(r.sem, &wg, func() { r.dir(fd, n, child, suspect, &here) })
	}
	wg.Wait()
	unix.Close(fd)
	if r.recorded() != nil {
		return
	}
	if here.Load() {
		kept.Store(true)
		return
	}
	err = unix.Unlinkat(parentFd, name, unix.AT_REMOVEDIR)
	if r.keeping && errors.Is(err, unix.ENOTEMPTY) {
		// Entries came in after the directory was read: they are new.
		r.keep(rel)
		kept.Store(true)
		return
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		r.fail(errs.New(errs.Failed, "remove directory", r.path(rel), err, ""))
		return
	}
	r.counters.Entries.Add(1)
}
