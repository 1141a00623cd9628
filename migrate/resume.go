package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/fsbench"
	"github.com/cgscale/cgscale/internal/journal"
	"github.com/cgscale/cgscale/layout"
)

// Resume finishes the unfinished move journaled in the store at base:
// before the swap it copies again from the source (the truth until then),
// after it it completes the clean-up. With abort it rolls back instead,
// which is possible only before the swap.
func Resume(ctx context.Context, base string, abort bool, opts MoveOptions) (*MoveResult, error) {
	what := "resume"
	if abort {
		what = "abort"
	}
	// Before the lock, which would make BASE/.cgscale: a domain given for
	// BASE is a natural slip (it has a Settings/ too), and holds no journal.
	if !isStoreBase(base) {
		if up := baseAbove(base); up != "" {
			return nil, errs.Errorf(errs.BadInput, what, base, "run `cgscale move --"+what+" "+layout.ShellQuote(up)+"`",
				"not a store's base but inside the store at %s, whose journal holds its moves", up)
		}
		if err := CheckServerBase(what, base); err != nil {
			return nil, err
		}
		if fi, err := os.Stat(base); err == nil && fi.IsDir() {
			// a Settings/ alone: a domain, say one relocated to a volume
			return nil, errs.Errorf(errs.BadInput, what, base,
				"give the store's base directory, the one holding "+layout.SettingsDir+"/ and "+layout.DomainsDir+"/ ("+layout.DefaultBase+" by default); for a relocated domain, the base whose "+layout.DomainsDir+"/ holds the link to it",
				"holds %s/ but neither %s/ nor %s/: a domain's directory, not a store's base", layout.SettingsDir, layout.DomainsDir, layout.AccountsDir)
		}
	}
	lock, err := Lock(base)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if !opts.Force && !abort {
		if err := GuardServer(base); err != nil {
			return nil, err
		}
	}
	open, err := Unfinished(base)
	if err != nil {
		return nil, err
	}
	if len(open) == 0 {
		return nil, errs.Errorf(errs.Refused, what, base, "start a new move with `cgscale move SRC VOLUME_DIR`",
			"nothing to %s: no unfinished move is journaled in %s", what, JournalDir(base))
	}
	if recs, err := ReadJournal(open[0]); err != nil {
		return nil, err
	} else if isApplyJob(recs) {
		plan := recs[0].Opts[optPlanCopy]
		if plan == "" && recs[0].Opts[optPlanSum] != "" {
			plan = journal.PlanCopy(base, recs[0].Opts[optPlanSum])
		}
		hint := "run `cgscale apply --resume PLAN` (or `cgscale apply --undo PLAN`) with the plan it applied"
		if plan != "" {
			q := layout.ShellQuote(plan)
			hint = "run `cgscale apply --resume " + q + "` (or `cgscale apply --undo " + q + "`): that is the copy of the plan it applied"
		}
		return nil, refusedf("resume", open[0], hint, "the unfinished run of this store is an apply, not a move")
	}
	j, recs, err := OpenJournal(open[0])
	if err != nil {
		return nil, err
	}
	defer j.Close()
	var res *MoveResult
	for op := 0; ; op++ {
		if _, ok := beginRecord(recs, op, "move"); !ok {
			break
		}
		res, err = ResumeRelocation(ctx, j, recs, op, abort, opts)
		if err != nil {
			break
		}
	}
	if res == nil && err == nil {
		// The job was journaled but its move never began: nothing changed.
		res = &MoveResult{Outcome: "closed: the move had not begun, nothing was changed", Journal: j.Path, Resumed: true}
	}
	return res, endJob(j, res, err)
}

// isStoreBase says whether dir holds Settings/ and Domains/ or
// Accounts/, as a server's base does (a domain has a Settings/ but
// neither).
func isStoreBase(dir string) bool {
	isDir := func(n string) bool {
		fi, err := os.Stat(filepath.Join(dir, n))
		return err == nil && fi.IsDir()
	}
	return isDir(layout.SettingsDir) && (isDir(layout.DomainsDir) || isDir(layout.AccountsDir))
}

// baseAbove is the nearest directory above p that is a store's base; ""
// if none.
func baseAbove(p string) string {
	p, err := filepath.Abs(p)
	if err != nil {
		return ""
	}
	for d := filepath.Dir(p); d != filepath.Dir(d); d = filepath.Dir(d) {
		if isStoreBase(d) {
			return d
		}
	}
	return ""
}

// ResumeRelocation finishes (or with abort rolls back) operation op of the
// journal j, whose records so far are recs.
func ResumeRelocation(ctx context.Context, j *Journal, recs []Record, op int, abort bool, opts MoveOptions) (*MoveResult, error) {
	recs = lastAttempt(recs, op, "move")
	begin, _ := beginRecord(recs, op, "move")
	if b, err := strconv.ParseBool(begin.Opts["keep-source"]); err == nil {
		opts.KeepSource = b
	}
	if b, err := strconv.ParseBool(begin.Opts["allow-xattr-loss"]); err == nil {
		opts.AllowXattrLoss = b
	}
	opts.MetaOnly = begin.Opts["verify"] == "meta"
	if opts.Jobs < 1 {
		opts.Jobs, _ = strconv.Atoi(begin.Opts["jobs"])
	}
	plan := &MovePlan{Source: begin.Src, Dest: begin.Dst, Link: begin.Link, Relative: !filepath.IsAbs(begin.Link),
		LinkWhy: "as the interrupted run made it", Target: TargetInfo{Dev: begin.Dev, FSID: begin.FSID}}
	if c, err := Classify(begin.Src); err == nil {
		plan.Kind, plan.Base = c.Kind, c.Base
	}
	r := &relocation{j: j, op: op, begin: begin, opts: opts,
		res: &MoveResult{Plan: plan, Journal: j.Path, Resumed: true}}
	for i := range recs {
		if recs[i].Op == op && recs[i].Kind == "move" && recs[i].Step == StepCreated {
			r.made = &recs[i]
		}
		if recs[i].Op == op && recs[i].Kind == "move" && recs[i].Step == StepRemoving {
			r.removing = true
		}
		if recs[i].Op == op && recs[i].Kind == "move" && recs[i].Step == StepVerifying {
			var sec, nsec int64
			if _, err := fmt.Sscanf(recs[i].Opts["changed-after"], "%d.%d", &sec, &nsec); err == nil {
				r.since = time.Unix(sec, nsec)
			}
		}
	}
	last, _ := lastStep(recs, op, "move")
	switch last.Step {
	case StepDone:
		r.res.Outcome = "moved"
		return r.res, nil
	case StepRolledBack:
		r.res.Outcome = "rolled back"
		return r.res, nil
	}
	if err := r.checkVolume(); err != nil {
		if !abort {
			return r.res, err
		}
		// Before the swap the source is the truth, so an abort can close
		// the job without the target; what the move wrote there stays
		// until the volume is back, and the result says where it is.
		r.targetGone = err
	}
	pfd, err := unix.Open(filepath.Dir(begin.Src), dirFlags&^unix.O_NOFOLLOW, 0)
	if err != nil {
		return r.res, errs.New(errs.Failed, "open directory", filepath.Dir(begin.Src), err, "")
	}
	defer unix.Close(pfd)
	state, err := r.swapState(pfd)
	if err != nil {
		return r.res, err
	}
	if reached(recs, op, "move", "rolling back") && state != swapped {
		return r.res, r.rollbackOnly()
	}
	switch state {
	case halfSwapped: // between the two renames of the fallback
		if abort {
			if err := renameNoReplace(pfd, r.oldName(), pfd, r.name()); err != nil {
				return r.res, errs.New(errs.Failed, "put directory back", begin.Src, err, "")
			}
			if err := r.syncParent(pfd, "put-back"); err != nil {
				return r.res, err
			}
			return r.res, r.rollbackOnly()
		}
		if err := renameNoReplace(pfd, begin.Temp, pfd, r.name()); err != nil {
			return r.res, errs.New(errs.Failed, "rename link into place", begin.Src, err, "")
		}
		if err := r.syncParent(pfd, "swap"); err != nil {
			return r.res, err
		}
		fallthrough
	case swapped:
		if abort {
			return r.res, errs.Errorf(errs.Refused, "abort", begin.Src, "run `"+r.resumeCmd()+"` to finish it instead",
				"the move got past its swap; the copy at %s is now the store's data", begin.Dst)
		}
		if !reached(recs, op, "move", "swapped") {
			if err := r.step("swapped", "found on disk"); err != nil {
				return r.res, err
			}
		}
		return r.res, r.finish(ctx, pfd)
	}
	if abort {
		return r.res, r.rollbackOnly()
	}
	if err := r.step("restart", "copying again from the source"); err != nil {
		return r.res, err
	}
	return r.res, r.fromCopy(ctx)
}

func (r *relocation) rollbackOnly() error {
	if err := r.undo(); err != nil {
		return err
	}
	if err := r.step(StepRolledBack, ""); err != nil {
		return err
	}
	r.res.Outcome = "rolled back"
	return nil
}

type swapStateKind int

const (
	notSwapped swapStateKind = iota
	halfSwapped
	swapped
)

// swapState reads from the disk where the swap stands.
func (r *relocation) swapState(pfd int) (swapStateKind, error) {
	var st unix.Stat_t
	err := lstatAt(pfd, r.name(), &st)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return notSwapped, nil
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		text, err := readlinkAt(pfd, r.name())
		if err == nil && text == r.begin.Link {
			return swapped, nil
		}
		return 0, errs.Errorf(errs.Failed, "resume", r.src(), "inspect the store by hand before going on",
			"is a symbolic link, but not the one this move made (%q)", text)
	case errors.Is(err, unix.ENOENT):
		var o, t unix.Stat_t
		if lstatAt(pfd, r.oldName(), &o) == nil && o.Mode&unix.S_IFMT == unix.S_IFDIR &&
			lstatAt(pfd, r.begin.Temp, &t) == nil && t.Mode&unix.S_IFMT == unix.S_IFLNK {
			return halfSwapped, nil
		}
		return 0, errs.Errorf(errs.Failed, "resume", r.src(), "inspect the store by hand before going on",
			"is missing and no half-done swap explains it")
	case err != nil:
		return 0, errs.New(errs.Failed, "stat", r.src(), err, "")
	}
	return 0, errs.Errorf(errs.Failed, "resume", r.src(), "inspect the store by hand", "is neither a directory nor this move's link")
}

// checkVolume refuses to go on when the filesystem now holding the copy's
// path is not the one the journal recorded (the target volume is not
// mounted, say, after a reboot): a copy, swap or removal would then work
// on whatever filesystem holds the path now. The nearest existing
// directory at or above Dst stands for the volume.
func (r *relocation) checkVolume() error {
	if r.begin.Dev == 0 && r.begin.FSID == "" {
		return nil // a journal from before these were recorded
	}
	p := r.begin.Dst
	var st unix.Stat_t
	for {
		err := unix.Stat(p, &st)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.ENOENT) || p == "/" || p == "." {
			return errs.New(errs.Failed, "stat", p, err, "")
		}
		p = filepath.Dir(p)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(p, &sfs); err != nil {
		return errs.New(errs.Failed, "statfs", p, err, "")
	}
	fsid := fsidString(&sfs)
	if st.Dev == r.begin.Dev && (r.begin.FSID == "" || fsid == r.begin.FSID) {
		return nil
	}
	typ := fsbench.TypeName(uint64(sfs.Type))
	if id, err := fsbench.Identify(p, fsbench.IdentifyOptions{}); err == nil {
		typ = id.Type // ext4 rather than the family its magic number names
	}
	return errs.Errorf(errs.Refused, "check target volume", r.begin.Dst,
		"mount the target volume (the filesystem the journal records) at its place, then run `"+r.resumeCmd()+"` again",
		"the journal records the copy on the filesystem with device %d:%d and id %s, but %s is now on device %d:%d with id %s (%s); the target volume is not mounted there",
		unix.Major(r.begin.Dev), unix.Minor(r.begin.Dev), r.begin.FSID, p, unix.Major(st.Dev), unix.Minor(st.Dev), fsid, typ)
}
