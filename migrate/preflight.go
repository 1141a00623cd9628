package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/fsbench"
)

// Totals describes a tree about to be moved. Sizes count each inode once.
type Totals struct {
	Dirs      int64 `json:"dirs"`
	Files     int64 `json:"files"`
	Symlinks  int64 `json:"symlinks"`
	Special   int64 `json:"special"`
	Bytes     int64 `json:"bytes"`     // apparent size of the regular files
	Allocated int64 `json:"allocated"` // bytes of allocated blocks on the source, directories included
	Inodes    int64 `json:"inodes"`
	// TargetBytes is about what the copy takes on the target, whose
	// filesystem allocates TargetBlockSize-byte blocks: each file's data
	// rounded up to whole blocks there, each inode once, without the
	// margin. PlanMove fills both in once it knows the target (NeedOn);
	// the source's own blocks (Allocated) say little about it.
	TargetBytes     int64 `json:"target_bytes,omitempty"`
	TargetBlockSize int64 `json:"target_block_size,omitempty"`
	need            onTarget
	// Files that also have hard links outside the tree: after the move they
	// are separate copies, and the space they take is counted above.
	SharedOut      int64 `json:"shared_out"`
	SharedOutBytes int64 `json:"shared_out_bytes"`
	LongestPath    int   `json:"longest_path"` // bytes, relative to the tree
	// Relative symbolic links inside the tree whose target lies outside
	// it: copied as they are they would dangle (or lead elsewhere) once
	// the tree sits on the volume. OutsideLinkList holds the first ones.
	OutsideLinks    int64         `json:"outside_links"`
	OutsideLinkList []OutsideLink `json:"outside_link_list,omitempty"`
}

// Target block sizes the scan keeps an estimate for: each power of two
// from 512 bytes to 64 KiB, the sizes Linux filesystems allocate in.
const (
	minBlockShift = 9
	maxBlockShift = 16
)

// onTarget is, for each target block size 1<<(minBlockShift+i), the
// bytes the entries counted so far take on a filesystem allocating blocks
// of that size. The scan adds every entry for every size as it goes, so
// the estimate for a target found later needs no second walk and no list
// of the files.
type onTarget [maxBlockShift - minBlockShift + 1]int64

// inlineMax is the size up to which a regular file is counted as written
// in full whatever blocks it reports: data kept in the inode (ext4 with
// inline data, btrfs inline extents) needs blocks on a target without
// it, and a hole in so small a file saves little. No filesystem keeps
// more in an inode than one of its blocks, 64 KiB at most.
const inlineMax = 64 << 10

// roundUp is n rounded up to a multiple of b.
func roundUp(n, b int64) int64 { return (n + b - 1) / b * b }

// addFile counts a regular file of size bytes with alloc bytes of blocks
// on a source allocating srcBlock-byte blocks. A file that is not sparse
// is copied in full: its size rounded up to the target's blocks, plus
// what it holds beyond its data on the source (an extended attribute
// block, extent blocks, preallocation). A sparse one keeps its holes: the
// copy writes what the source has allocated, rounded up to the target's
// blocks; and where the target's blocks are larger, each source block
// may land in a block of its own (no better than the whole file).
func (o *onTarget) addFile(size, alloc, srcBlock int64) {
	for i := range o {
		b := int64(1) << (minBlockShift + i)
		if size <= inlineMax || alloc >= size {
			n := roundUp(size, b)
			if extra := alloc - roundUp(size, srcBlock); extra > 0 {
				n += roundUp(extra, b)
			}
			o[i] += n
			continue
		}
		n := roundUp(alloc, b)
		if b > srcBlock {
			n = max(n, min(roundUp(size, b), (alloc+srcBlock-1)/srcBlock*b))
		}
		o[i] += n
	}
}

// addDir counts a directory holding names, from what its entries take
// rather than from its blocks on the source, which say little: ext4 keeps
// a small directory in the inode, btrfs and tmpfs give none, and a
// directory that once held more keeps its blocks. Each name counts with
// the fields an entry holds beside it as XFS lays them out (ext4's are
// smaller) and 8 bytes of index or leaf; "." and ".." too. A directory
// whose entries fit in one block takes that block; a larger one twice
// what its entries take, as the blocks of an ext4 index are half full
// after a split at worst, and one block more for the index root.
func (o *onTarget) addDir(names []string) {
	e := int64(2 * 24)
	for _, n := range names {
		e += roundUp(int64(12+len(n)), 8) + 8
	}
	for i := range o {
		b := int64(1) << (minBlockShift + i)
		if e <= b-64 {
			o[i] += b
		} else {
			o[i] += roundUp(2*e, b) + b
		}
	}
}

// addLink counts a symbolic link: none where its text fits in the inode
// on both sides (ext4 keeps up to 59 bytes there, other filesystems
// more), else its text rounded up to the target's blocks.
func (o *onTarget) addLink(size, alloc int64) {
	if alloc == 0 && size < 60 {
		return
	}
	for i := range o {
		o[i] += roundUp(max(size, 1), int64(1)<<(minBlockShift+i))
	}
}

// NeedOn is the estimate of the space the tree takes on a target that
// allocates blockSize-byte blocks, and the block size it was made for: a
// size between the powers of two is taken as the next one up, one below
// 512 bytes as 512. One above 64 KiB is no block a Linux filesystem
// allocates but the transfer size a network filesystem gives (NFS, Ceph),
// whose server allocates on its own disks: it is taken as 4 KiB.
func (t *Totals) NeedOn(blockSize int64) (bytes, block int64) {
	if blockSize > 1<<maxBlockShift {
		blockSize = 4096
	}
	i := 0
	for i < len(t.need)-1 && int64(1)<<(minBlockShift+i) < blockSize {
		i++
	}
	return t.need[i], int64(1) << (minBlockShift + i)
}

// allocUnit is the size of the blocks the filesystem statfs describes
// allocates: its fragment size, or its block size where it gives none.
func allocUnit(s *unix.Statfs_t) int64 {
	if s.Frsize > 0 {
		return int64(s.Frsize)
	}
	return int64(s.Bsize)
}

// OutsideLink is a relative symbolic link inside a tree that leads out of it.
type OutsideLink struct {
	Path   string `json:"path"`   // the link, full path
	Text   string `json:"text"`   // its text
	Target string `json:"target"` // the absolute path the text leads to from the tree's place
}

// maxOutsideLinks bounds Totals.OutsideLinkList.
const maxOutsideLinks = 20

// outsideTarget says where the text of a symbolic link at rel in the tree
// at root leads when it is relative and leads out of the tree; ok is false
// for an absolute text or one that stays inside (see leadsOut). The place
// given is where the kernel resolves the text now: every name but the
// last through the links on the way, or by its names where that way does
// not exist.
//
// root must be the tree's physical path (see physicalPath): the kernel
// resolves a link's ".." from the directory the link is really in.
func outsideTarget(root, rel, text string) (string, bool) {
	if text == "" || filepath.IsAbs(text) {
		return "", false
	}
	dir := filepath.Join(root, filepath.Dir(rel))
	if !leadsOut(root, dir, text, 0) {
		return "", false
	}
	t := filepath.Join(dir, text)
	// Joined by hand: filepath.Join would drop "x/.." by its names.
	if i := strings.LastIndexByte(text, '/'); i > 0 {
		if d, err := filepath.EvalSymlinks(dir + "/" + text[:i]); err == nil {
			t = filepath.Join(d, text[i+1:])
		}
	}
	return t, true
}

// leadsOut says whether the relative text, resolved from dir inside root,
// ends outside the tree once the tree stands elsewhere. It walks the
// names as the kernel does: inside the tree a link on the way is followed
// (not the last name: a link to a link is judged on its own); outside it
// only names count, since the copy's surroundings are not the source's,
// so "../NAME/x", NAME the tree's own name, comes back in, while a way
// back in through a link outside does not. A link on the way that
// dangles is followed by its names; a loop of links, or a link that
// cannot be read, counts as leading out.
func leadsOut(root, dir, text string, hops int) bool {
	within := func(p string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	cur := dir
	names := strings.Split(text, "/")
	for i, n := range names {
		switch n {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
		default:
			cur = filepath.Join(cur, n)
		}
		if i == len(names)-1 || !within(cur) {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(cur, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			continue
		}
		next, err := os.Readlink(cur)
		if err != nil || hops >= 40 {
			return true
		}
		if !filepath.IsAbs(next) && leadsOut(root, filepath.Dir(cur), next, hops+1) {
			return true
		}
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			cur = real
		} else if filepath.IsAbs(next) { // a dangling way: by its names
			cur = filepath.Clean(next)
		} else {
			cur = filepath.Join(filepath.Dir(cur), next)
		}
	}
	return !within(cur)
}

// physicalPath is p with the symbolic links among its parents resolved
// (p itself, the directory a move takes, is not one); p where that fails.
func physicalPath(p string) string {
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return p
	}
	return filepath.Join(dir, filepath.Base(p))
}

// scanTree totals parentFd/name, whose full path is root. Any entry that
// cannot be read refuses the move: a tree that cannot be read completely
// cannot be verified. Subdirectories are scanned by up to jobs goroutines.
func scanTree(ctx context.Context, parentFd int, name, root string, jobs int) (Totals, error) {
	if jobs < 1 {
		jobs = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sc := &scanner{ctx: ctx, firstErr: firstErr{cancel: cancel}, root: root, real: physicalPath(root),
		seen: map[fileKey]*linked{}, walkers: make(chan struct{}, jobs-1), srcBlock: 512}
	var wg sync.WaitGroup
	sc.visit(parentFd, name, ".", &wg)
	if err := sc.wait(ctx, &wg); err != nil {
		if isCanceled(err) && errs.KindOf(err) != errs.Interrupted {
			err = errs.New(errs.Interrupted, "move", root, &stopped{"stopped while reading the source; nothing was changed", err},
				"run the same command again")
		}
		return sc.t, err
	}
	for _, l := range sc.seen {
		if l.names < l.nlink {
			sc.t.SharedOut++
			sc.t.SharedOutBytes += l.size
		}
	}
	return sc.t, nil
}

// scanner is one pre-flight scan; its first error is scanTree's.
type scanner struct {
	ctx context.Context
	firstErr
	root    string
	real    string        // root's physical path, to resolve links against
	walkers chan struct{} // a token for each goroutine besides the first

	mu      sync.Mutex // guards the fields below
	t       Totals
	rootDev uint64
	rootMnt uint64 // the top directory's mount id (0: unknown); under mu
	// srcBlock is the source's allocation unit, from statfs on the tree's
	// top directory before anything inside is counted; 512, the unit of
	// st_blocks, where statfs fails.
	srcBlock int64
	seen     map[fileKey]*linked // multiply linked files
}

// linked is a multiply linked file met by the scan.
type linked struct {
	names, nlink uint64 // names seen in the tree, links it has
	size         int64  // allocated bytes
}

// visit counts entry dirFd/name, which is rel in the tree, and scans it
// when it is a directory: in another goroutine (counted in wg, which the
// caller waits for before it closes dirFd) while a token is free, else here.
func (sc *scanner) visit(dirFd int, name, rel string, wg *sync.WaitGroup) {
	var st unix.Stat_t
	if err := lstatAt(dirFd, name, &st); err != nil {
		sc.fail(errs.New(errs.Refused, "stat", under(sc.root, rel), err, unreadable))
		return
	}
	var text string
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		var err error
		if text, err = readlinkAt(dirFd, name); err != nil {
			sc.fail(errs.New(errs.Refused, "read link", under(sc.root, rel), err, unreadable))
			return
		}
	}
	if !sc.count(&st, rel, text) {
		return
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return
	}
	spread(sc.walkers, wg, func() { sc.dir(dirFd, name, rel) })
}

// count adds one entry to the totals; it is false when the entry is not
// to be counted again or the scan must stop.
func (sc *scanner) count(st *unix.Stat_t, rel, text string) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	t := &sc.t
	if len(rel) > t.LongestPath {
		t.LongestPath = len(rel)
	}
	if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		key := fileKey{uint64(st.Dev), st.Ino}
		l := sc.seen[key]
		if l == nil {
			l = &linked{}
			sc.seen[key] = l
		}
		l.names++
		l.nlink, l.size = uint64(st.Nlink), st.Blocks*512
		if l.names > 1 {
			return false
		}
	}
	t.Inodes++
	t.Allocated += st.Blocks * 512
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if sc.rootDev == 0 {
			sc.rootDev = st.Dev
		} else if st.Dev != sc.rootDev {
			sc.fail(errs.Errorf(errs.Refused, "scan", under(sc.root, rel), "unmount it or move it separately", mountedHere))
			return false
		}
		t.Dirs++ // its space on the target when it is listed (dir)
	case unix.S_IFREG:
		t.Files++
		t.Bytes += st.Size
		t.need.addFile(st.Size, st.Blocks*512, sc.srcBlock)
	case unix.S_IFLNK:
		t.Symlinks++
		t.need.addLink(st.Size, st.Blocks*512)
		if target, ok := outsideTarget(sc.real, rel, text); ok {
			t.OutsideLinks++
			if len(t.OutsideLinkList) < maxOutsideLinks {
				t.OutsideLinkList = append(t.OutsideLinkList, OutsideLink{Path: joinRel(sc.root, rel), Text: text, Target: target})
			}
		}
	default:
		t.Special++
	}
	return true
}

// dir scans the directory dirFd/name.
// mount is the mount id of the tree's top directory.
func (sc *scanner) mount() uint64 {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.rootMnt
}

func (sc *scanner) dir(dirFd int, name, rel string) {
	if err := sc.ctx.Err(); err != nil {
		sc.fail(err)
		return
	}
	fd, err := openDirAt(dirFd, name)
	if err != nil {
		sc.fail(errs.New(errs.Refused, "open directory", under(sc.root, rel), err, unreadable))
		return
	}
	defer unix.Close(fd)
	mnt, err := mountOf(fd)
	if err != nil {
		sc.fail(errs.New(errs.Refused, "stat", under(sc.root, rel), err, unreadable))
		return
	}
	if rel == "." {
		sc.mu.Lock()
		sc.rootMnt = mnt // before any other directory is read
		sc.mu.Unlock()
	} else if mnt != sc.mount() {
		sc.fail(errs.Errorf(errs.Refused, "scan", under(sc.root, rel), "unmount it or move it separately", mountedHere))
		return
	}
	if rel == "." {
		var sfs unix.Statfs_t
		if unix.Fstatfs(fd, &sfs) == nil && allocUnit(&sfs) > 512 {
			sc.mu.Lock()
			sc.srcBlock = allocUnit(&sfs)
			sc.mu.Unlock()
		}
	}
	names, err := listDir(fd)
	if err != nil {
		sc.fail(errs.New(errs.Refused, "read directory", under(sc.root, rel), err, unreadable))
		return
	}
	sc.mu.Lock()
	sc.t.need.addDir(names)
	sc.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait() // before fd closes
	spreadRange(sc.walkers, &wg, len(names), func(lo, hi int) {
		for _, n := range names[lo:hi] {
			if sc.recorded() != nil {
				return
			}
			sc.visit(fd, n, childRel(rel, n), &wg)
		}
	})
}

// TargetInfo describes the volume a tree moves to.
type TargetInfo struct {
	VolumeDir   string        `json:"volume_dir"`
	Dev         uint64        `json:"dev"`
	FSID        string        `json:"fsid"`
	FSType      string        `json:"fstype"`     // fsbench's type name: ext4, xfs, btrfs, tmpfs, ...
	Filesystem  string        `json:"filesystem"` // fsbench's identity in words, as scan and bench print it
	FreeBytes   uint64        `json:"free_bytes"`
	BlockSize   int64         `json:"block_size"` // the size of the blocks it allocates, by statfs
	FreeInodes  uint64        `json:"free_inodes"`
	TotalInodes uint64        `json:"total_inodes"`
	Probe       []ProbeResult `json:"probe"`
}

// ProbeResult is one operation tried on the target.
type ProbeResult struct {
	Op  string `json:"op"`
	Err string `json:"error,omitempty"`
}

// fsidString is statfs's filesystem id as journals record it.
func fsidString(s *unix.Statfs_t) string {
	return fmt.Sprintf("%08x%08x", uint32(s.Fsid.Val[0]), uint32(s.Fsid.Val[1]))
}

func statTarget(dir string) (TargetInfo, error) {
	ti := TargetInfo{VolumeDir: dir}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return ti, errs.New(errs.BadInput, "stat target", dir, err, "give an existing directory on the target volume")
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return ti, errs.Errorf(errs.BadInput, "target", dir, "give a directory on the target volume", "not a directory")
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return ti, errs.New(errs.Failed, "statfs", dir, err, "")
	}
	ti.Dev = st.Dev
	ti.FSID = fsidString(&sfs)
	ti.FSType = fsbench.TypeName(uint64(sfs.Type))
	ti.Filesystem = ti.FSType
	if id, err := fsbench.Identify(dir, fsbench.IdentifyOptions{}); err == nil {
		ti.FSType, ti.Filesystem = id.Type, id.String()
	}
	ti.FreeBytes = sfs.Bavail * uint64(sfs.Bsize)
	ti.BlockSize = allocUnit(&sfs)
	ti.FreeInodes = sfs.Ffree
	ti.TotalInodes = sfs.Files
	return ti, nil
}

// probeTarget tries, in a scratch directory on the target, what a mail
// server does there: exclusive create, hard link, rename, symbolic link
// and a user.* extended attribute. The scratch directory is removed.
func probeTarget(dir, id string) []ProbeResult {
	removeStaleProbes(dir)
	scratch := filepath.Join(dir, probePrefix+id)
	var out []ProbeResult
	add := func(op string, err error) bool {
		r := ProbeResult{Op: op}
		if err != nil {
			r.Err = err.Error()
		}
		out = append(out, r)
		return err == nil
	}
	if !add("mkdir", os.Mkdir(scratch, 0o700)) {
		return out
	}
	defer os.RemoveAll(scratch)
	a := filepath.Join(scratch, "a")
	f, err := os.OpenFile(a, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if !add("exclusive create", err) {
		return out
	}
	_, err = f.WriteString("probe\n")
	f.Close()
	add("write", err)
	add("hard link", os.Link(a, filepath.Join(scratch, "b")))
	add("rename", os.Rename(filepath.Join(scratch, "b"), filepath.Join(scratch, "c")))
	add("symbolic link", os.Symlink("a", filepath.Join(scratch, "l")))
	add("user.* extended attribute", unix.Setxattr(a, "user.cgscale.probe", []byte("1"), 0))
	return out
}

const probePrefix = ".cgscale-probe-"

// removeStaleProbes removes scratch directories that a killed run left in
// dir: those whose process id no longer runs.
func removeStaleProbes(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), probePrefix))
		if !strings.HasPrefix(e.Name(), probePrefix) || err != nil || pid <= 0 {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// mountID is the id of the mount holding path, or 0 when unknown.
func mountID(path string) uint64 {
	id, _ := mountAt(unix.AT_FDCWD, path, 0)
	return id
}

// View maps a host path prefix to the path the mail server sees for it
// (a container volume, a chroot).
type View struct {
	Host, Server string
}

// ParseView reads HOST=SERVER.
func ParseView(s string) (View, error) {
	h, sv, ok := strings.Cut(s, "=")
	if !ok || !filepath.IsAbs(h) || !filepath.IsAbs(sv) {
		return View{}, errs.Errorf(errs.Usage, "--server-view", s, "write HOSTPATH=SERVERPATH, both absolute, e.g. /srv/vol2=/vol2", "not a view")
	}
	return View{Host: filepath.Clean(h), Server: filepath.Clean(sv)}, nil
}

// serverPath translates a host path through views; ok is false when no
// view holds it.
func serverPath(views []View, p string) (string, bool) {
	best := -1
	for i, v := range views {
		if p == v.Host || strings.HasPrefix(p, v.Host+"/") || v.Host == "/" {
			if best < 0 || len(v.Host) > len(views[best].Host) {
				best = i
			}
		}
	}
	if best < 0 {
		return "", false
	}
	v := views[best]
	rest := strings.TrimPrefix(strings.TrimPrefix(p, v.Host), "/")
	return filepath.Join(v.Server, rest), true
}

// serverSees reports whether the server, seeing the host through views,
// resolves a link at linkPath with text to the host path dest.
func serverSees(views []View, linkPath, text, dest string) bool {
	linkSeen, ok := serverPath(views, linkPath)
	if !ok {
		return false
	}
	destSeen, ok := serverPath(views, dest)
	if !ok {
		return false
	}
	var resolved string
	if filepath.IsAbs(text) {
		resolved = filepath.Clean(text)
	} else {
		resolved = filepath.Join(filepath.Dir(linkSeen), text)
	}
	return resolved == destSeen
}
