package migrate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// Counters are bumped by the workers of a copy, verify or removal; a
// progress reporter may read them at any time.
type Counters struct {
	Entries atomic.Int64 // entries handled
	Bytes   atomic.Int64 // content bytes copied or checksummed
}

// XattrLoss is one extended attribute that the target refused.
type XattrLoss struct {
	Path string `json:"path"` // relative to the moved tree
	Name string `json:"name"`
	Err  string `json:"error"`
}

// CopyStats counts what a copy made.
type CopyStats struct {
	Dirs        int64       `json:"dirs"`
	Files       int64       `json:"files"`
	HardLinks   int64       `json:"hard_links"`
	Symlinks    int64       `json:"symlinks"`
	Special     int64       `json:"special"`
	Bytes       int64       `json:"bytes"`
	XattrLosses []XattrLoss `json:"xattr_losses"`
	// RewrittenLinks are the relative links that led out of the tree and
	// were given absolute targets in the copy (--rewrite-relative-links).
	RewrittenLinks []LinkRewrite `json:"rewritten_links,omitempty"`

	lost []XattrLoss // the same, without the error text (map keys for the verifier)
}

type copyOpts struct {
	jobs     int
	counters *Counters
	// srcRoot and dstRoot are the full paths of the two trees, for messages.
	srcRoot, dstRoot string
	// linkText, when set, gives the text a symbolic link of the source
	// gets in the copy instead of its own (ok false: keep it).
	linkText func(rel, text string) (string, bool)
	// created, when set, is told the device and inode of the copy's top
	// directory as soon as it exists, before anything is copied into it;
	// an error it returns stops the copy.
	created func(dev, ino uint64) error
}

// LinkRewrite is one symbolic link whose text the copy changed.
type LinkRewrite struct {
	Path string `json:"path"` // the link, relative to the moved tree
	From string `json:"from"` // its text in the source
	To   string `json:"to"`   // its text in the copy
}

// copier copies one directory tree with every piece of metadata, using
// directory file descriptors throughout so that depth is not limited by
// PATH_MAX. Walkers (up to jobs goroutines, one per directory being read)
// create directories, links and special files; a bounded pool copies
// regular files. A directory's own mode,
// owner and times are set when the last entry below it is done.
type copier struct {
	ctx      context.Context
	firstErr // the first error; recording it cancels ctx
	opts     copyOpts

	rootDev   uint64
	rootMnt   uint64 // the source's mount id (0: unknown)
	dstRootFd int

	linkMu sync.Mutex
	links  map[fileKey]string // under linkMu: first copy of a multiply linked file

	walkers chan struct{}  // a token for each walker besides the first
	walking sync.WaitGroup // the walkers besides the first

	jobs chan *fileJob
	wg   sync.WaitGroup

	mu    sync.Mutex
	stats CopyStats
}

type fileKey struct{ dev, ino uint64 }

type dnode struct {
	parent       *dnode
	name         string
	rel          string
	srcFd, dstFd int
	st           unix.Stat_t
	pending      atomic.Int32
	top          bool // the sentinel above the root: fds not owned
}

type fileJob struct {
	dir  *dnode
	name string
}

// copyTree copies srcParentFd/srcName to dstParentFd/dstName, which must
// not exist. On error the partial copy is left for the caller to remove.
func copyTree(ctx context.Context, srcParentFd int, srcName string, dstParentFd int, dstName string, opts copyOpts) (CopyStats, error) {
	if opts.jobs < 1 {
		opts.jobs = 1
	}
	if opts.counters == nil {
		opts.counters = &Counters{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &copier{ctx: ctx, firstErr: firstErr{cancel: cancel}, opts: opts, links: map[fileKey]string{},
		jobs: make(chan *fileJob, 4*opts.jobs), walkers: make(chan struct{}, opts.jobs-1)}

	var st unix.Stat_t
	if err := lstatAt(srcParentFd, srcName, &st); err != nil {
		return c.stats, errs.New(errs.Failed, "stat", c.src("."), err, "")
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return c.stats, errs.Errorf(errs.Failed, "copy", c.src("."), "", "not a directory")
	}
	c.rootDev = st.Dev
	top := &dnode{top: true, srcFd: srcParentFd, dstFd: dstParentFd}
	top.pending.Store(1)
	srcFd, err := openDirAt(srcParentFd, srcName)
	if err != nil {
		return c.stats, errs.New(errs.Failed, "open directory", c.src("."), err, readFail)
	}
	if err := unix.Mkdirat(dstParentFd, dstName, 0o700); err != nil {
		unix.Close(srcFd)
		return c.stats, c.targetErr("create directory", ".", err)
	}
	dstFd, err := openDirAt(dstParentFd, dstName)
	if err != nil {
		unix.Close(srcFd)
		return c.stats, errs.New(errs.Failed, "open directory", c.dst("."), err, "")
	}
	c.dstRootFd = dstFd
	if c.rootMnt, err = mountOf(srcFd); err != nil {
		unix.Close(srcFd)
		return c.stats, errs.New(errs.Failed, "stat", c.src("."), err, readFail)
	}
	if opts.created != nil {
		var dst unix.Stat_t
		err := unix.Fstat(dstFd, &dst)
		if err == nil {
			err = opts.created(dst.Dev, dst.Ino)
		} else {
			err = errs.New(errs.Failed, "stat", c.dst("."), err, "")
		}
		if err != nil {
			unix.Close(srcFd)
			unix.Close(dstFd)
			return c.stats, err
		}
	}
	root := &dnode{parent: top, name: dstName, rel: ".", srcFd: srcFd, dstFd: dstFd, st: st}
	root.pending.Store(1)
	top.pending.Add(1)
	c.copyXattrs(srcFd, "", dstFd, "", ".")
	c.stats.Dirs++

	for i := 0; i < opts.jobs; i++ {
		c.wg.Add(1)
		go c.worker()
	}
	c.walk(root)
	c.walking.Wait()
	close(c.jobs)
	err = c.wait(ctx, &c.wg)
	return c.stats, err
}

func (c *copier) failed() bool { return c.ctx.Err() != nil }

// src and dst name entry rel of the source and of the copy in messages.
func (c *copier) src(rel string) string { return under(c.opts.srcRoot, rel) }
func (c *copier) dst(rel string) string { return under(c.opts.dstRoot, rel) }

// readFail is the hint of every failure to read the source.
const readFail = "the source could not be read completely, so it cannot be moved"

// targetErr describes a failure to write entry rel of the copy.
func (c *copier) targetErr(op, rel string, err error) error {
	if isNoSpace(err) {
		return errs.New(errs.Failed, op, c.dst(rel), fmt.Errorf("target out of space, inodes, or directory index: %w", err),
			"the partial copy is removed; free space on the target (or pick a larger volume) and run the move again")
	}
	return errs.New(errs.Failed, op, c.dst(rel), err, "")
}

func (c *copier) walk(n *dnode) {
	defer c.done(n)
	ents, err := readDirents(n.srcFd)
	if err != nil {
		c.fail(errs.New(errs.Failed, "read directory", c.src(n.rel), err, readFail))
		return
	}
	for _, e := range ents {
		if c.failed() {
			return
		}
		name := e.name
		c.opts.counters.Entries.Add(1)
		if e.typ == unix.DT_REG {
			// The worker opens the file and takes its stat from the open
			// descriptor; a second stat here by name would cost a path
			// lookup for nothing.
			if !c.queue(n, &fileJob{dir: n, name: name}) {
				return
			}
			continue
		}
		rel := joinRel(n.rel, name)
		if n.rel == "." {
			rel = name
		}
		var st unix.Stat_t
		if err := lstatAt(n.srcFd, name, &st); err != nil {
			c.fail(errs.New(errs.Failed, "stat", c.src(rel), err, readFail))
			return
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if st.Dev != c.rootDev {
				c.fail(errs.Errorf(errs.Failed, "copy", c.src(rel), "unmount it or move it separately", mountedHere))
				return
			}
			child, err := c.mkdir(n, name, rel, &st)
			if err != nil {
				c.fail(err)
				return
			}
			spread(c.walkers, &c.walking, func() { c.walk(child) })
		case unix.S_IFREG: // the filesystem does not give types (DT_UNKNOWN)
			if !c.queue(n, &fileJob{dir: n, name: name}) {
				return
			}
		case unix.S_IFLNK:
			if err := c.symlink(n, name, rel, &st); err != nil {
				c.fail(err)
				return
			}
		default:
			if err := c.special(n, name, rel, &st); err != nil {
				c.fail(err)
				return
			}
		}
	}
}

// queue hands a regular file of n to the workers; false when the copy
// has stopped.
func (c *copier) queue(n *dnode, job *fileJob) bool {
	n.pending.Add(1)
	select {
	case c.jobs <- job:
		return true
	case <-c.ctx.Done():
		c.done(n)
		return false
	}
}

// linkOrCreate makes the copy of a multiply linked file: a hard link to
// the copy of its first name met (fd -1), or, for the first name, the
// file itself, created and open for writing.
func (c *copier) linkOrCreate(n *dnode, name, rel string, st *unix.Stat_t) (int, error) {
	key := fileKey{uint64(st.Dev), st.Ino}
	c.linkMu.Lock()
	defer c.linkMu.Unlock()
	if first, ok := c.links[key]; ok {
		if err := unix.Linkat(c.dstRootFd, first, n.dstFd, name, 0); err != nil {
			return -1, c.targetErr("hard link", rel, err)
		}
		c.count(func(s *CopyStats) { s.HardLinks++ })
		return -1, nil
	}
	fd, err := createFile(n.dstFd, name, st)
	if err != nil {
		return -1, c.targetErr("create", rel, err)
	}
	c.links[key] = rel
	return fd, nil
}

func (c *copier) count(f func(*CopyStats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

func (c *copier) mkdir(n *dnode, name, rel string, st *unix.Stat_t) (*dnode, error) {
	if err := unix.Mkdirat(n.dstFd, name, 0o700); err != nil {
		return nil, c.targetErr("create directory", rel, err)
	}
	srcFd, err := openDirAt(n.srcFd, name)
	if err != nil {
		return nil, errs.New(errs.Failed, "open directory", c.src(rel), err, readFail)
	}
	if mnt, err := mountOf(srcFd); err != nil || mnt != c.rootMnt {
		unix.Close(srcFd)
		if err != nil {
			return nil, errs.New(errs.Failed, "stat", c.src(rel), err, readFail)
		}
		return nil, errs.Errorf(errs.Failed, "copy", c.src(rel), "unmount it or move it separately", mountedHere)
	}
	dstFd, err := openDirAt(n.dstFd, name)
	if err != nil {
		unix.Close(srcFd)
		return nil, errs.New(errs.Failed, "open directory", c.dst(rel), err, "")
	}
	c.copyXattrs(srcFd, "", dstFd, "", rel)
	child := &dnode{parent: n, name: name, rel: rel, srcFd: srcFd, dstFd: dstFd, st: *st}
	child.pending.Store(1)
	n.pending.Add(1)
	c.count(func(s *CopyStats) { s.Dirs++ })
	return child, nil
}

// done ends one pending item of n; the last one sets n's metadata and
// closes it, then ends n's own item in its parent.
func (c *copier) done(n *dnode) {
	for n != nil && !n.top {
		if n.pending.Add(-1) != 0 {
			return
		}
		if !c.failed() {
			if err := fixOwnerMode(n.dstFd, &n.st); err != nil {
				c.fail(errs.New(errs.Failed, "set owner and mode", c.dst(n.rel), err, ""))
			} else if err := unix.UtimesNanoAt(n.parent.dstFd, n.name, timespecs(&n.st), unix.AT_SYMLINK_NOFOLLOW); err != nil {
				c.fail(errs.New(errs.Failed, "set times", c.dst(n.rel), err, ""))
			}
		}
		unix.Close(n.srcFd)
		unix.Close(n.dstFd)
		n = n.parent
	}
}

// createFile creates the copy of the regular file st, empty and open for
// writing, with st's permission bits as far as the umask lets them
// through (fixOwnerMode sets the rest); its directory is not yet open to
// anyone but its owner, so that is not early.
func createFile(dirfd int, name string, st *unix.Stat_t) (int, error) {
	return unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, st.Mode&0o777)
}

// fixOwnerMode gives the file or directory open at fd the owner, group
// and mode of st, changing only what differs: on a store owned by one
// user, most entries need neither call, each of which would be one more
// journaled inode update.
func fixOwnerMode(fd int, st *unix.Stat_t) error {
	var cur unix.Stat_t
	if err := unix.Fstat(fd, &cur); err != nil {
		return err
	}
	if cur.Uid != st.Uid || cur.Gid != st.Gid {
		if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	// After the owner. A chown clears the set-id bits of a regular file,
	// which is never created with them, so a file that should have them
	// always gets this call; it leaves a directory's bits alone (one made
	// in a set-group-ID directory starts with that bit), so the mode read
	// before the chown is still the directory's.
	if cur.Mode&0o7777 != st.Mode&0o7777 {
		return unix.Fchmod(fd, st.Mode&0o7777)
	}
	return nil
}

func (c *copier) worker() {
	defer c.wg.Done()
	bp := ioBufs.Get().(*[]byte)
	defer ioBufs.Put(bp)
	for job := range c.jobs {
		if !c.failed() {
			if err := c.copyFile(job, *bp); err != nil {
				c.fail(err)
			}
		}
		c.done(job.dir)
	}
}

func (c *copier) copyFile(job *fileJob, buf []byte) error {
	n := job.dir
	rel := joinRel(n.rel, job.name)
	if n.rel == "." {
		rel = job.name
	}
	dst := -1
	defer func() {
		if dst >= 0 {
			unix.Close(dst)
		}
	}()
	// O_NONBLOCK: had the name been replaced by a fifo since the
	// directory was read, opening it would otherwise wait for a writer.
	src, err := unix.Openat(n.srcFd, job.name, fileFlags|unix.O_NONBLOCK, 0)
	if err != nil {
		return errs.New(errs.Failed, "open", c.src(rel), err, readFail)
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return errs.New(errs.Failed, "stat", c.src(rel), err, readFail)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errs.Errorf(errs.Failed, "copy", c.src(rel), "pause delivery to the moved tree, then run the move again",
			"the source changed while it was copied")
	}
	if st.Nlink > 1 {
		dst, err = c.linkOrCreate(n, job.name, rel, &st)
		if err != nil || dst < 0 { // linked to the copy of another name
			return err
		}
	} else if dst, err = createFile(n.dstFd, job.name, &st); err != nil {
		return c.targetErr("create", rel, err)
	}
	copied, err := c.copyData(src, dst, &st, buf)
	if err != nil {
		var re *readErr
		if errors.As(err, &re) {
			return errs.New(errs.Failed, "read", c.src(rel), re.err, readFail)
		}
		if errors.Is(err, errShrunk) {
			return errs.New(errs.Failed, "copy", c.src(rel), err, "pause delivery to the moved tree, then run the move again")
		}
		if isNoSpace(err) {
			return c.targetErr("copy to", rel, err)
		}
		return errs.New(errs.Failed, "copy", c.src(rel), fmt.Errorf("to %s: %w", c.dst(rel), err), "")
	}
	if err := fixOwnerMode(dst, &st); err != nil {
		return errs.New(errs.Failed, "set owner and mode", c.dst(rel), err, "")
	}
	c.copyXattrs(src, "", dst, "", rel)
	if err := futimens(dst, timespecs(&st)); err != nil {
		return errs.New(errs.Failed, "set times", c.dst(rel), err, "")
	}
	if err := unix.Close(dst); err != nil {
		dst = -1
		return c.targetErr("close", rel, err)
	}
	dst = -1
	c.count(func(s *CopyStats) { s.Files++; s.Bytes += copied })
	return nil
}

// copyData copies the contents of src to dst, keeping holes of sparse files.
func (c *copier) copyData(src, dst int, st *unix.Stat_t, buf []byte) (int64, error) {
	size := st.Size
	if size == 0 {
		return 0, nil
	}
	if !mayHaveHoles(st) {
		return c.copyRange(src, dst, 0, size, buf)
	}
	var total int64
	off := int64(0)
	for off < size {
		data, err := unix.Seek(src, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil { // no hole support: copy the rest as it is
			n, err := c.copyRange(src, dst, off, size, buf)
			return total + n, err
		}
		hole, err := unix.Seek(src, data, unix.SEEK_HOLE)
		if err != nil { // refused (ext4 with inline data, unsynced): the rest as it is
			n, err := c.copyRange(src, dst, data, size, buf)
			return total + n, err
		}
		if hole > size {
			hole = size
		}
		n, err := c.copyRange(src, dst, data, hole, buf)
		total += n
		if err != nil {
			return total, err
		}
		off = hole
	}
	if err := unix.Ftruncate(dst, size); err != nil {
		return total, err
	}
	return total, nil
}

// copyRange copies bytes [off, end) at the same offsets with pread and
// pwrite. Not copy_file_range or sendfile: both go through the kernel's
// splice path, and on Linux 6.18 that path returned zeros for data that
// read(2) returned, in a freshly written file on ext4 with inline data
// (TestHoleMapRefused); a move copies between filesystems, where
// copy_file_range has no shortcut to offer, and the extra memory copy of
// read and write was not measurable against sendfile.
func (c *copier) copyRange(src, dst int, off, end int64, buf []byte) (int64, error) {
	start := off
	for off < end {
		want := int(min(end-off, int64(len(buf))))
		n, err := preadFull(src, buf[:want], off)
		if err != nil {
			return off - start, &readErr{err}
		}
		if n == 0 {
			return off - start, errShrunk
		}
		for w := 0; w < n; {
			m, err := unix.Pwrite(dst, buf[w:n], off+int64(w))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return off - start, err
			}
			w += m
		}
		off += int64(n)
		c.opts.counters.Bytes.Add(int64(n))
	}
	return off - start, nil
}

var errShrunk = errors.New("the file got shorter while it was copied")

// readErr marks a failure to read the source file (not to write the copy).
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }
func (e *readErr) Unwrap() error { return e.err }

// copyXattrs copies every extended attribute; each one the target refuses
// is recorded by name and the others are still copied. With a descriptor
// of -1 the path is used instead (symbolic links, special files).
func (c *copier) copyXattrs(srcFd int, srcPath string, dstFd int, dstPath string, rel string) {
	attrs, err := xattrs(srcFd, srcPath)
	if err != nil {
		c.fail(errs.New(errs.Failed, "read extended attributes", c.src(rel), err, readFail))
		return
	}
	for name, val := range attrs {
		var err error
		if dstFd >= 0 {
			err = unix.Fsetxattr(dstFd, name, val, 0)
		} else {
			err = unix.Lsetxattr(dstPath, name, val, 0)
		}
		if err != nil {
			c.count(func(s *CopyStats) {
				s.XattrLosses = append(s.XattrLosses, XattrLoss{Path: rel, Name: name, Err: err.Error()})
				s.lost = append(s.lost, XattrLoss{Path: rel, Name: name})
			})
		}
	}
}

func (c *copier) symlink(n *dnode, name, rel string, st *unix.Stat_t) error {
	text, err := readlinkAt(n.srcFd, name)
	if err != nil {
		return errs.New(errs.Failed, "read link", c.src(rel), err, readFail)
	}
	if c.opts.linkText != nil {
		if to, ok := c.opts.linkText(rel, text); ok {
			c.count(func(s *CopyStats) {
				s.RewrittenLinks = append(s.RewrittenLinks, LinkRewrite{Path: rel, From: text, To: to})
			})
			text = to
		}
	}
	if err := unix.Symlinkat(text, n.dstFd, name); err != nil {
		return c.targetErr("create link", rel, err)
	}
	if err := unix.Fchownat(n.dstFd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return errs.New(errs.Failed, "set owner", c.dst(rel), err, "")
	}
	c.copyXattrs(-1, procPath(n.srcFd, name), -1, procPath(n.dstFd, name), rel)
	if err := unix.UtimesNanoAt(n.dstFd, name, timespecs(st), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return errs.New(errs.Failed, "set times", c.dst(rel), err, "")
	}
	c.count(func(s *CopyStats) { s.Symlinks++ })
	return nil
}

// special copies a fifo, socket or device node.
func (c *copier) special(n *dnode, name, rel string, st *unix.Stat_t) error {
	if err := unix.Mknodat(n.dstFd, name, st.Mode, int(st.Rdev)); err != nil {
		return c.targetErr("create", rel, err)
	}
	if err := unix.Fchownat(n.dstFd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return errs.New(errs.Failed, "set owner", c.dst(rel), err, "")
	}
	if err := unix.Fchmodat(n.dstFd, name, st.Mode&0o7777, 0); err != nil {
		return errs.New(errs.Failed, "set mode", c.dst(rel), err, "")
	}
	c.copyXattrs(-1, procPath(n.srcFd, name), -1, procPath(n.dstFd, name), rel)
	if err := unix.UtimesNanoAt(n.dstFd, name, timespecs(st), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return errs.New(errs.Failed, "set times", c.dst(rel), err, "")
	}
	c.count(func(s *CopyStats) { s.Special++ })
	return nil
}
