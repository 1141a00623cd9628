package migrate

import (
	"context"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// Relocations in a plan are carried out by the move engine (PlanMove,
// RunRelocation, ResumeRelocation) inside apply's job: same lock, same
// server check, same journal, one operation index per relocation. They
// run after every rename, in plan order.

// moveOptions are the move engine's options for relocation op i of p.
func moveOptions(p *Plan, i int, opt ApplyOptions) MoveOptions {
	op := p.Ops[i]
	mo := opt.Move
	mo.Src = filepath.Join(p.Base, filepath.FromSlash(op.Source))
	mo.VolumeDir = op.Target
	mo.Force = opt.Force
	for _, r := range p.Relocations {
		if r.Source == op.Source {
			mo.RewriteRelativeLinks = mo.RewriteRelativeLinks || r.RewriteRelativeLinks
		}
	}
	if mo.Jobs < 1 {
		mo.Jobs = runtime.NumCPU()
	}
	mo.resumeCmd = p.applyCmd("--resume")
	mo.abortCmd = p.applyCmd("--undo")
	return mo
}

// planRelocation checks relocation op i against the store (the source is
// the directory the plan saw) and runs the engine's pre-flight: target
// space and inodes, probe, refusals. Nothing in the store changes.
func planRelocation(ctx context.Context, p *Plan, i int, opt ApplyOptions) (*MovePlan, error) {
	op := p.Ops[i]
	mo := moveOptions(p, i, opt)
	var st unix.Stat_t
	if err := unix.Lstat(mo.Src, &st); err != nil {
		return nil, stale(mo.Src, "is missing")
	}
	if op.Ino != 0 && (uint64(st.Dev) != op.Dev || st.Ino != op.Ino) {
		return nil, stale(mo.Src, "is another directory (or a link) now")
	}
	return PlanMove(ctx, mo)
}

// runRelocations carries out the relocations of p in journal j. One whose
// latest attempt is journaled in recs (and not rolled back) is resumed by
// the engine from where it stopped; one rolled back is tried again.
func runRelocations(ctx context.Context, p *Plan, j *Journal, recs []Record, opt ApplyOptions, res *ApplyResult) error {
	for i := p.firstRelocation(); i < len(p.Ops); i++ {
		if err := ctx.Err(); err != nil {
			return errs.New(errs.Interrupted, "apply", p.Base, err, "run `"+p.applyCmd("--resume")+"` to finish, or --undo to go back")
		}
		var mr *MoveResult
		var err error
		if last, ok := lastStep(recs, i, kindMove); ok && last.Step != StepRolledBack {
			mr, err = ResumeRelocation(ctx, j, recs, i, false, moveOptions(p, i, opt))
		} else {
			var mp *MovePlan
			if mp, err = planRelocation(ctx, p, i, opt); err == nil {
				mr, err = RunRelocation(ctx, j, i, mp, moveOptions(p, i, opt))
			}
		}
		if mr != nil {
			res.Moves = append(res.Moves, mr)
		}
		if err != nil {
			return err
		}
		res.Relocated++
		if opt.Counters != nil {
			opt.Counters.Done.Add(1)
		}
	}
	return nil
}

// swappedRelocation returns the first relocation journaled in recs that
// got past its swap: the journal says so, or the source is no longer the
// directory it was.
func swappedRelocation(p *Plan, recs []Record) (int, bool) {
	for i := p.firstRelocation(); i < len(p.Ops); i++ {
		att := lastAttempt(recs, i, kindMove)
		last, ok := lastStep(att, i, kindMove)
		if !ok || last.Step == StepRolledBack {
			continue
		}
		if reached(att, i, kindMove, "swapped") || last.Step == StepDone {
			return i, true
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(p.Base, filepath.FromSlash(p.Ops[i].Source)), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return i, true
		}
	}
	return 0, false
}

// undoRelocations rolls back, last first, every relocation of p that was
// begun and did not reach its swap: the partial copy, the temporary link
// and the directories made on the target go; the source never changed.
// A relocation that got past its swap is refused before anything is
// changed (see UndoApply).
func undoRelocations(ctx context.Context, p *Plan, j *Journal, recs []Record, opt ApplyOptions, res *ApplyResult) error {
	for i := len(p.Ops) - 1; i >= p.firstRelocation(); i-- {
		last, ok := lastStep(lastAttempt(recs, i, kindMove), i, kindMove)
		if !ok || last.Step == StepRolledBack {
			continue
		}
		mr, err := ResumeRelocation(ctx, j, recs, i, true, moveOptions(p, i, opt))
		if mr != nil {
			res.Moves = append(res.Moves, mr)
		}
		if err != nil {
			return err
		}
		res.RolledBack++
	}
	return nil
}
