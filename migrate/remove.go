package migrate

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// removeTree deletes parentFd/name and everything below it. It never
// follows a symbolic link (links are unlinked, directories are opened with
// O_NOFOLLOW) and never descends into another filesystem mounted inside
// the tree: that is an error and the mount stays. Entries that vanish
// meanwhile are fine. Subdirectories are removed by up to jobs goroutines.
func removeTree(ctx context.Context, parentFd int, name string, jobs int, counters *Counters) error {
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
		return errs.New(errs.Failed, "stat", showPath(name), err, "")
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(parentFd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return errs.New(errs.Failed, "remove", showPath(name), err, "")
		}
		return nil
	}
	r := &remover{ctx: ctx, dev: st.Dev, sem: make(chan struct{}, jobs-1), counters: counters}
	if err := r.dir(parentFd, name, name); err != nil {
		return err
	}
	return nil
}

type remover struct {
	ctx      context.Context
	dev      uint64
	sem      chan struct{} // tokens for extra goroutines
	counters *Counters
}

// dir empties and removes parentFd/name; rel names it in errors.
func (r *remover) dir(parentFd int, name, rel string) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	fd, err := openDirAt(parentFd, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		// replaced by a file or a link meanwhile: remove the name only
		if err := unix.Unlinkat(parentFd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return errs.New(errs.Failed, "remove", showPath(rel), err, "")
		}
		return nil
	}
	if err != nil {
		return errs.New(errs.Failed, "open directory", showPath(rel), err, "")
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return errs.New(errs.Failed, "stat", showPath(rel), err, "")
	}
	if st.Dev != r.dev {
		unix.Close(fd)
		return errs.Errorf(errs.Failed, "remove", showPath(rel), "unmount it, then run again",
			"another filesystem is mounted here; cgscale does not delete into it")
	}
	names, err := listDir(fd)
	if err != nil {
		unix.Close(fd)
		return errs.New(errs.Failed, "read directory", showPath(rel), err, "")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	setErr := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for _, n := range names {
		if r.ctx.Err() != nil {
			setErr(r.ctx.Err())
			break
		}
		// Try the name as a non-directory first: one call for most entries.
		err := unix.Unlinkat(fd, n, 0)
		if err == nil || errors.Is(err, unix.ENOENT) {
			r.counters.Entries.Add(1)
			continue
		}
		if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
			setErr(errs.New(errs.Failed, "remove", showPath(rel+"/"+n), err, ""))
			break
		}
		child := rel + "/" + n
		select {
		case r.sem <- struct{}{}:
			wg.Add(1)
			go func(n, child string) {
				defer wg.Done()
				defer func() { <-r.sem }()
				if err := r.dir(fd, n, child); err != nil {
					setErr(err)
				}
			}(n, child)
		default:
			if err := r.dir(fd, n, child); err != nil {
				setErr(err)
			}
		}
	}
	wg.Wait()
	unix.Close(fd)
	if first != nil {
		return first
	}
	if err := unix.Unlinkat(parentFd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return errs.New(errs.Failed, "remove directory", showPath(rel), err, "")
	}
	r.counters.Entries.Add(1)
	return nil
}
