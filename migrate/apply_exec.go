package migrate

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// DefaultBatch is how many operations go between two journal records.
// The journal is synced and the filesystem flushed once per batch, never
// per rename.
const DefaultBatch = 1000

// ApplyCounters are the executor's progress, read by one progress
// goroutine while the executor bumps them.
type ApplyCounters struct {
	Done  atomic.Int64 // operations finished (or found finished)
	Total atomic.Int64
}

// batchLog is what the executor needs of a journal: a durable record of
// intent before a batch is touched, and a record that it finished.
type batchLog interface {
	intent(first, end int) error
	done(first, end int) error
}

// opState is what the store says about one operation.
type opState int

const (
	statePending opState = iota // source as planned, target absent
	stateDone                   // source absent, target holds the planned entry
)

// executor carries out plan operations on the store. It holds one open
// descriptor per container, so renames resolve names relative to the
// container and never follow a link swapped in above it.
type executor struct {
	p     *Plan
	fds   map[string]int // container Dir -> O_DIRECTORY descriptor
	convs map[string]*Conversion
}

func newExecutor(p *Plan) *executor {
	x := &executor{p: p, fds: map[string]int{}, convs: map[string]*Conversion{}}
	for i := range p.Conversions {
		x.convs[p.Conversions[i].Dir] = &p.Conversions[i]
	}
	return x
}

// statContainer stats container c as planned: through its link when the
// plan says it is a relocated directory, else the entry itself (a link
// put there since is then another file, never followed).
func (x *executor) statContainer(c *Conversion, st *unix.Stat_t) error {
	if c.LinkedTo != "" {
		return unix.Stat(x.abs(c.Dir), st)
	}
	return unix.Lstat(x.abs(c.Dir), st)
}

func (x *executor) close() {
	for _, fd := range x.fds {
		unix.Close(fd)
	}
	x.fds = map[string]int{}
}

func (x *executor) abs(rel string) string {
	return filepath.Join(x.p.Base, filepath.FromSlash(rel))
}

// dirFd returns the descriptor of container dir, opening it on first use.
func (x *executor) dirFd(dir string) (int, error) {
	if fd, ok := x.fds[dir]; ok {
		return fd, nil
	}
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	c := x.convs[dir]
	if c == nil || c.LinkedTo == "" {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Open(x.abs(dir), flags, 0)
	if err != nil {
		return -1, errs.New(errs.Failed, "open", x.abs(dir), err, "")
	}
	// The directory opened must be the one planned (through a link, the
	// one it led to): a link changed since would move the renames
	// elsewhere.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, errs.New(errs.Failed, "stat", x.abs(dir), err, "")
	}
	if c != nil && (uint64(st.Dev) != c.Dev || st.Ino != c.Ino) {
		unix.Close(fd)
		return -1, stale(x.abs(dir), "is another directory now (device or inode differ)")
	}
	x.fds[dir] = fd
	return fd, nil
}

// rel returns op paths relative to its container.
func opRel(dir, p string) string { return strings.TrimPrefix(p, dir+"/") }

// state inspects the store for op. It returns an error naming the first
// difference when the store is neither as planned nor as after the op.
func (x *executor) state(op Op) (opState, error) {
	fd, err := x.dirFd(op.Dir)
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	terr := unix.Fstatat(fd, opRel(op.Dir, op.Target), &st, unix.AT_SYMLINK_NOFOLLOW)
	if op.Op == OpMkdir {
		switch {
		case terr == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			return stateDone, nil
		case terr == nil:
			return 0, stale(x.abs(op.Target), "exists and is not a directory")
		case errors.Is(terr, unix.ENOENT):
			return statePending, nil
		}
		return 0, errs.New(errs.Failed, "stat", x.abs(op.Target), terr, "")
	}
	targetThere := terr == nil
	if targetThere && uint64(st.Dev) == op.Dev && st.Ino == op.Ino {
		var sst unix.Stat_t
		if serr := unix.Fstatat(fd, opRel(op.Dir, op.Source), &sst, unix.AT_SYMLINK_NOFOLLOW); errors.Is(serr, unix.ENOENT) {
			return stateDone, nil
		}
	}
	if terr != nil && !errors.Is(terr, unix.ENOENT) {
		return 0, errs.New(errs.Failed, "stat", x.abs(op.Target), terr, "")
	}
	var sst unix.Stat_t
	serr := unix.Fstatat(fd, opRel(op.Dir, op.Source), &sst, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(serr, unix.ENOENT):
		return 0, stale(x.abs(op.Source), "is missing (and the planned target is not there either)")
	case serr != nil:
		return 0, errs.New(errs.Failed, "stat", x.abs(op.Source), serr, "")
	case uint64(sst.Dev) != op.Dev || sst.Ino != op.Ino:
		return 0, stale(x.abs(op.Source), fmt.Sprintf("is another file now (device %d inode %d, planned device %d inode %d)", sst.Dev, sst.Ino, op.Dev, op.Ino))
	case sst.Mtim.Nano() != op.MtimeNS:
		return 0, stale(x.abs(op.Source), fmt.Sprintf("was modified after planning (mtime %d, planned %d)", sst.Mtim.Nano(), op.MtimeNS))
	case targetThere:
		return 0, errs.Errorf(errs.Refused, "check target", x.abs(op.Target),
			"remove or rename the entry in the way, then plan again", "target already exists")
	}
	return statePending, nil
}

func stale(path, what string) error {
	return errs.Errorf(errs.Refused, "check plan", path,
		"the store changed since the plan was made; run `cgscale plan` again", "%s", what)
}

// checkContainers compares each converted container with its planned
// identity. A changed modification time means an entry was added or
// removed since planning, so the plan would miss it.
func (x *executor) checkContainers() error {
	for _, c := range x.p.Conversions {
		var st unix.Stat_t
		if err := x.statContainer(&c, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return stale(x.abs(c.Dir), "is missing")
			}
			return errs.New(errs.Failed, "stat", x.abs(c.Dir), err, "")
		}
		switch {
		case uint64(st.Dev) != c.Dev || st.Ino != c.Ino:
			return stale(x.abs(c.Dir), "is another directory now (device or inode differ)")
		case st.Mtim.Nano() != c.MtimeNS:
			return stale(x.abs(c.Dir), "was modified after planning (an entry was added, removed or renamed)")
		}
	}
	return nil
}

// preflight checks every operation from index from on against the store.
// With resuming false the store must be exactly as planned; with resuming
// true an operation may also be found already done.
func (x *executor) preflight(from int, resuming bool) error {
	if !resuming {
		if err := x.checkContainers(); err != nil {
			return err
		}
	}
	for i := from; i < len(x.p.Ops); i++ {
		op := x.p.Ops[i]
		if op.Op == OpRelocate {
			continue
		}
		s, err := x.state(op)
		if err != nil {
			return err
		}
		if s == stateDone && !resuming {
			if op.Op == OpMkdir {
				return errs.Errorf(errs.Refused, "check target", x.abs(op.Target),
					"the store changed since the plan was made; run `cgscale plan` again", "subdirectory already exists")
			}
			return stale(x.abs(op.Source), "was already moved to "+op.Target)
		}
	}
	return nil
}

// do carries out one operation; an operation found done is not an error.
func (x *executor) do(op Op) error {
	fd, err := x.dirFd(op.Dir)
	if err != nil {
		return err
	}
	target := opRel(op.Dir, op.Target)
	switch op.Op {
	case OpMkdir:
		err := unix.Mkdirat(fd, target, 0o755)
		if err == nil {
			return nil
		}
		if errors.Is(err, unix.EEXIST) {
			if s, serr := x.state(op); serr == nil && s == stateDone {
				return nil
			}
		}
		return errs.New(errs.Failed, "create directory", x.abs(op.Target), err, "")
	case OpRename:
		err := renameNoReplace(fd, opRel(op.Dir, op.Source), fd, target)
		if err == nil {
			return nil
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EEXIST) {
			s, serr := x.state(op)
			if serr != nil {
				return serr
			}
			if s == stateDone {
				return nil
			}
		}
		return errs.New(errs.Failed, "rename", x.abs(op.Source), err, "free space or fix the error, then run `cgscale apply --resume`")
	}
	return nil
}

// flush makes the renames and directories of a batch durable: one syncfs
// per filesystem touched rather than one fsync per entry.
func (x *executor) flush() error {
	seen := map[uint64]bool{}
	for dir, fd := range x.fds {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return errs.New(errs.Failed, "stat", x.abs(dir), err, "")
		}
		if seen[uint64(st.Dev)] {
			continue
		}
		seen[uint64(st.Dev)] = true
		if err := syncFS(fd); err != nil {
			return errs.New(errs.Failed, "sync filesystem", x.abs(dir), err, "")
		}
	}
	return nil
}

// run executes operations [from, end) in batches: intent (durable), the
// operations, flush, done. Relocations are not run here. It stops between
// operations when ctx is cancelled and returns an Interrupted error.
func (x *executor) run(ctx context.Context, from, end, batch int, log batchLog, cnt *ApplyCounters) error {
	if batch <= 0 {
		batch = DefaultBatch
	}
	for first := from; first < end; first += batch {
		last := min(first+batch, end)
		if err := log.intent(first, last); err != nil {
			return err
		}
		for i := first; i < last; i++ {
			if err := ctx.Err(); err != nil {
				_ = x.flush()
				return errs.New(errs.Interrupted, "apply", x.p.Base, err, "run `"+x.p.applyCmd("--resume")+"` to finish, or --undo to go back")
			}
			op := x.p.Ops[i]
			if op.Op == OpRelocate {
				continue
			}
			if err := x.do(op); err != nil {
				return err
			}
			if cnt != nil {
				cnt.Done.Add(1)
			}
		}
		if err := x.flush(); err != nil {
			return err
		}
		if err := log.done(first, last); err != nil {
			return err
		}
	}
	return nil
}

// undo reverses operations [0, end) in reverse order: renames go back,
// created subdirectories are removed when empty. It is idempotent, so an
// interrupted undo is finished by running it again. Subdirectories that
// are not empty (something else was put there) are kept and listed.
func (x *executor) undo(ctx context.Context, end int, cnt *ApplyCounters) (kept []string, err error) {
	for i := end - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			_ = x.flush()
			return kept, errs.New(errs.Interrupted, "undo", x.p.Base, err, "run `"+x.p.applyCmd("--undo")+"` again to finish going back")
		}
		op := x.p.Ops[i]
		if cnt != nil {
			cnt.Done.Add(1)
		}
		fd, err := x.dirFd(op.Dir)
		if err != nil {
			return kept, err
		}
		target := opRel(op.Dir, op.Target)
		switch op.Op {
		case OpMkdir:
			err := unix.Unlinkat(fd, target, unix.AT_REMOVEDIR)
			switch {
			case err == nil, errors.Is(err, unix.ENOENT):
			case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
				kept = append(kept, x.abs(op.Target))
			default:
				return kept, errs.New(errs.Failed, "remove directory", x.abs(op.Target), err, "")
			}
		case OpRename:
			var st unix.Stat_t
			terr := unix.Fstatat(fd, target, &st, unix.AT_SYMLINK_NOFOLLOW)
			if errors.Is(terr, unix.ENOENT) {
				continue // never moved, or already moved back
			}
			if terr != nil {
				return kept, errs.New(errs.Failed, "stat", x.abs(op.Target), terr, "")
			}
			if uint64(st.Dev) != op.Dev || st.Ino != op.Ino {
				return kept, errs.Errorf(errs.Refused, "undo", x.abs(op.Target),
					"something else was put there after apply; move it away and run --undo again",
					"is not the entry apply moved there (inode %d, expected %d)", st.Ino, op.Ino)
			}
			if err := renameNoReplace(fd, target, fd, opRel(op.Dir, op.Source)); err != nil {
				return kept, errs.New(errs.Failed, "rename back", x.abs(op.Target), err, "the original name may be taken; move that entry away and run --undo again")
			}
		}
	}
	if err := x.flush(); err != nil {
		return kept, err
	}
	if len(kept) > 0 {
		return kept, nil
	}
	// The containers' times changed with every rename: put them back.
	for _, c := range x.p.Conversions {
		ts := []unix.Timespec{unix.NsecToTimespec(c.AtimeNS), unix.NsecToTimespec(c.MtimeNS)}
		flags := unix.AT_SYMLINK_NOFOLLOW
		if c.LinkedTo != "" {
			flags = 0 // the directory the link leads to
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, x.abs(c.Dir), ts, flags); err != nil {
			return kept, errs.New(errs.Failed, "restore times", x.abs(c.Dir), err, "")
		}
	}
	return kept, x.flush()
}

// verify checks every operation is done: each target holds the planned
// entry and each source is gone.
func (x *executor) verify(end int) error {
	for i := 0; i < end; i++ {
		op := x.p.Ops[i]
		if op.Op == OpRelocate {
			continue
		}
		s, err := x.state(op)
		if err != nil {
			return err
		}
		if s != stateDone {
			return errs.Errorf(errs.Failed, "verify", x.abs(op.Target), "run `"+x.p.applyCmd("--resume")+"`", "operation %d (%s %s) is not done", i+1, op.Op, path.Base(op.Target))
		}
	}
	return nil
}
