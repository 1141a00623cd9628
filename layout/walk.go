package layout

import (
	"container/heap"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/journal"
)

// Defaults of the audit rules (the vendor's advice): a directory holding
// this many accounts should be split into account subdirectories, and a
// server with this many domains into domain subdirectories.
const (
	DefaultMaxFlatAccounts = 5000
	DefaultMaxDomains      = 2000
	DefaultTopN            = 20
	DefaultMaxErrors       = 100
)

// WalkOptions tune a walk. The zero value walks with the defaults.
type WalkOptions struct {
	// Jobs is the number of directories read at once; 0 picks a number
	// from the CPU count. 1 reads one directory at a time (spinning disks).
	Jobs int
	// Sizes adds bytes (apparent and allocated) to the report, at the
	// price of one lstat per entry.
	Sizes bool
	// TopN is the length of the list of largest directories (0: 20).
	TopN int
	// MaxFlatAccounts: a directory holding this many accounts or more is a
	// finding (0: 5000).
	MaxFlatAccounts int
	// MaxDomains: a directory holding this many domains or more is a
	// finding (0: 2000).
	MaxDomains int
	// MaxErrors bounds the list of unreadable directories kept in the
	// report (0: 100); all are counted.
	MaxErrors int
	// Stats, when set, is updated while the walk runs, for progress.
	Stats *WalkStats
	// OnAccount, when set, is called for every account entry, from the
	// walking goroutines (so it must be safe for concurrent use), in no
	// particular order. It is the way to enumerate accounts: it streams,
	// so memory stays flat however large the store.
	OnAccount func(Account)
	// OnLink, when set, is called with the path of every symbolic link
	// the walk does not follow (those inside accounts and mailboxes,
	// among others), from the walking goroutines.
	OnLink func(path string)
	// Identify, when set, names the filesystem holding path; its answers
	// fill the filesystem columns of the report.
	Identify func(path string) Filesystem
	// Measured, when set, gives limits measured on some volumes (scan
	// --profile): on those volumes they replace MaxFlatAccounts and
	// MaxDomains, and apply to every other directory too (mailboxes, the
	// queue). Elsewhere the settings apply.
	Measured *Measured
}

// Filesystem is what Identify tells about a filesystem.
type Filesystem struct {
	Type       string // "ext4", "xfs", "tmpfs"...
	MountPoint string
	Options    string
	Detail     string // one line: type, notable features, device, mount point
}

// WalkStats are counters a progress display may poll while Walk runs.
type WalkStats struct {
	Dirs     atomic.Int64
	Entries  atomic.Int64
	Accounts atomic.Int64
}

// Account is one account entry, as given to WalkOptions.OnAccount.
type Account struct {
	Domain     string // the domain's name; MainDomainName for BASE/Accounts
	DomainPath string // the domain's directory
	Path       string // the account entry: DomainPath + "/" + Rel
	Rel        string // relative to DomainPath: "jsmith.macnt", "j.sub/jsmith.macnt"
	Name       string // the account name: "jsmith"
	Kind       Kind   // KindAccount (.macnt) or KindMboxAccount (.mbox)
	Link       bool   // the entry is a symbolic link; the walk did not follow it
	InMnt      bool   // the entry is under a *.mnt storage mount point
}

// Walk reads the store at base and returns what it found. It writes
// nothing. Directories below base that cannot be read are listed in the
// report and the walk goes on; the error is then of kind errs.Partial and
// the report is still returned. A base that is missing, not a directory or
// not a store is an errs.BadInput error and a nil report. A cancelled ctx
// stops the walk early (errs.Interrupted, with the partial report).
func Walk(ctx context.Context, base string, opt WalkOptions) (*Report, error) {
	start := time.Now()
	base, realBase, err := checkBase(base)
	if err != nil {
		return nil, err
	}
	w := newWalker(ctx, base, realBase, opt)
	w.run()
	w.recorded, w.journalErr = ReadRelocations(base)
	r := w.report()
	r.ElapsedMS = time.Since(start).Milliseconds()
	if ctx.Err() != nil {
		return r, errs.New(errs.Interrupted, "scan", base, ctx.Err(), "run the scan again to get a complete report")
	}
	if !r.Complete {
		return r, errs.Errorf(errs.Partial, "scan", base, "run as root or as the server's user, or fix the permissions listed",
			"%d directories could not be read; the report is partial", r.Totals.Unreadable)
	}
	return r, nil
}

// checkBase makes base absolute and checks it is a readable store.
func checkBase(base string) (abs, real string, err error) {
	if base == "" {
		base = DefaultBase
	}
	if abs, err = filepath.Abs(base); err != nil {
		return "", "", errs.New(errs.BadInput, "scan", base, err, "")
	}
	hint := "give the CommuniGate Pro base directory (the server's --Base, " + DefaultBase + " by default)"
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", "", errs.Errorf(errs.BadInput, "scan", abs, hint, "no such directory")
	case errors.Is(err, fs.ErrPermission):
		return "", "", errs.Errorf(errs.BadInput, "scan", abs, "run as root or as the server's user", "permission denied")
	case err != nil:
		return "", "", errs.New(errs.BadInput, "scan", abs, unwrapPath(err), hint)
	case !fi.IsDir():
		return "", "", errs.Errorf(errs.BadInput, "scan", abs, hint, "not a directory")
	}
	found := false
	for _, d := range []string{DomainsDir, AccountsDir} {
		if st, err := os.Stat(filepath.Join(abs, d)); err == nil && st.IsDir() {
			found = true
		} else if errors.Is(err, fs.ErrPermission) {
			return "", "", errs.Errorf(errs.BadInput, "scan", abs, "run as root or as the server's user", "permission denied")
		}
	}
	if !found {
		return "", "", errs.Errorf(errs.BadInput, "scan", abs, hint, "not a CommuniGate Pro store: it holds neither %s/ nor %s/", DomainsDir, AccountsDir)
	}
	if real, err = filepath.EvalSymlinks(abs); err != nil {
		return "", "", errs.New(errs.BadInput, "scan", abs, unwrapPath(err), hint)
	}
	return abs, real, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// devIno identifies a directory.
type devIno struct{ dev, ino uint64 }

// job is a directory waiting to be read.
type job struct {
	path   string
	kind   Kind
	dom    int32 // index into walker.domains, -1 outside any domain
	follow bool  // path ends in a relocation link: open through it
}

// domainInfo is what every worker may read about a domain. Fields other
// than the scheme are guarded by walker.smu; the scheme is set by the
// worker that read the domain directory before any of its subdirectories
// is queued, and never changed.
type domainInfo struct {
	name, path string
	kind       Kind // KindDomain or KindMainDomain
	dev        uint64
	relocated  string
	dangling   bool
	scheme     placement

	// Account tallies shared by the workers, under amu: placement and
	// names (to find duplicates). See fit and nameSet for their memory.
	amu   sync.Mutex
	fit   fit
	names nameSet
	dups  []Duplicate // the first MaxErrors
	nDup  int64
}

type walker struct {
	ctx            context.Context
	opt            WalkOptions
	base, realBase string
	jobs           int
	stop           atomic.Bool

	// The queue of directories to read.
	mu       sync.Mutex
	cond     *sync.Cond
	queue    []job
	waiting  int
	finished bool
	qlen     atomic.Int32

	// Shared records, all small: bounded by domains, containers and links.
	smu        sync.Mutex
	domains    []*domainInfo
	claimed    map[devIno]string
	relocs     []Relocation
	unreadable []PathError
	over       []over                    // directories past their threshold
	limits     map[uint64]*MeasuredLimit // by device; nil: not measured
	recorded   []RecordedRelocation      // from the move journals
	journalErr error
	domDirs    []DirCount // directories holding domains
	volumes    map[uint64]*Volume

	nUnreadable atomic.Int64
	nVanished   atomic.Int64

	states []*wstate
}

func newWalker(ctx context.Context, base, realBase string, opt WalkOptions) *walker {
	if opt.Jobs <= 0 {
		opt.Jobs = 2 * runtime.NumCPU()
	}
	if opt.TopN <= 0 {
		opt.TopN = DefaultTopN
	}
	if opt.MaxFlatAccounts <= 0 {
		opt.MaxFlatAccounts = DefaultMaxFlatAccounts
	}
	if opt.MaxDomains <= 0 {
		opt.MaxDomains = DefaultMaxDomains
	}
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = DefaultMaxErrors
	}
	if opt.Stats == nil {
		opt.Stats = &WalkStats{}
	}
	w := &walker{
		ctx: ctx, opt: opt, base: base, realBase: realBase, jobs: opt.Jobs,
		claimed: map[devIno]string{},
		volumes: map[uint64]*Volume{},
		limits:  map[uint64]*MeasuredLimit{},
	}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *walker) run() {
	done := make(chan struct{})
	go func() {
		select {
		case <-w.ctx.Done():
			w.stop.Store(true)
		case <-done:
		}
	}()
	w.push(job{path: w.base, kind: KindBase, dom: -1, follow: true})
	var wg sync.WaitGroup
	w.states = make([]*wstate, w.jobs)
	for i := range w.states {
		s := &wstate{w: w}
		w.states[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, ok := w.next()
				if !ok {
					return
				}
				s.walkDir(nil, "", j)
			}
		}()
	}
	wg.Wait()
	close(done)
}

func (w *walker) push(j job) {
	w.mu.Lock()
	w.queue = append(w.queue, j)
	w.qlen.Store(int32(len(w.queue)))
	if w.waiting > 0 {
		w.cond.Signal()
	}
	w.mu.Unlock()
}

// next hands out the most recently queued directory (depth first keeps the
// queue short) and reports false once every worker is idle and nothing is
// left.
func (w *walker) next() (job, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) == 0 {
		if w.finished {
			return job{}, false
		}
		w.waiting++
		if w.waiting == w.jobs {
			w.finished = true
			w.cond.Broadcast()
			return job{}, false
		}
		w.cond.Wait()
		w.waiting--
	}
	j := w.queue[len(w.queue)-1]
	w.queue[len(w.queue)-1] = job{}
	w.queue = w.queue[:len(w.queue)-1]
	w.qlen.Store(int32(len(w.queue)))
	return j, true
}

// openFailed records why the directory of j could not be opened or read.
func (w *walker) openFailed(j job, err error) {
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR):
		// Removed (or replaced) after its parent was listed.
		w.nVanished.Add(1)
		return
	}
	w.nUnreadable.Add(1)
	w.smu.Lock()
	if len(w.unreadable) < w.opt.MaxErrors {
		w.unreadable = append(w.unreadable, PathError{Path: j.path, Error: errText(err)})
	}
	w.smu.Unlock()
}

func errText(err error) string {
	err = unwrapPath(err)
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return err.Error()
}

// claim records that the directory fi (reached as path) is walked, and
// reports false if it already was: the second way there is a loop or a
// duplicate and is not walked again.
func (w *walker) claim(fi fileInfo, path string) bool {
	key := devIno{fi.dev, fi.ino}
	w.smu.Lock()
	defer w.smu.Unlock()
	if _, seen := w.claimed[key]; seen {
		return false
	}
	w.claimed[key] = path
	if _, ok := w.volumes[fi.dev]; !ok {
		w.volumes[fi.dev] = &Volume{Device: fi.dev, Path: path}
	}
	return true
}

// registerDomain adds a domain and returns its index.
func (w *walker) registerDomain(name, path string, kind Kind) int32 {
	w.smu.Lock()
	defer w.smu.Unlock()
	w.domains = append(w.domains, &domainInfo{name: name, path: path, kind: kind, relocated: "no"})
	return int32(len(w.domains) - 1)
}

func (w *walker) domain(i int32) *domainInfo {
	w.smu.Lock()
	defer w.smu.Unlock()
	return w.domains[i]
}

// wstate is one worker's private tallies, merged when the walk ends.
type wstate struct {
	w     *walker
	bufs  [][]byte // one read buffer per level of inline recursion
	depth int

	top       topHeap
	doms      []domAgg
	dirs      int64
	entries   int64
	bytes     int64
	allocated int64
	untyped   map[uint64]int64 // by device
}

// domAgg is one worker's tally for one domain.
type domAgg struct {
	accounts, linked, flat, mnt int64
	levels                      [maxLevels + 1]int64
	dirs, entries               int64
	bytes, allocated            int64
	largest                     DirCount
	unreadable                  int64
}

// maxLevels is the deepest *.sub nesting tallied on its own; deeper ones
// are tallied together with it.
const maxLevels = 8

// maxInline bounds how deep a worker reads subdirectories itself before
// it queues them instead.
const maxInline = 128

const maxExamples = 5

func (s *wstate) agg(dom int32) *domAgg {
	for int(dom) >= len(s.doms) {
		s.doms = append(s.doms, domAgg{})
	}
	return &s.doms[dom]
}

func (s *wstate) buf() []byte {
	for len(s.bufs) <= s.depth {
		s.bufs = append(s.bufs, make([]byte, dirBufSize))
	}
	return s.bufs[s.depth]
}

// child reads the subdirectory name of h (whose path is j.path) now, in
// this goroutine, when the queue already has work for every worker, and
// queues it otherwise.
func (s *wstate) child(h *dirHandle, name string, j job) {
	if s.depth < maxInline && int(s.w.qlen.Load()) >= s.w.jobs {
		s.walkDir(h, name, j)
		return
	}
	s.w.push(j)
}

// container describes an account container being listed: which *.sub
// directories lead to it from the domain directory.
type container struct {
	subs   []string // *.sub names from the domain directory down; nil when flat
	inMnt  bool
	rel    string // path relative to the domain directory, "" for the domain itself
	bucket int    // the number in the name of a one-level hash subdirectory, or -1
	dir    int    // index in the domain's nameSet, -1 until its first account
}

func (s *wstate) container(d *domainInfo, j job) container {
	c := container{bucket: -1, dir: -1}
	if len(j.path) <= len(d.path) {
		return c
	}
	c.rel = j.path[len(d.path)+1:]
	for _, p := range strings.Split(c.rel, "/") {
		if strings.HasSuffix(p, MntSuffix) {
			c.inMnt = true
		}
		c.subs = append(c.subs, p)
	}
	if len(c.subs) == 1 {
		c.bucket = subNumber(c.subs[0])
	}
	return c
}

// deferred is an entry handled after its directory's listing: links (in
// name order, so that of two links to one place the same one is always
// followed) and, in a domain directory, its subdirectories (once the
// domain's scheme is known from all their names).
type deferred struct {
	name string
	kind Kind
	link bool
	dom  int32
}

// walkDir reads one directory: the one named name in parent, or j.path
// when parent is nil.
func (s *wstate) walkDir(parent *dirHandle, name string, j job) {
	w := s.w
	if w.stop.Load() {
		return
	}
	h, err := openDir(parent, name, j.path, j.follow)
	if err != nil {
		s.failed(j, err)
		return
	}
	defer h.close()
	var self fileInfo
	haveSelf := false
	if j.kind.isContainer() {
		if self, err = h.self(); err == nil {
			haveSelf = true
			if !j.follow && !w.claim(self, j.path) {
				w.addReloc(Relocation{Link: j.path, Kind: j.kind, Status: "loop", Device: self.dev,
					Error: "this directory was already reached another way (bind mount or loop)"})
				return
			}
			if j.follow {
				w.noteVolume(self.dev, j.path)
			}
			if j.kind == KindDomain || j.kind == KindMainDomain {
				w.smu.Lock()
				w.domains[j.dom].dev = self.dev
				w.smu.Unlock()
			}
		}
	}

	var dom *domainInfo
	c := container{bucket: -1, dir: -1}
	if j.dom >= 0 {
		dom = w.domain(j.dom)
		if j.kind.holdsAccounts() {
			c = s.container(dom, j)
		}
	}
	buf := s.buf()
	s.depth++
	defer func() { s.depth-- }()

	var n, accounts, domainsHere, pending int64
	var later []deferred
	sizes := w.opt.Sizes
	stats := w.opt.Stats
	err = h.each(buf, func(nm []byte, typ uint8) error {
		if w.stop.Load() {
			return errStopped
		}
		n++
		pending++
		if pending == 8192 {
			stats.Entries.Add(pending)
			pending = 0
		}
		if typ == typeUnknown || sizes {
			fi, err := h.lstat(string(nm))
			if err != nil {
				if errors.Is(err, syscall.ENOENT) {
					n--
					w.nVanished.Add(1)
					return nil
				}
				if typ == typeUnknown {
					return nil // counted as an entry of unknown type
				}
			} else {
				if typ == typeUnknown {
					if !haveSelf {
						if self, err = h.self(); err == nil {
							haveSelf = true
						}
					}
					if s.untyped == nil {
						s.untyped = map[uint64]int64{}
					}
					s.untyped[self.dev]++
				}
				typ = fi.typ
				if sizes {
					s.bytes += fi.size
					s.allocated += fi.allocated
					if dom != nil {
						a := s.agg(j.dom)
						a.bytes += fi.size
						a.allocated += fi.allocated
					}
				}
			}
		}
		if typ != typeDir && typ != typeLink && !j.kind.isContainer() {
			return nil // the common case: a file inside an account or mailbox
		}
		if j.kind == KindBase && string(nm) == journal.StateDir {
			return nil // cgscale's own state, read by ReadJobs, not store data
		}
		k := classify(j.kind, nm, typ)
		isLink := typ == typeLink
		switch {
		case k.IsAccount():
			accounts++
			s.account(h, j, dom, &c, nm, k, isLink)
			if !isLink && typ == typeDir {
				ck := KindAccount
				if k == KindMboxAccount {
					ck = KindMailboxDir
				}
				name := string(nm)
				s.child(h, name, job{path: j.path + "/" + name, kind: ck, dom: j.dom})
			}
		case k == KindAccountSub || k == KindMnt:
			if j.kind == KindDomain || j.kind == KindMainDomain {
				// Wait until the domain's scheme is known from all its
				// subdirectory names.
				later = append(later, deferred{string(nm), k, isLink, j.dom})
				return nil
			}
			if isLink {
				later = append(later, deferred{string(nm), k, true, j.dom})
				return nil
			}
			s.enter(h, string(nm), j, k, false)
		case k == KindDomain || k == KindMainDomain:
			if k == KindDomain {
				domainsHere++
			}
			name := string(nm)
			dname := name
			if k == KindMainDomain {
				dname = MainDomainName
			}
			idx := w.registerDomain(dname, j.path+"/"+name, k)
			if isLink {
				later = append(later, deferred{name, k, true, idx})
				return nil
			}
			s.enterDomain(h, name, idx, k, false)
		case k == KindDomainSub || k == KindDomains:
			if isLink {
				later = append(later, deferred{string(nm), k, true, -1})
				return nil
			}
			s.enter(h, string(nm), j, k, false)
		case isLink:
			// Links elsewhere are entries, never followed.
			if w.opt.OnLink != nil {
				w.opt.OnLink(j.path + "/" + string(nm))
			}
		case typ == typeDir:
			ck := KindOther
			if k == KindQueue || k == KindMailboxDir || k == KindDomainSettings {
				ck = k
			}
			name := string(nm)
			s.child(h, name, job{path: j.path + "/" + name, kind: ck, dom: j.dom})
		}
		return nil
	})
	stats.Entries.Add(pending)
	if err != nil && !errors.Is(err, errStopped) {
		s.failed(j, err)
	}
	stats.Dirs.Add(1)
	stats.Accounts.Add(accounts)
	s.dirs++
	s.entries += n
	if dom != nil {
		a := s.agg(j.dom)
		a.dirs++
		a.entries += n
		if d := (DirCount{Path: j.path, Entries: n, Kind: j.kind}); a.largest.Path == "" || d.larger(a.largest) {
			a.largest = d
		}
	}
	s.top.offer(DirCount{Path: j.path, Entries: n, Kind: j.kind}, w.opt.TopN)
	if m := w.opt.Measured; m != nil && !haveSelf && n > int64(m.Smallest) && j.kind != KindBase {
		// A large directory outside the skeleton: its volume decides.
		if self, err = h.self(); err == nil {
			haveSelf = true
		}
	}
	w.checkLimits(j, self.dev, haveSelf, n, accounts, domainsHere)
	if j.kind.holdsDomains() {
		w.smu.Lock()
		w.domDirs = append(w.domDirs, DirCount{Path: j.path, Entries: domainsHere, Kind: j.kind})
		w.smu.Unlock()
	}
	if j.kind == KindDomain || j.kind == KindMainDomain {
		var names []string
		for _, d := range later {
			if d.kind == KindAccountSub {
				names = append(names, d.name)
			}
		}
		dom.scheme = inferPlacement(names)
	}
	sort.Slice(later, func(a, b int) bool { return later[a].name < later[b].name })
	for _, d := range later {
		if d.kind == KindDomain || d.kind == KindMainDomain {
			s.enterDomain(h, d.name, d.dom, d.kind, d.link)
		} else {
			s.enter(h, d.name, j, d.kind, d.link)
		}
	}
}

var errStopped = errors.New("walk stopped")

func (s *wstate) failed(j job, err error) {
	s.w.openFailed(j, err)
	if j.dom >= 0 && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ENOTDIR) {
		s.agg(j.dom).unreadable++
	}
}

// enter walks a container (a *.sub, a *.mnt, Domains/) found in the
// directory of j, following it once if it is a relocation link.
func (s *wstate) enter(h *dirHandle, name string, j job, k Kind, isLink bool) {
	cj := job{path: j.path + "/" + name, kind: k, dom: j.dom}
	if isLink {
		if !s.w.relocate(h, name, cj) {
			return
		}
		cj.follow = true
	}
	s.child(h, name, cj)
}

// enterDomain walks a domain directory, following it once if it is a link.
func (s *wstate) enterDomain(h *dirHandle, name string, idx int32, k Kind, isLink bool) {
	cj := job{path: s.w.domain(idx).path, kind: k, dom: idx}
	if isLink {
		if !s.w.relocate(h, name, cj) {
			return
		}
		cj.follow = true
	}
	s.child(h, name, cj)
}

// account tallies one account entry found in the container listed by j.
func (s *wstate) account(h *dirHandle, j job, dom *domainInfo, c *container, nm []byte, k Kind, isLink bool) {
	if dom == nil {
		return
	}
	a := s.agg(j.dom)
	a.accounts++
	switch {
	case c.inMnt:
		a.mnt++
	case len(c.subs) == 0:
		a.flat++
	default:
		a.levels[min(len(c.subs), maxLevels)]++
	}
	bare := bareName(nm, k)
	dom.amu.Lock()
	if c.dir < 0 {
		c.dir = dom.names.dirIndex(j.path)
	}
	if other := dom.names.add(bare, nm, c.dir); other != "" {
		dom.nDup++
		if len(dom.dups) < s.w.opt.MaxErrors {
			dom.dups = append(dom.dups, Duplicate{Domain: dom.name, Name: string(bare), First: other, Second: j.path + "/" + string(nm)})
		}
	}
	if !c.inMnt && len(c.subs) > 0 && dom.scheme.known() {
		dom.fit.add(dom.scheme, c, bare, nm)
	}
	dom.amu.Unlock()
	if isLink {
		a.linked++
		if _, err := h.stat(string(nm)); err != nil {
			text, _ := h.readlink(string(nm))
			s.w.addReloc(Relocation{Link: j.path + "/" + string(nm), Text: text, Kind: k,
				Status: "dangling", Error: errText(err)})
		}
	}
	if f := s.w.opt.OnAccount; f != nil {
		name := string(nm)
		rel := name
		if c.rel != "" {
			rel = c.rel + "/" + name
		}
		f(Account{Domain: dom.name, DomainPath: dom.path, Path: j.path + "/" + name, Rel: rel,
			Name: string(bareName(nm, k)), Kind: k, Link: isLink, InMnt: c.inMnt})
	}
}

// addReloc records a link that is not walked through.
func (w *walker) addReloc(r Relocation) {
	w.smu.Lock()
	defer w.smu.Unlock()
	w.relocs = append(w.relocs, r)
}

func (w *walker) noteVolume(dev uint64, path string) {
	w.smu.Lock()
	defer w.smu.Unlock()
	if _, ok := w.volumes[dev]; !ok {
		w.volumes[dev] = &Volume{Device: dev, Path: path}
	}
}

// relocate examines the link name in h that stands where the container
// cj.path would be, records it, and reports whether to walk through it.
func (w *walker) relocate(h *dirHandle, name string, cj job) bool {
	r := Relocation{Link: cj.path, Kind: cj.kind}
	r.Text, _ = h.readlink(name)
	fi, err := h.stat(name)
	switch {
	case err != nil && errors.Is(err, syscall.ELOOP):
		r.Status, r.Error = "loop", errText(err)
	case err != nil:
		r.Status, r.Error = "dangling", errText(err)
	case fi.typ != typeDir:
		r.Status = "not-a-directory"
	}
	if r.Status == "" {
		r.Device = fi.dev
		if res, err := filepath.EvalSymlinks(cj.path); err == nil {
			r.Resolved = res
		}
		r.OnMountPoint = isMountRoot(r.Resolved, fi)
		switch {
		case w.inside(r.Resolved):
			r.Status = "inside"
		case !w.claim(fi, cj.path):
			r.Status = "loop"
			r.Error = "its target was already walked (a loop, or a second link to the same directory)"
		default:
			r.Status = "followed"
		}
	}
	w.smu.Lock()
	w.relocs = append(w.relocs, r)
	if cj.dom >= 0 {
		d := w.domains[cj.dom]
		if cj.kind == KindDomain || cj.kind == KindMainDomain {
			d.relocated = "yes"
			if r.Status == "dangling" || r.Status == "not-a-directory" {
				d.dangling = true
			}
		} else if d.relocated == "no" {
			d.relocated = "partly"
		}
	}
	w.smu.Unlock()
	return r.Status == "followed"
}

// inside reports whether the resolved path lies in the store's own
// Domains/ or Accounts/ (or is the base): such a link is an alias, and
// following it would count the same accounts twice.
func (w *walker) inside(resolved string) bool {
	if resolved == "" || resolved == w.realBase {
		return resolved != ""
	}
	for _, d := range []string{DomainsDir, AccountsDir} {
		p := filepath.Join(w.realBase, d)
		if resolved == p || strings.HasPrefix(resolved, p+"/") {
			return true
		}
	}
	return false
}

// isMountRoot reports whether the directory path (described by fi) is the
// root of a mounted filesystem.
func isMountRoot(path string, fi fileInfo) bool {
	if path == "" || path == "/" {
		return false
	}
	up, err := os.Lstat(filepath.Dir(path))
	if err != nil {
		return false
	}
	st, ok := up.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) != fi.dev
}

// worse orders directories for the top-N list: fewer entries, then the
// later path, is worse. A total order, so the list does not depend on
// which worker saw what.
func worse(a, b DirCount) bool {
	if a.Entries != b.Entries {
		return a.Entries < b.Entries
	}
	return a.Path > b.Path
}

// topHeap keeps the largest directories seen, the worst on top.
type topHeap []DirCount

func (t topHeap) Len() int           { return len(t) }
func (t topHeap) Less(i, j int) bool { return worse(t[i], t[j]) }
func (t topHeap) Swap(i, j int)      { t[i], t[j] = t[j], t[i] }
func (t *topHeap) Push(x any)        { *t = append(*t, x.(DirCount)) }
func (t *topHeap) Pop() any {
	old := *t
	x := old[len(old)-1]
	*t = old[:len(old)-1]
	return x
}

func (t *topHeap) offer(d DirCount, n int) {
	if len(*t) < n {
		heap.Push(t, d)
		return
	}
	if worse((*t)[0], d) {
		(*t)[0] = d
		heap.Fix(t, 0)
	}
}
