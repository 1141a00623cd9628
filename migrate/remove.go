package migrate

import (
	"context"
	"errors"
	"sync"

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
	if jobs < 1 {
		jobs = 1
	}
	if counters == nil {
		counters = &Counters{}
	}
	var st unix.Stat_t
	if err := lstatAt(parentFd, name, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return errs.New(errs.Failed, "stat", showPath(path), err, "")
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(parentFd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return errs.New(errs.Failed, "remove", showPath(path), err, "")
		}
		return nil
	}
	r := &remover{ctx: ctx, root: path, dev: st.Dev, sem: make(chan struct{}, jobs-1), counters: counters}
	r.dir(parentFd, name, ".")
	return r.recorded()
}

// remover deletes one tree. Its first real error is what removeTree
// returns (see firstErr); a cancellation only stops the work.
type remover struct {
	ctx context.Context
	firstErr
	root     string        // full path of the tree, for messages
	dev      uint64        // the tree's filesystem
	sem      chan struct{} // tokens for extra goroutines
	counters *Counters
}

func (r *remover) path(rel string) string { return under(r.root, rel) }

// dir empties and removes parentFd/name, which is rel in the tree.
func (r *remover) dir(parentFd int, name, rel string) {
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
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		r.fail(errs.New(errs.Failed, "stat", r.path(rel), err, ""))
		return
	}
	if st.Dev != r.dev {
		unix.Close(fd)
		r.fail(errs.Errorf(errs.Failed, "remove", r.path(rel), "unmount it, then run again",
			"another filesystem is mounted here; cgscale does not delete into it"))
		return
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
			spread(r.sem, &wg, func() { r.dir(fd, n, child) })
			continue
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
		spread(r.sem, &wg, func() { r.dir(fd, n, child) })
	}
	wg.Wait()
	unix.Close(fd)
	if r.recorded() != nil {
		return
	}
	if err := unix.Unlinkat(parentFd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		r.fail(errs.New(errs.Failed, "remove directory", r.path(rel), err, ""))
		return
	}
	r.counters.Entries.Add(1)
}
