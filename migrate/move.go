package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/layout"
)

// MoveOptions says what to relocate where, and how.
type MoveOptions struct {
	Src       string // a domain, *.sub or *.mnt directory of a store
	VolumeDir string // a directory on the target volume
	Relative  bool   // make the link relative (default absolute)
	// MetaOnly verifies names, types, sizes, modes, owners, times, link
	// texts and attributes, but not contents (--verify=meta).
	MetaOnly       bool
	KeepSource     bool // keep the old tree under a .cgscale-kept name
	AllowXattrLoss bool // swap even if the target refused some attributes
	Force          bool // do not refuse when the server runs (--force)
	// RewriteRelativeLinks gives each relative symbolic link inside Src
	// whose target lies outside Src the absolute path of that target in
	// the copy (--rewrite-relative-links); without it such links refuse
	// the move. The source's links keep their text.
	RewriteRelativeLinks bool
	Jobs                 int // goroutines scanning, copying, verifying and deleting
	Views                []View
	Counters             *Counters
	// Phase, when set, is called as each phase starts: "scan", "copy",
	// "verify", "swap", "remove".
	Phase func(phase string)

	// resumeCmd and abortCmd, when set, are the commands hints name for
	// finishing or rolling back (apply sets its own); default the move's.
	resumeCmd, abortCmd string

	scanTime time.Duration // how long PlanMove took, for MoveResult.Phases
	scanCPU  time.Duration // and the processor time it used

	skipSpaceCheck  bool // tests: reach the copy on a target that is too small
	forceTwoRenames bool // tests: swap as on a filesystem without RENAME_EXCHANGE
	// swapFault, when set (tests), is asked before each rename of the
	// two-renames swap ("rename aside", "link in", "put back") and before
	// the syncs after the swap ("sync") and after a rollback deleted the
	// partial copy ("rollback sync"); an error it returns stands for that
	// step failing.
	swapFault func(step string) error
}

// fault is the error swapFault injects for step, if any.
func (o *MoveOptions) fault(step string) error {
	if o.swapFault == nil {
		return nil
	}
	return o.swapFault(step)
}

func (o *MoveOptions) phase(p string) {
	if o.Phase != nil {
		o.Phase(p)
	}
}

// MovePlan is what a move will do, worked out without changing anything.
type MovePlan struct {
	Source     string     `json:"source"`
	Kind       string     `json:"kind"`
	Base       string     `json:"base"`
	Dest       string     `json:"dest"`
	Link       string     `json:"link"`
	Relative   bool       `json:"relative"`
	LinkWhy    string     `json:"link_why"`
	Totals     Totals     `json:"totals"`
	Target     TargetInfo `json:"target"`
	NeedBytes  int64      `json:"need_bytes"`
	NeedInodes int64      `json:"need_inodes"`
	Warnings   []string   `json:"warnings"`

	made []string // directories to create above Dest, outermost first
	uid  int
	gid  int
}

// MoveResult is the outcome of a move or of a resumed one.
type MoveResult struct {
	Plan    *MovePlan   `json:"plan"`
	Outcome string      `json:"outcome"` // "moved", "rolled back", "interrupted", "dry run"
	Copy    CopyStats   `json:"copy"`
	Verify  VerifyStats `json:"verify"`
	Swap    string      `json:"swap,omitempty"` // "exchange" or "two renames"
	Kept    string      `json:"kept,omitempty"`
	// Changed are the entries of the source that changed after the copy
	// was verified: the deletion of the old tree kept them, in Kept.
	Changed  *Changed `json:"changed,omitempty"`
	Journal  string   `json:"journal,omitempty"`
	Resumed  bool     `json:"resumed"`
	Warnings []string `json:"warnings,omitempty"`
	// Phases are the phases this run went through, in order, with the
	// time each took (a resumed run lists only its own).
	Phases []PhaseTime `json:"phases,omitempty"`
}

// PhaseTime is how long one phase of a move took: "scan" (the pre-flight
// scan and probe), "prepare" (journal, parent directories, leftovers of
// an earlier attempt), "copy", "verify" (the sync of the copy runs
// alongside), "sync" (the wait for the copy to be durable once the verify
// is done), "swap", "remove" (the old tree deleted).
type PhaseTime struct {
	Phase string `json:"phase"`
	Ms    int64  `json:"ms"`
	// CPUMs is the processor time (user and system, all threads) the
	// process used meanwhile: above Ms, the phase ran in parallel; well
	// below, it waited on the disks.
	CPUMs int64 `json:"cpu_ms"`
}

// cpuTime is the processor time the process has used so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func refusedf(op, path, hint, format string, args ...any) error {
	return errs.Errorf(errs.Refused, op, path, hint, format, args...)
}

// PlanMove checks everything a move needs and changes nothing in the
// store (the probe works in a scratch directory on the target).
func PlanMove(ctx context.Context, opts MoveOptions) (*MovePlan, error) {
	opts.phase("scan")
	r, err := Classify(opts.Src)
	if err != nil {
		return nil, err
	}
	// A base without Settings/ is no server's (a relocation volume, say):
	// its lock and ProcessID would guard nothing.
	if err := CheckServerBase("move", r.Base); err != nil {
		return nil, err
	}
	var sst, pst unix.Stat_t
	if err := unix.Lstat(r.Path, &sst); err != nil {
		return nil, errs.New(errs.BadInput, "stat", r.Path, err, "give an existing directory of the store")
	}
	switch sst.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFLNK:
		return nil, refusedf("move", r.Path, "cgscale does not move a relocated directory again; `cgscale scan "+r.Base+"` shows where it is",
			"already a symbolic link (relocated before?)")
	default:
		return nil, refusedf("move", r.Path, "", "not a directory")
	}
	if err := unix.Stat(filepath.Dir(r.Path), &pst); err != nil {
		return nil, errs.New(errs.Failed, "stat", filepath.Dir(r.Path), err, "")
	}
	if pst.Dev != sst.Dev {
		return nil, refusedf("move", r.Path, "mount that volume elsewhere and link to it by hand, or copy its contents by other means; do not unmount it and move the directory beneath, which does not hold its mail",
			"is itself a mount point; a mounted directory cannot be swapped for a link")
	}
	vol, err := filepath.Abs(opts.VolumeDir)
	if err != nil {
		return nil, errs.New(errs.BadInput, "resolve", opts.VolumeDir, err, "")
	}
	ti, err := statTarget(vol)
	if err != nil {
		return nil, err
	}
	realVol, err := filepath.EvalSymlinks(vol)
	if err != nil {
		return nil, errs.New(errs.BadInput, "resolve", vol, err, "")
	}
	// Target inside the source, or the same directory: by device and inode.
	for p := realVol; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err == nil && st.Dev == sst.Dev && st.Ino == sst.Ino {
			if p == realVol {
				return nil, refusedf("check target", vol, "give a directory on another volume", "the target is the source directory itself")
			}
			return nil, refusedf("check target", vol, "give a directory on another volume", "the target is inside the source %s", r.Path)
		}
		if p == "/" || p == "." {
			break
		}
	}
	if ti.Dev == sst.Dev {
		a, b := mountID(r.Path), mountID(realVol)
		if a == 0 || b == 0 || a == b {
			dest := filepath.Join(vol, r.Rel)
			if _, err := os.Lstat(dest); err == nil {
				return nil, refusedf("check target", dest,
					lookFirst+", or choose another directory",
					"already exists; the target is on the same filesystem as the source, where a plain rename would do, but not onto this")
			}
			link := dest
			if opts.Relative {
				if from, err := filepath.EvalSymlinks(filepath.Dir(r.Path)); err == nil {
					if rel, err := filepath.Rel(from, filepath.Join(realVol, r.Rel)); err == nil {
						link = rel
					}
				}
			}
			return nil, refusedf("check target", vol,
				fmt.Sprintf("a plain rename does it, with the server stopped: mkdir -p %s && mv -T %s %s && ln -s %s %s",
					layout.ShellQuote(filepath.Dir(dest)), layout.ShellQuote(r.Path), layout.ShellQuote(dest), layout.ShellQuote(link), layout.ShellQuote(r.Path)),
				"the target is on the same filesystem as the source; moving the data is not needed")
		}
		// Same device through another mount (a bind mount): rename gives
		// EXDEV there, so the copy is the way.
	}
	p := &MovePlan{Source: r.Path, Kind: r.Kind, Base: r.Base, Dest: filepath.Join(vol, r.Rel),
		Relative: opts.Relative, Target: ti, uid: int(sst.Uid), gid: int(sst.Gid)}
	var dst unix.Stat_t
	if err := unix.Lstat(p.Dest, &dst); err == nil {
		return nil, refusedf("check target", p.Dest, lookFirst+", or choose another volume directory", "already exists")
	} else if !errors.Is(err, unix.ENOENT) {
		return nil, errs.New(errs.Failed, "stat", p.Dest, err, "")
	}
	for d := filepath.Dir(p.Dest); d != vol && len(d) > len(vol); d = filepath.Dir(d) {
		if _, err := os.Lstat(d); errors.Is(err, os.ErrNotExist) {
			p.made = append([]string{d}, p.made...)
		}
	}
	if opts.Relative {
		from, err := filepath.EvalSymlinks(filepath.Dir(r.Path))
		if err != nil {
			return nil, errs.New(errs.Failed, "resolve", filepath.Dir(r.Path), err, "")
		}
		rel, err := filepath.Rel(from, filepath.Join(realVol, r.Rel))
		if err != nil {
			return nil, errs.New(errs.Failed, "relative link", r.Path, err, "")
		}
		p.Link = rel
		p.LinkWhy = "relative (--relative): it resolves wherever the store and the volume are seen under the same common parent, as in a container that mounts both"
	} else {
		p.Link = p.Dest
		p.LinkWhy = "absolute (the default): it resolves from any working directory and keeps working if the store's base is moved or mounted elsewhere, but only where " + vol + " is visible at that same path"
	}
	if len(opts.Views) > 0 {
		if !serverSees(opts.Views, r.Path, p.Link, p.Dest) {
			p.Warnings = append(p.Warnings, fmt.Sprintf("the link %s -> %s does not resolve to %s in the server's view (--server-view): inside that container or chroot the domain would vanish; mount the volume there or use --relative", r.Path, p.Link, p.Dest))
		}
	} else if !opts.Relative {
		p.Warnings = append(p.Warnings, fmt.Sprintf("if the server runs in a container or chroot, %s must be visible there at the same path, or the link dangles; --server-view HOST=SEEN checks this", vol))
	}

	pfd, err := unix.Open(filepath.Dir(r.Path), dirFlags&^unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, errs.New(errs.Failed, "open directory", filepath.Dir(r.Path), err, "")
	}
	defer unix.Close(pfd)
	t, err := scanTree(ctx, pfd, filepath.Base(r.Path), r.Path, opts.Jobs)
	if err != nil {
		return nil, err
	}
	t.TargetBytes, t.TargetBlockSize = t.NeedOn(ti.BlockSize)
	p.Totals = t
	p.NeedBytes = t.TargetBytes + t.TargetBytes/100 + 4<<20
	p.NeedInodes = t.Inodes + t.Inodes/100 + 16
	if t.OutsideLinks > 0 {
		if !opts.RewriteRelativeLinks {
			return p, refusedf("check links", r.Path,
				"rerun with --rewrite-relative-links to give them their absolute targets in the copy (the source keeps its links), or replace each by hand with an absolute link: ln -sfn TARGET LINK",
				"%s inside lead%s out of it and would dangle after the move: %s",
				countNoun(t.OutsideLinks, "relative symbolic link", "relative symbolic links"), verbS(t.OutsideLinks), outsideList(t))
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s leading out of %s will get absolute targets in the copy (--rewrite-relative-links): %s",
			countNoun(t.OutsideLinks, "relative symbolic link", "relative symbolic links"), r.Path, outsideList(t)))
	}
	if t.SharedOut > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s also %s hard links outside %s; they become separate copies (%d bytes more on the target) and their link counts in the store drop",
			countNoun(t.SharedOut, "file", "files"), map[bool]string{true: "has", false: "have"}[t.SharedOut == 1], r.Path, t.SharedOutBytes))
	}
	if !opts.skipSpaceCheck {
		if uint64(p.NeedBytes) > ti.FreeBytes {
			return p, refusedf("check target", vol, "free space there or choose a larger volume",
				"not enough space: the tree needs about %d bytes on the target (in %d-byte blocks, each inode once, plus 1%% and 4 MiB), the target has %d free",
				p.NeedBytes, t.TargetBlockSize, ti.FreeBytes)
		}
		if ti.TotalInodes > 0 && uint64(p.NeedInodes) > ti.FreeInodes {
			return p, refusedf("check target", vol, "choose a volume with more inodes (mkfs -N or a smaller -i)",
				"not enough inodes: the tree needs %d, the target has %d free", p.NeedInodes, ti.FreeInodes)
		}
	}
	p.Target.Probe = probeTarget(vol, strconv.Itoa(os.Getpid()))
	for _, pr := range p.Target.Probe {
		if pr.Err == "" {
			continue
		}
		if strings.HasPrefix(pr.Op, "user.*") && opts.AllowXattrLoss {
			p.Warnings = append(p.Warnings, "the target refuses user.* extended attributes ("+pr.Err+"); they will be lost (--allow-xattr-loss)")
			continue
		}
		hint := "choose a target that supports what the mail server does (links, renames, exclusive creates)"
		if strings.HasPrefix(pr.Op, "user.*") {
			hint = "choose a target with extended attributes, or accept their loss with --allow-xattr-loss"
		}
		return p, refusedf("probe target", vol, hint, "%s fails there: %s", pr.Op, pr.Err)
	}
	return p, nil
}

// outsideList names the first links of t that lead out of the tree, and
// how many more there are.
func outsideList(t Totals) string {
	const show = 3
	var parts []string
	for i, l := range t.OutsideLinkList {
		if i == show {
			break
		}
		parts = append(parts, fmt.Sprintf("%s -> %s (%s)", ShowPath(l.Path), ShowPath(l.Text), ShowPath(l.Target)))
	}
	s := strings.Join(parts, ", ")
	if more := t.OutsideLinks - int64(len(parts)); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// countNoun writes n with the singular or plural noun.
func countNoun(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// verbS is the "s" of a verb in the third person: one link leads, two lead.
func verbS(n int64) string {
	if n == 1 {
		return "s"
	}
	return ""
}

// Move relocates opts.Src to opts.VolumeDir under the store lock, with a
// journal of its own: plan, copy, verify, swap, remove.
func Move(ctx context.Context, opts MoveOptions) (*MoveResult, error) {
	r, err := Classify(opts.Src)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(r.Path); err != nil {
		return nil, errs.New(errs.BadInput, "stat", r.Path, err, "give an existing directory of the store")
	}
	lock, err := Lock(r.Base)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if !opts.Force {
		if err := GuardServer(r.Base); err != nil {
			return nil, err
		}
	}
	if err := refuseUnfinished(r.Base); err != nil {
		return nil, err
	}
	start, cpu0 := time.Now(), cpuTime()
	plan, err := PlanMove(ctx, opts)
	if err != nil {
		return nil, err
	}
	opts.scanTime, opts.scanCPU = time.Since(start), cpuTime()-cpu0
	j, err := CreateJournal(r.Base)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	if err := j.Append(Record{Kind: "job", Step: StepBegin, Note: "move"}); err != nil {
		return nil, err
	}
	res, err := RunRelocation(ctx, j, 0, plan, opts)
	return res, endJob(j, res, err)
}

// endJob writes the job's end record unless the job must be resumed.
func endJob(j *Journal, res *MoveResult, err error) error {
	if errs.KindOf(err) == errs.Interrupted || errors.Is(err, context.Canceled) || res == nil || res.Outcome == "" {
		return err
	}
	if e := j.Append(Record{Kind: "job", Step: StepEnd, Note: res.Outcome}); e != nil && err == nil {
		return e
	}
	return err
}

// optRewriteLinks is the journal option recording --rewrite-relative-links.
const optRewriteLinks = "rewrite-relative-links"

// relocation is one move being carried out, rebuilt from its journal on resume.
type relocation struct {
	j     *Journal
	op    int
	begin Record
	opts  MoveOptions
	res   *MoveResult
	cur   string // the phase under way, for the message of an interruption

	// since is the time after which a change to the source may have
	// escaped the verify (fence; zero: not known)
	since time.Time

	// made is the journal's "created" record of the copy's top directory
	// (its device and inode), nil if none was recorded: only a directory
	// that still has that identity is ever deleted at Dst.
	made *Record

	// removing: an earlier run began deleting the old tree (its
	// "removing" record), so part of it may be gone
	removing bool

	// targetGone is why Dst's volume is not the journaled one (an abort
	// with the volume unmounted): undo then leaves the target alone.
	targetGone error

	timed      string        // the phase being timed (also those not shown)
	timedSince time.Time     // when it started
	timedCPU   time.Duration // the process's processor time then
}

// enter starts phase p.
func (r *relocation) enter(p string) {
	r.cur = p
	r.mark(p)
	r.opts.phase(p)
}

// mark ends the timing of the phase under way and starts that of p ("" to
// stop timing).
func (r *relocation) mark(p string) {
	now, cpu := time.Now(), cpuTime()
	if r.timed != "" {
		r.res.Phases = append(r.res.Phases, PhaseTime{Phase: r.timed, Ms: now.Sub(r.timedSince).Milliseconds(),
			CPUMs: (cpu - r.timedCPU).Milliseconds()})
	}
	r.timed, r.timedSince, r.timedCPU = p, now, cpu
}

// linkText is the copier's rewriting of relative links that lead out of
// the source (nil unless the move was started with RewriteRelativeLinks).
func (r *relocation) linkText() func(rel, text string) (string, bool) {
	if r.begin.Opts[optRewriteLinks] != "true" {
		return nil
	}
	root := physicalPath(r.src())
	return func(rel, text string) (string, bool) { return outsideTarget(root, rel, text) }
}

// stopped is the cause of an interruption in words (what was under way
// and how far it got); it wraps the context's error for errors.Is.
type stopped struct {
	what string
	err  error
}

func (s *stopped) Error() string { return s.what }
func (s *stopped) Unwrap() error { return s.err }

// progress says where an interrupted relocation stood.
func (r *relocation) progress() string {
	if r.cur == "" {
		return "stopped before the copy"
	}
	s := "stopped in the " + r.cur
	if r.opts.Counters != nil && r.res.Plan != nil && (r.cur == "copy" || r.cur == "verify") {
		t := r.res.Plan.Totals
		if total := t.Dirs + t.Files + t.Symlinks + t.Special; total > 0 {
			pct := r.opts.Counters.Entries.Load() * 100 / total
			s += fmt.Sprintf(", %d%% done", min(pct, 99))
		}
	}
	return s
}

func (r *relocation) src() string     { return r.begin.Src }
func (r *relocation) name() string    { return filepath.Base(r.begin.Src) }
func (r *relocation) oldName() string { return r.begin.Temp + ".old" }
func (r *relocation) step(s, note string) error {
	return r.j.Append(Record{Op: r.op, Kind: "move", Step: s, Note: note})
}

// RunRelocation carries out plan as operation op of the job journaled in j.
// It writes the operation's records, not the job's end.
func RunRelocation(ctx context.Context, j *Journal, op int, plan *MovePlan, opts MoveOptions) (*MoveResult, error) {
	flags := map[string]string{"verify": "full", "keep-source": "false", "allow-xattr-loss": "false", "jobs": strconv.Itoa(opts.Jobs)}
	if opts.MetaOnly {
		flags["verify"] = "meta"
	}
	if opts.KeepSource {
		flags["keep-source"] = "true"
	}
	if opts.AllowXattrLoss {
		flags["allow-xattr-loss"] = "true"
	}
	if opts.RewriteRelativeLinks {
		flags[optRewriteLinks] = "true"
	}
	begin := Record{Op: op, Kind: "move", Step: StepBegin, Src: plan.Source, Dst: plan.Dest, Link: plan.Link,
		Temp: ".cgscale-" + j.ID + "-" + strconv.Itoa(op), Made: plan.made, Dev: plan.Target.Dev, FSID: plan.Target.FSID,
		Opts: flags}
	if err := j.Append(begin); err != nil {
		return nil, err
	}
	r := &relocation{j: j, op: op, begin: begin, opts: opts,
		res: &MoveResult{Plan: plan, Journal: j.Path, Warnings: plan.Warnings}}
	if opts.scanTime > 0 {
		r.res.Phases = append(r.res.Phases, PhaseTime{Phase: "scan", Ms: opts.scanTime.Milliseconds(), CPUMs: opts.scanCPU.Milliseconds()})
	}
	r.mark("prepare")
	err := r.fromCopy(ctx)
	r.mark("")
	return r.res, err
}

// makeParents creates the directories above Dst on the target (again,
// on resume) with the mode and owner of their counterparts in the store.
func (r *relocation) makeParents() error {
	c, err := Classify(r.src())
	if err != nil {
		return err
	}
	vol := strings.TrimSuffix(r.begin.Dst, "/"+c.Rel)
	for _, d := range r.begin.Made {
		rel, _ := filepath.Rel(vol, d)
		mode, uid, gid := os.FileMode(0o755), -1, -1
		var st unix.Stat_t
		if unix.Stat(filepath.Join(c.Base, rel), &st) == nil {
			mode, uid, gid = os.FileMode(st.Mode&0o777), int(st.Uid), int(st.Gid)
		}
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return errs.New(errs.Failed, "create directory", d, err, "")
		}
		_ = os.Lchown(d, uid, gid)
		_ = os.Chmod(d, mode)
	}
	return nil
}

func (r *relocation) interrupted(err error) error {
	r.res.Outcome = "interrupted"
	return errs.New(errs.Interrupted, "move", r.src(), &stopped{r.progress(), err},
		"the source is untouched until the swap; run `"+r.resumeCmd()+"` to finish, or `"+r.abortCmd()+"` to roll back")
}

func (r *relocation) baseHint() string {
	if c, err := Classify(r.src()); err == nil {
		return c.Base
	}
	return "BASE"
}

// resumeCmd is the command that finishes this relocation.
func (r *relocation) resumeCmd() string {
	if r.opts.resumeCmd != "" {
		return r.opts.resumeCmd
	}
	return "cgscale move --resume " + r.baseHint()
}

// abortCmd is the command that rolls this relocation back.
func (r *relocation) abortCmd() string {
	if r.opts.abortCmd != "" {
		return r.opts.abortCmd
	}
	return "cgscale move --abort " + r.baseHint()
}

func isCancel(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled)
}

// fromCopy runs copy, verify, swap and clean-up. Any partial copy left by
// an earlier attempt is removed first: until the swap the source is the truth.
func (r *relocation) fromCopy(ctx context.Context) error {
	o := r.opts
	spfd, err := unix.Open(filepath.Dir(r.src()), dirFlags&^unix.O_NOFOLLOW, 0)
	if err != nil {
		return r.rollback(ctx, errs.New(errs.Failed, "open directory", filepath.Dir(r.src()), err, ""))
	}
	defer unix.Close(spfd)
	if err := r.makeParents(); err != nil {
		return r.rollback(ctx, err)
	}
	dpfd, err := unix.Open(filepath.Dir(r.begin.Dst), dirFlags&^unix.O_NOFOLLOW, 0)
	if err != nil {
		return r.rollback(ctx, errs.New(errs.Failed, "open directory", filepath.Dir(r.begin.Dst), err, ""))
	}
	defer unix.Close(dpfd)
	dname := filepath.Base(r.begin.Dst)
	if err := r.removeCopy(ctx, dpfd); err != nil {
		return r.failed(ctx, err)
	}
	r.enter("copy")
	linkText := r.linkText()
	created := func(dev, ino uint64) error {
		rec := Record{Op: r.op, Kind: "move", Step: StepCreated, Dst: r.begin.Dst, Dev: dev, Ino: ino}
		if err := r.j.Append(rec); err != nil {
			return err
		}
		r.made = &rec
		return nil
	}
	cs, err := copyTree(ctx, spfd, r.name(), dpfd, dname, copyOpts{jobs: o.Jobs, counters: o.Counters,
		srcRoot: r.src(), dstRoot: r.begin.Dst, linkText: linkText, created: created})
	r.res.Copy = cs
	if err != nil {
		return r.failed(ctx, err)
	}
	for _, l := range cs.RewrittenLinks {
		if err := r.j.Append(Record{Op: r.op, Kind: "move", Step: StepLinkRewritten, Src: filepath.Join(r.begin.Dst, l.Path),
			Link: l.To, Note: "was " + l.From}); err != nil {
			return err
		}
	}
	if len(cs.XattrLosses) > 0 && !o.AllowXattrLoss {
		l := cs.XattrLosses[0]
		return r.rollback(ctx, errs.Errorf(errs.Failed, "copy extended attributes", r.src(),
			"the copy is removed and the source kept; use a target that takes them, or rerun with --allow-xattr-loss",
			"the target refused %s, first %s on %s: %s", countNoun(int64(len(cs.XattrLosses)), "extended attribute", "extended attributes"), ShowPath(l.Name), ShowPath(l.Path), l.Err))
	}
	// From here on, what changes in the source may escape the verify: the
	// deletion of the old tree keeps whatever changed after this moment.
	if err := r.fence(spfd); err != nil {
		return r.failed(ctx, err)
	}
	// The copy is made durable while it is verified (the verifier reads
	// what the sync writes back); both end before the journal says
	// "copied" and long before the swap.
	synced := make(chan error, 1)
	go func() { synced <- unix.Syncfs(dpfd) }()
	r.enter("verify")
	grain := timeGrain(dpfd, r.begin.Temp+".time")
	lost := map[XattrLoss]bool{}
	for _, l := range cs.lost {
		lost[l] = true
	}
	vs, err := verifyTree(ctx, spfd, r.name(), dpfd, dname, verifyOpts{checksums: !o.MetaOnly, jobs: o.Jobs, counters: o.Counters, timeGrain: grain, lost: lost,
		srcRoot: r.src(), dstRoot: r.begin.Dst, linkText: linkText})
	r.res.Verify = vs
	r.mark("sync")
	serr := <-synced
	if err != nil {
		return r.failed(ctx, err)
	}
	if serr != nil {
		return r.failed(ctx, errs.New(errs.Failed, "sync target", r.begin.Dst, serr, ""))
	}
	if vs.Count > 0 {
		m := vs.Mismatches[0]
		return r.rollback(ctx, errs.Errorf(errs.Failed, "verify", r.src(),
			"the copy is removed and the source kept; pause delivery to it (stop the server) and move again",
			"%s between the source and the copy, first %s: %s", countNoun(int64(vs.Count), "difference", "differences"), ShowPath(m.Path), m.What))
	}
	if err := r.step("copied", countNoun(cs.Files, "file", "files")+", "+countNoun(cs.Bytes, "byte", "bytes")); err != nil {
		return err
	}
	if err := r.step("verified", countNoun(vs.Entries, "entry", "entries")+", "+countNoun(vs.Checksums, "file", "files")+" checksummed"); err != nil {
		return err
	}
	r.enter("swap")
	mode, err := r.swap(spfd)
	if mode != "" && err != nil {
		// Half swapped (the directory aside, the link not in place), or
		// swapped but not known durable: only --resume or --abort, which
		// read this state from the disk, may go on. Nothing is rolled
		// back and the job stays open.
		return err
	}
	if err != nil {
		return r.rollback(ctx, err)
	}
	r.res.Swap = mode
	if err := r.step("swapped", mode); err != nil {
		return err
	}
	return r.finish(ctx, spfd)
}

// failed handles an error before the swap: an interruption is left for
// --resume, anything else is rolled back.
func (r *relocation) failed(ctx context.Context, err error) error {
	if isCancel(ctx, err) {
		cause := ctx.Err()
		if cause == nil {
			cause = context.Canceled
		}
		return r.interrupted(cause)
	}
	return r.rollback(ctx, err)
}

// swap puts the link where the source directory stands. With
// RENAME_EXCHANGE the two trade places in one step; without it the
// directory is renamed aside and the link renamed in at once, and the
// directory is put back if the second rename fails.
func (r *relocation) swap(pfd int) (string, error) {
	name, temp := r.name(), r.begin.Temp
	var st unix.Stat_t
	if lstatAt(pfd, temp, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		_ = unix.Unlinkat(pfd, temp, 0) // our own link from an interrupted attempt
	}
	if err := unix.Symlinkat(r.begin.Link, pfd, temp); err != nil {
		return "", errs.New(errs.Failed, "create link", filepath.Join(filepath.Dir(r.src()), temp), err, "")
	}
	var src unix.Stat_t
	if err := lstatAt(pfd, name, &src); err != nil {
		return "", errs.New(errs.Failed, "stat", r.src(), err, "")
	}
	_ = unix.Fchownat(pfd, temp, int(src.Uid), int(src.Gid), unix.AT_SYMLINK_NOFOLLOW)
	// The link must lead to the copy before it replaces anything.
	var viaLink, dest unix.Stat_t
	if err := unix.Fstatat(pfd, temp, &viaLink, 0); err != nil || unix.Stat(r.begin.Dst, &dest) != nil ||
		viaLink.Dev != dest.Dev || viaLink.Ino != dest.Ino {
		_ = unix.Unlinkat(pfd, temp, 0)
		return "", errs.Errorf(errs.Failed, "check link", r.src(), "report this; nothing was changed",
			"the link text %q does not lead to the copy %s", r.begin.Link, r.begin.Dst)
	}
	var err error = unix.EINVAL
	if !r.opts.forceTwoRenames {
		err = unix.Renameat2(pfd, temp, pfd, name, unix.RENAME_EXCHANGE)
	}
	if err == nil {
		return "exchange", r.syncParent(pfd, "swap")
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
		_ = unix.Unlinkat(pfd, temp, 0)
		return "", errs.New(errs.Failed, "swap", r.src(), err, "")
	}
	if err := r.rename("rename aside", pfd, name, r.oldName()); err != nil {
		_ = unix.Unlinkat(pfd, temp, 0)
		return "", errs.New(errs.Failed, "rename aside", r.src(), err, "")
	}
	if err := r.rename("link in", pfd, temp, name); err != nil {
		if e := r.rename("put back", pfd, r.oldName(), name); e != nil {
			old := filepath.Join(filepath.Dir(r.src()), r.oldName())
			return modeHalfSwapped, errs.New(errs.Failed, "put back", r.src(),
				fmt.Errorf("the link could not be renamed into place (%v), and the directory, now at %s, could not be put back: %w", err, old, e),
				"the source's data is intact at "+old+" and the copy at "+r.begin.Dst+"; fix the cause and run `"+r.resumeCmd()+"` to finish, or `"+r.abortCmd()+"` to put the directory back")
		}
		_ = unix.Unlinkat(pfd, temp, 0)
		return "", errs.New(errs.Failed, "swap", r.src(), err, "")
	}
	return "two renames", r.syncParent(pfd, "swap")
}

// syncParent makes the renames just done in the source's parent directory
// (pfd) durable. A failure is an error: the step is not journaled, and
// the job stays open for --resume, which reads where things stand from
// the disk.
func (r *relocation) syncParent(pfd int, after string) error {
	err := r.opts.fault("sync")
	if err == nil {
		err = unix.Fsync(pfd)
	}
	if err != nil {
		return errs.New(errs.Failed, "sync directory after the "+after, filepath.Dir(r.src()), err,
			"the "+after+" is done but may not be durable; fix the cause and run `"+r.resumeCmd()+"` to finish")
	}
	return nil
}

// modeHalfSwapped is what swap returns when it stopped between its two
// renames and could not undo the first.
const modeHalfSwapped = "half swapped"

// rename renames pfd/from to pfd/to, never replacing anything at to
// (step names the rename for swapFault).
func (r *relocation) rename(step string, pfd int, from, to string) error {
	if err := r.opts.fault(step); err != nil {
		return err
	}
	return renameNoReplace(pfd, from, pfd, to)
}

// finish removes (or keeps) the old tree after the swap.
func (r *relocation) finish(ctx context.Context, pfd int) error {
	var changedLate error
	old := ""
	for _, n := range []string{r.begin.Temp, r.oldName()} {
		var st unix.Stat_t
		if lstatAt(pfd, n, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			old = n
		}
	}
	if old != "" && r.begin.Opts["keep-source"] == "true" {
		kept := keptName(r.name(), r.j.ID)
		keptPath := filepath.Join(filepath.Dir(r.src()), kept)
		if err := r.j.Append(Record{Op: r.op, Kind: "move", Step: "keeping", Kept: keptPath}); err != nil {
			return err
		}
		if err := renameNoReplace(pfd, old, pfd, kept); err != nil {
			return errs.New(errs.Failed, "keep", filepath.Join(filepath.Dir(r.src()), old), err,
				"the move is done (the link is in place); if "+keptPath+" is in the way, move it elsewhere and run `"+r.resumeCmd()+"`")
		}
		r.res.Kept = keptPath
		if err := r.syncParent(pfd, "keep"); err != nil {
			return err
		}
		if err := r.j.Append(Record{Op: r.op, Kind: "move", Step: "kept", Kept: r.res.Kept}); err != nil {
			return err
		}
	} else if old == "" {
		// Renamed to the kept path before an interruption (--keep-source,
		// or what changed after the verify).
		kept := filepath.Join(filepath.Dir(r.src()), keptName(r.name(), r.j.ID))
		var st unix.Stat_t
		if unix.Lstat(kept, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			r.res.Kept = kept
			if r.begin.Opts["keep-source"] != "true" {
				changedLate = r.changedErr(nil)
			}
		}
	} else {
		r.enter("remove")
		oldPath := filepath.Join(filepath.Dir(r.src()), old)
		if err := r.step(StepRemoving, ""); err != nil {
			return err
		}
		// r.since is zero for a journal written by an older cgscale,
		// without the fence: everything is deleted, as it did.
		k := keepChanged{since: r.since, again: r.removing, copyFd: -1}
		if !k.since.IsZero() {
			k.copyFd = r.openCopy()
		}
		if k.copyFd >= 0 {
			defer unix.Close(k.copyFd)
		}
		ch, err := removeUnchanged(ctx, pfd, old, oldPath, r.opts.Jobs, r.opts.Counters, k)
		if err != nil {
			if isCancel(ctx, err) {
				r.res.Outcome = "interrupted"
				return errs.New(errs.Interrupted, "move", r.src(), &stopped{"stopped while deleting the old tree " + oldPath, ctx.Err()},
					"the move is done (the link is in place); run `"+r.resumeCmd()+"` to finish deleting the old tree")
			}
			return errs.New(errs.Failed, "remove old tree", filepath.Join(filepath.Dir(r.src()), old), err,
				"the move is done (the link is in place); fix the cause and run `"+r.resumeCmd()+"`")
		}
		if ch.Count > 0 {
			r.res.Changed = ch
			if err := r.keep(pfd, old); err != nil {
				return err
			}
			changedLate = r.changedErr(ch)
		} else if err := r.syncParent(pfd, "removal of the old tree"); err != nil {
			return err
		}
		if err := r.step("removed", ""); err != nil {
			return err
		}
	}
	r.removeScratch()
	if err := r.step(StepDone, ""); err != nil {
		return err
	}
	r.res.Outcome = "moved"
	return changedLate
}

// changedErr reports what the deletion of the old tree kept because it
// changed after the verify began (ch nil: not known, a resumed run
// found the kept tree in place).
func (r *relocation) changedErr(ch *Changed) error {
	what := "entries"
	if ch != nil {
		what = countNoun(int64(ch.Count), "entry", "entries")
		for _, p := range ch.Paths {
			if p != "." { // the top, kept for what is below it: name that
				what += ", first " + ShowPath(p)
				break
			}
		}
	}
	return errs.Errorf(errs.Attention, "move", r.src(),
		"compare them with the copy at "+r.begin.Dst+" and copy in what it lacks (mail delivered during the move), then delete "+r.res.Kept,
		"moved, but %s of the source changed after the copy was verified; they are kept in %s", what, r.res.Kept)
}

// keep renames what is left of the old tree to the kept name, journaled
// as --keep-source does it.
func (r *relocation) keep(pfd int, old string) error {
	kept := keptName(r.name(), r.j.ID)
	keptPath := filepath.Join(filepath.Dir(r.src()), kept)
	if err := r.j.Append(Record{Op: r.op, Kind: "move", Step: "keeping", Kept: keptPath}); err != nil {
		return err
	}
	if err := renameNoReplace(pfd, old, pfd, kept); err != nil {
		return errs.New(errs.Failed, "keep", filepath.Join(filepath.Dir(r.src()), old), err,
			"the move is done (the link is in place); if "+keptPath+" is in the way, move it elsewhere and run `"+r.resumeCmd()+"`")
	}
	r.res.Kept = keptPath
	if err := r.syncParent(pfd, "keep"); err != nil {
		return err
	}
	return r.j.Append(Record{Op: r.op, Kind: "move", Step: "kept", Kept: keptPath})
}

// StepVerifying records, before the verify, the source filesystem's time
// after which a change to the source may have escaped it (Opts
// "changed-after", seconds.nanoseconds).
const StepVerifying = "verifying"

// fence finds the time after which a change to the source may escape
// the verify, by the source filesystem's own clock, and journals it. A
// probe file next to the source is touched until its change time moves
// past the first one it got: every change made after that gets a later
// time, however coarse the filesystem's timestamps, and nothing made
// before the probe gets one as late.
//
// The probe goes in the journal's directory when that is on the source's
// filesystem (it is not part of the store the server sees, and an undo
// leaves the store's directories as they were), else next to the source.
func (r *relocation) fence(spfd int) error {
	dir, dirfd := filepath.Dir(r.src()), spfd
	var src, jd unix.Stat_t
	if jfd, err := unix.Open(filepath.Dir(r.j.Path), dirFlags, 0); err == nil {
		defer unix.Close(jfd)
		if lstatAt(spfd, r.name(), &src) == nil && unix.Fstat(jfd, &jd) == nil && src.Dev == jd.Dev {
			dir, dirfd = filepath.Dir(r.j.Path), jfd
		}
	}
	name := r.begin.Temp + ".fence"
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return errs.New(errs.Failed, "create", filepath.Join(dir, name), err, "")
	}
	defer unix.Unlinkat(dirfd, name, 0)
	defer unix.Close(fd)
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	first := st.Ctim
	for deadline := time.Now().Add(3 * time.Second); err == nil && st.Ctim == first && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
		if err = futimens(fd, now); err == nil {
			err = unix.Fstat(fd, &st)
		}
	}
	if err != nil {
		return errs.New(errs.Failed, "stat", filepath.Join(dir, name), err, "")
	}
	r.since = time.Unix(first.Sec, first.Nsec)
	return r.j.Append(Record{Op: r.op, Kind: "move", Step: StepVerifying,
		Opts: map[string]string{"changed-after": fmt.Sprintf("%d.%09d", first.Sec, first.Nsec)}})
}

// rollback undoes a move before its swap: the partial copy, the temporary
// link and the directories made above the copy go; the source stays.
func (r *relocation) rollback(ctx context.Context, cause error) error {
	if err := r.step("rolling back", causeText(cause)); err != nil {
		return err
	}
	if err := r.undo(); err != nil {
		return err
	}
	if err := r.step(StepRolledBack, ""); err != nil {
		return err
	}
	r.res.Outcome = "rolled back"
	return cause
}

func causeText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// removeScratch removes the file timeGrain may have left next to Dst.
func (r *relocation) removeScratch() {
	_ = os.Remove(filepath.Join(filepath.Dir(r.begin.Dst), r.begin.Temp+".time"))
}

func (r *relocation) undo() error {
	if r.targetGone != nil {
		if r.made != nil {
			r.res.Warnings = append(r.res.Warnings, fmt.Sprintf(
				"the partial copy at %s is left on the target volume, which is not mounted where the journal recorded it (%s); once it is mounted there, delete that directory (device %d:%d, inode %d when it was made) by hand%s",
				ShowPath(r.begin.Dst), causeText(r.targetGone), unix.Major(r.made.Dev), unix.Minor(r.made.Dev), r.made.Ino, madeAbove(r.begin.Made)))
		}
		r.undoSource()
		return nil
	}
	r.removeScratch()
	r.undoSource()
	dpfd, err := unix.Open(filepath.Dir(r.begin.Dst), dirFlags&^unix.O_NOFOLLOW, 0)
	if err == nil {
		var there, ours bool
		there, ours, err = r.copyThere(dpfd)
		switch {
		case err != nil || !there:
		case !ours:
			// Not the directory this move made (another move's copy got
			// there first, or someone replaced this one's): nothing of
			// this move is there to undo, and nothing else is deleted.
			r.res.Warnings = append(r.res.Warnings, r.begin.Dst+" was not made by this move and is left as it is")
		default:
			err = r.removeCopy(context.Background(), dpfd)
		}
		if err == nil {
			// The deletion is on disk before the job is closed as rolled
			// back; otherwise the job stays open and --abort does this again.
			if err = r.opts.fault("rollback sync"); err == nil {
				err = unix.Syncfs(dpfd)
			}
			if err != nil {
				err = fmt.Errorf("sync after deleting it: %w", err)
			}
		}
		unix.Close(dpfd)
		if errs.KindOf(err) == errs.Refused {
			return err
		}
		if err != nil {
			return errs.New(errs.Failed, "remove partial copy", r.begin.Dst, err,
				"the source is untouched; remove the partial copy by hand or run `"+r.abortCmd()+"`")
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return errs.New(errs.Failed, "open directory", filepath.Dir(r.begin.Dst), err, "")
	}
	for i := len(r.begin.Made) - 1; i >= 0; i-- {
		_ = unix.Rmdir(r.begin.Made[i]) // only when empty
	}
	return nil
}

// lookFirst begins the hint for a target path that is taken.
const lookFirst = "look at it before removing anything (an old copy, or another store's domain moved there?)"

// StepRemoving is journaled before the old tree's deletion begins.
const StepRemoving = "removing"

// openCopy opens the copy's top directory, Dst, if it is still the
// directory this move created; -1 otherwise.
func (r *relocation) openCopy() int {
	if r.made == nil {
		return -1
	}
	fd, err := unix.Open(r.begin.Dst, dirFlags, 0)
	if err != nil {
		return -1
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || uint64(st.Dev) != r.made.Dev || st.Ino != r.made.Ino {
		unix.Close(fd)
		return -1
	}
	return fd
}

// madeAbove names, for a message, the directories a move made above its
// copy, which go with it when empty.
func madeAbove(made []string) string {
	if len(made) == 0 {
		return ""
	}
	q := make([]string, len(made))
	for i, d := range made {
		q[i] = ShowPath(d)
	}
	return ", and then, if they are empty, the directories the move made above it: " + strings.Join(q, ", ")
}

// undoSource removes the temporary link made next to the source.
func (r *relocation) undoSource() {
	if pfd, err := unix.Open(filepath.Dir(r.src()), dirFlags&^unix.O_NOFOLLOW, 0); err == nil {
		var st unix.Stat_t
		if lstatAt(pfd, r.begin.Temp, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			_ = unix.Unlinkat(pfd, r.begin.Temp, 0)
		}
		unix.Close(pfd)
	}
}

// StepCreated records the copy's top directory right after it is made,
// with its device and inode, before anything is copied into it.
const StepCreated = "created"

// removeCopy deletes the copy at Dst (dpfd is its parent directory), but
// only if it is the directory this move created, by device and inode as
// journaled; anything else standing there is refused, never deleted.
func (r *relocation) removeCopy(ctx context.Context, dpfd int) error {
	there, ours, err := r.copyThere(dpfd)
	if err != nil || !there {
		return err
	}
	if !ours {
		return errs.Errorf(errs.Refused, "copy to", r.begin.Dst,
			"cgscale leaves it alone and rolls this move back: it may be a domain another store moved here (a link there points at it) or an old copy; look before removing anything, then move again",
			"already exists, and this move did not create it (the journal records no such directory, or another device and inode)")
	}
	return removeTree(ctx, dpfd, filepath.Base(r.begin.Dst), r.begin.Dst, r.opts.Jobs, nil)
}

// copyThere says whether something stands at Dst and whether it is the
// directory this move created.
func (r *relocation) copyThere(dpfd int) (there, ours bool, err error) {
	var st unix.Stat_t
	if err := lstatAt(dpfd, filepath.Base(r.begin.Dst), &st); errors.Is(err, unix.ENOENT) {
		return false, false, nil
	} else if err != nil {
		return false, false, errs.New(errs.Failed, "stat", r.begin.Dst, err, "")
	}
	ours = r.made != nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && uint64(st.Dev) == r.made.Dev && st.Ino == r.made.Ino
	return true, ours, nil
}

// keptName is the name, next to the source, that --keep-source gives the
// old tree of the move named name in journal id.
func keptName(name, id string) string {
	if kept := "." + name + ".cgscale-kept-" + id; len(kept) <= 255 {
		return kept
	}
	return ".cgscale-kept-" + id
}
