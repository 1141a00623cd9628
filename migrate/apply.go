package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/durable"
	"github.com/cgscale/cgscale/internal/journal"
	"github.com/cgscale/cgscale/internal/plural"
	"github.com/cgscale/cgscale/layout"
)

// Journal record kinds and option keys used by apply. A job is one apply
// of one plan; its journal's begin record names the plan by checksum and
// by the copy kept in the state directory.
const (
	kindBatch   = "batch" // Op = first operation index, Opts["end"] = one past the last
	kindUndo    = journal.KindUndo
	kindMove    = journal.KindMove
	optPlanSum  = journal.OptPlanSum
	optPlanCopy = journal.OptPlanCopy
	optCommand  = journal.OptCommand
	optEnd      = "end"
	noteDone    = "done"
	noteUndone  = "undone"
	plansSubdir = journal.PlansSubdir
)

// ApplyOptions tune Apply, Resume and Undo.
type ApplyOptions struct {
	// Force applies while the server's ProcessID names a live process.
	Force bool
	// Batch is the number of operations per journal batch (0: DefaultBatch).
	Batch int
	// Counters, when set, receive progress.
	Counters *ApplyCounters
	// NoRescan skips the final walk (the per-operation check still runs).
	NoRescan bool
	// Move tunes the relocations (jobs, verification, progress); the
	// source, the volume and the server check come from the plan and Force.
	Move MoveOptions
}

// ApplyResult says what a run did.
type ApplyResult struct {
	Mode       string   `json:"mode"` // "apply", "resume", "undo"
	Journal    string   `json:"journal"`
	Operations int      `json:"operations"`
	Renamed    int      `json:"renamed"`
	Created    int      `json:"created_dirs"`
	Accounts   int      `json:"accounts"`
	From       int      `json:"resumed_from,omitempty"`
	Kept       []string `json:"kept_dirs,omitempty"` // undo: subdirectories not empty, left in place
	// Relocations is the number planned; Relocated those done by this
	// run (found done on resume included), RolledBack those an undo
	// rolled back before their swap.
	Relocations int           `json:"relocations"`
	Relocated   int           `json:"relocated"`
	RolledBack  int           `json:"rolled_back,omitempty"`
	Moves       []*MoveResult `json:"moves,omitempty"`
	Rescan      *Rescan       `json:"rescan,omitempty"`
}

func countOps(p *Plan, r *ApplyResult) {
	r.Operations = len(p.Ops)
	seen := map[string]bool{}
	for _, op := range p.Ops {
		switch op.Op {
		case OpMkdir:
			r.Created++
		case OpRename:
			r.Renamed++
			if k := op.Dir + "/" + op.Account; !seen[k] {
				seen[k] = true
				r.Accounts++
			}
		case OpRelocate:
			r.Relocations++
		}
	}
}

// checkStore runs the checks every mode shares, before the lock: the plan
// belongs to this store, the server is stopped, the store is writable.
func checkStore(p *Plan, opt ApplyOptions) error {
	var st unix.Stat_t
	if err := unix.Stat(p.Base, &st); err != nil {
		return errs.New(errs.BadInput, "check plan", p.Base, err, "the plan was made for a store that is not here")
	}
	if err := CheckServerBase("check plan", p.Base); err != nil {
		return err
	}
	if uint64(st.Dev) != p.BaseDev || st.Ino != p.BaseIno {
		return errs.Errorf(errs.Refused, "check plan", p.Base, "make a new plan for this store",
			"the plan was made for another store at this path (device %d inode %d, planned device %d inode %d)", st.Dev, st.Ino, p.BaseDev, p.BaseIno)
	}
	if !opt.Force {
		if err := GuardServer(p.Base); err != nil {
			return err
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(p.Base, &sfs); err == nil && readOnlyFS(&sfs) {
		return errs.Errorf(errs.Refused, "check store", p.Base, "remount the store read-write, then apply", "the store is on a read-only filesystem")
	}
	if err := checkRecordedVolumes(p); err != nil {
		return err
	}
	for _, c := range p.Conversions {
		dir := filepath.Join(p.Base, filepath.FromSlash(c.Dir))
		if err := unix.Access(dir, unix.W_OK); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return stale(dir, "is missing")
			}
			return errs.New(errs.Refused, "check store", dir, err, "run as root or as the server's user; the store must be writable")
		}
	}
	return nil
}

// checkRecordedVolumes refuses a conversion through a relocation link
// that cgscale move made when the link now lands on another filesystem
// than the move recorded (its volume is not mounted and a stray tree
// stands at the target on the parent filesystem).
func checkRecordedVolumes(p *Plan) error {
	var recs []layout.RecordedRelocation
	read := false
	parent := func(path string) string {
		dir, name := filepath.Split(filepath.Clean(path))
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
		return filepath.Join(dir, name)
	}
	for _, c := range p.Conversions {
		if c.LinkedTo == "" {
			continue
		}
		if !read {
			recs, _ = layout.ReadRelocations(p.Base) // an unreadable journal: the device check of the plan still holds
			read = true
		}
		dir := filepath.Join(p.Base, filepath.FromSlash(c.Dir))
		for _, r := range recs {
			if parent(r.Src) != parent(dir) {
				continue
			}
			var st unix.Stat_t
			var sfs unix.Statfs_t
			if unix.Stat(dir, &st) != nil || unix.Statfs(dir, &sfs) != nil {
				continue // a dangling link: opening the container reports it
			}
			fsid := fmt.Sprintf("%08x%08x", uint32(sfs.Fsid.Val[0]), uint32(sfs.Fsid.Val[1]))
			usable := func(s string) bool { return strings.Trim(s, "0") != "" }
			same := uint64(st.Dev) == r.Dev
			if usable(fsid) && usable(r.FSID) {
				same = fsid == r.FSID
			}
			if !same {
				return errs.Errorf(errs.Refused, "check store", dir, "mount the volume that holds "+r.Dst+", then apply (nothing was changed)",
					"the relocation link lands on another filesystem (device %s, filesystem id %s) than cgscale move recorded (%s on device %s, filesystem id %s): its volume is not mounted",
					devString(uint64(st.Dev)), fsid, r.Dst, devString(r.Dev), r.FSID)
			}
		}
	}
	return nil
}

// Apply carries out a plan read with ReadPlan: every check first (store,
// server, problems, lock, no unfinished run, every source as planned),
// then the operations in journaled batches, then the verification.
func Apply(ctx context.Context, p *Plan, opt ApplyOptions) (*ApplyResult, error) {
	res := &ApplyResult{Mode: "apply"}
	countOps(p, res)
	if b := p.Blocking(); len(b) > 0 {
		where := b[0].Path // relative to the base, or absolute (a target filesystem)
		if !filepath.IsAbs(where) {
			where = filepath.Join(p.Base, filepath.FromSlash(where))
		}
		hint := "solve the problem, then make a new plan"
		if b[0].Code == "space" {
			hint = "free space (or inodes) on that filesystem, then make a new plan"
		}
		return nil, errs.Errorf(errs.Refused, "check plan", where, hint, "the plan has %s; first: %s: %s", plural.N(len(b), "blocking problem", ""), b[0].Code, b[0].Detail)
	}
	if err := checkStore(p, opt); err != nil {
		return nil, err
	}
	lock, err := Lock(p.Base)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if err := refuseUnfinished(p.Base); err != nil {
		return nil, err
	}
	if path, recs, err := planJournal(p); err != nil {
		return nil, err
	} else if path != "" && lastNote(recs) == noteDone {
		return nil, errs.Errorf(errs.Refused, "check plan", path, "`"+p.applyCmd("--undo")+"` goes back", "this plan was already applied")
	}
	x := newExecutor(p)
	defer x.close()
	if err := x.preflight(0, false); err != nil {
		return nil, err
	}
	for i := p.firstRelocation(); i < len(p.Ops); i++ {
		if _, err := planRelocation(ctx, p, i, opt); err != nil {
			return nil, err
		}
	}
	again := p.applyCmd("")
	copyPath, err := savePlan(p)
	if err != nil {
		return nil, noSpace(err, "save plan copy", filepath.Join(p.Base, StateDir, plansSubdir), again)
	}
	j, err := CreateJournal(p.Base)
	if err != nil {
		return nil, noSpace(err, "create journal", filepath.Join(p.Base, StateDir), again)
	}
	defer j.Close()
	res.Journal = j.Path
	if err := j.Append(Record{Kind: "job", Step: StepBegin, Opts: map[string]string{optCommand: "apply", optPlanSum: p.Checksum, optPlanCopy: copyPath}}); err != nil {
		return nil, discardJournal(j, err, again)
	}
	if err := writePointer(p, j.Path); err != nil {
		return nil, discardJournal(j, err, again)
	}
	return finishRun(ctx, p, x, j, nil, 0, opt, res)
}

// finishRun carries out the operations from index from on: the renames in
// journaled batches and their check, then each relocation with the move
// engine in the same journal (one already begun, per recs, is resumed),
// then the rescan and the job's end record.
func finishRun(ctx context.Context, p *Plan, x *executor, j *Journal, recs []Record, from int, opt ApplyOptions, res *ApplyResult) (*ApplyResult, error) {
	if opt.Counters != nil {
		opt.Counters.Total.Store(int64(len(p.Ops)))
		opt.Counters.Done.Store(int64(from))
	}
	if conv := p.firstRelocation(); from < conv {
		if err := x.run(ctx, from, conv, opt.Batch, journalLog{j}, opt.Counters); err != nil {
			return res, err
		}
		if err := x.verify(conv); err != nil {
			return res, err
		}
	}
	if err := runRelocations(ctx, p, j, recs, opt, res); err != nil {
		return res, err
	}
	if !opt.NoRescan {
		rs, err := RescanPlan(ctx, p)
		res.Rescan = rs
		if err != nil {
			return res, err
		}
	}
	if err := j.Append(Record{Kind: "job", Step: StepEnd, Note: noteDone}); err != nil {
		return res, err
	}
	return res, nil
}

// journalLog records batches in a move journal.
type journalLog struct{ j *Journal }

func (l journalLog) intent(first, end int) error {
	return l.j.Append(Record{Kind: kindBatch, Step: StepBegin, Op: first, Opts: map[string]string{optEnd: strconv.Itoa(end)}})
}

// done writes nothing: the next batch's intent, written after this batch
// was flushed, says durably that this one is complete, and a batch left
// without a successor is checked operation by operation on resume. That
// keeps the journal at one fsync per batch.
func (l journalLog) done(first, end int) error { return nil }

// refuseUnfinished refuses to start while any journal of the store is
// unfinished: that run must be resumed or undone first.
func refuseUnfinished(base string) error {
	paths, err := Unfinished(base)
	if err != nil {
		return err
	}
	for _, path := range paths {
		recs, err := ReadJournal(path)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			continue // created, never begun: nothing was changed
		}
		plan := "PLAN"
		if c := recs[0].Opts[optPlanCopy]; c != "" {
			plan = layout.ShellQuote(c)
		}
		if !isApplyJob(recs) {
			return unfinishedMove(base, path, recs)
		}
		hint := "finish it first: `cgscale apply --resume " + plan + "` or `cgscale apply --undo " + plan + "`"
		return errs.Errorf(errs.Refused, "check journal", path, hint, "an earlier run on this store was interrupted")
	}
	return nil
}

// unfinishedMove is the refusal for the unfinished move journaled at
// path: which move it is, whether it got past its swap, and so what can
// finish it.
func unfinishedMove(base, path string, recs []Record) error {
	b := layout.ShellQuote(base)
	begin, ok := beginRecord(recs, 0, "move")
	if !ok {
		return errs.Errorf(errs.Refused, "check journal", path, "finish it first: `cgscale move --resume "+b+"`",
			"an earlier move on this store was interrupted before it began (nothing was changed)")
	}
	if reached(lastAttempt(recs, 0, "move"), 0, "move", "swapped") {
		return errs.Errorf(errs.Refused, "check journal", path,
			"finish it first: `cgscale move --resume "+b+"` (it cannot be rolled back: the copy is the store's data now)",
			"an earlier move on this store was interrupted after its swap: %s now links to %s; the old tree is still to be deleted", ShowPath(begin.Src), ShowPath(begin.Dst))
	}
	return errs.Errorf(errs.Refused, "check journal", path,
		"finish it first: `cgscale move --resume "+b+"`, or roll it back: `cgscale move --abort "+b+"`",
		"an earlier move on this store was interrupted before its swap: %s to %s (the source is unchanged)", ShowPath(begin.Src), ShowPath(begin.Dst))
}

// isApplyJob reports whether the journal records belong to an apply.
func isApplyJob(recs []Record) bool {
	return len(recs) > 0 && recs[0].Opts[optCommand] == "apply"
}

// planJournal finds the journal of the latest apply of p: an unfinished one
// first, else the one the pointer file names.
func planJournal(p *Plan) (string, []Record, error) {
	paths, err := Unfinished(p.Base)
	if err != nil {
		return "", nil, err
	}
	for _, path := range paths {
		recs, err := ReadJournal(path)
		if err != nil {
			return "", nil, err
		}
		if len(recs) > 0 && recs[0].Opts[optPlanSum] == p.Checksum {
			return path, recs, nil
		}
	}
	data, err := os.ReadFile(pointerPath(p))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, errs.New(errs.Failed, "read", pointerPath(p), err, "")
	}
	path := strings.TrimSpace(string(data))
	recs, err := ReadJournal(path)
	if err != nil {
		return "", nil, err
	}
	return path, recs, nil
}

// startRun does what resume and undo begin with: the store checks, the
// store lock (held on success), and the journal of p's latest apply
// (path "" when p was never applied here).
func startRun(p *Plan, opt ApplyOptions, mode string) (*ApplyResult, *StoreLock, string, []Record, error) {
	res := &ApplyResult{Mode: mode}
	countOps(p, res)
	if err := checkStore(p, opt); err != nil {
		return nil, nil, "", nil, err
	}
	lock, err := Lock(p.Base)
	if err != nil {
		return nil, nil, "", nil, err
	}
	path, recs, err := planJournal(p)
	if err != nil {
		lock.Unlock()
		return nil, nil, "", nil, err
	}
	return res, lock, path, recs, nil
}

// ResumeApply finishes an interrupted apply of p from its journal.
func ResumeApply(ctx context.Context, p *Plan, opt ApplyOptions) (*ApplyResult, error) {
	res, lock, path, recs, err := startRun(p, opt, "resume")
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if path == "" || Finished(recs) {
		what := "this plan was never applied"
		if path != "" {
			what = "the apply of this plan finished (" + lastNote(recs) + "); nothing to resume"
		}
		return nil, errs.Errorf(errs.Refused, "resume", p.Base, "run `"+p.applyCmd("")+"` to start, or --undo to go back", "%s", what)
	}
	for _, r := range recs {
		if r.Kind == kindUndo {
			return nil, errs.Errorf(errs.Refused, "resume", path, "run `"+p.applyCmd("--undo")+"` again to finish going back", "an undo of this plan was interrupted")
		}
	}
	// Every batch before the last one begun was flushed before it began.
	// Relocations start only after every rename was done and checked, so
	// once one is journaled the renames are complete (and a relocated
	// container may now be a link the rename checks would not open).
	from := 0
	for _, r := range recs {
		if r.Kind == kindBatch && r.Step == StepBegin && r.Op > from {
			from = r.Op
		}
		if r.Kind == kindMove {
			from = max(from, p.firstRelocation())
		}
	}
	res.From = from
	x := newExecutor(p)
	defer x.close()
	if err := x.preflight(from, true); err != nil {
		return nil, err
	}
	j, _, err := OpenJournal(path)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	res.Journal = path
	return finishRun(ctx, p, x, j, recs, from, opt, res)
}

func lastNote(recs []Record) string {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind == "job" && recs[i].Step == StepEnd {
			return recs[i].Note
		}
	}
	return "unfinished"
}

// UndoApply reverses the latest apply of p, finished or interrupted, and an
// interrupted undo. Subdirectories it created are removed when empty and
// the converted directories get their original times back.
func UndoApply(ctx context.Context, p *Plan, opt ApplyOptions) (*ApplyResult, error) {
	res, lock, path, recs, err := startRun(p, opt, "undo")
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if path == "" {
		return nil, errs.Errorf(errs.Refused, "undo", p.Base, "nothing was changed, so there is nothing to undo; `"+p.applyCmd("")+"` carries the plan out",
			"this plan was never applied to this store")
	}
	if Finished(recs) && lastNote(recs) == noteUndone {
		return nil, errs.Errorf(errs.Refused, "undo", path, "the store is as it was before the apply; `cgscale scan` shows it",
			"this apply was already undone")
	}
	// A relocation past its swap has no way back that keeps the data
	// safe: the store's copy is deleted (or being deleted) and the volume
	// holds the only one. Refuse before anything is changed.
	if i, ok := swappedRelocation(p, recs); ok {
		src := filepath.Join(p.Base, filepath.FromSlash(p.Ops[i].Source))
		dest := p.Ops[i].Target
		if b, ok := beginRecord(lastAttempt(recs, i, kindMove), i, kindMove); ok {
			dest = b.Dst
		}
		return nil, errs.Errorf(errs.Refused, "undo", src,
			"the link keeps the data in service; to reverse the plan, copy the directory back into the store by hand with the server stopped, put it in place of the link, then make a new plan",
			"was relocated to %s and the copy in the store deleted; undo copies no data back, so nothing was undone", dest)
	}
	// Operations past the last batch begun were never touched.
	end := 0
	if Finished(recs) {
		end = len(p.Ops)
	}
	for _, r := range recs {
		if e, err := strconv.Atoi(r.Opts[optEnd]); err == nil && e > end {
			end = e
		}
	}
	end = min(end, len(p.Ops))
	var j *Journal
	again := p.applyCmd("--undo")
	if Finished(recs) {
		// A finished job's journal is closed; the undo is a new job. The
		// pointer names it once its first records are written: until
		// then, a failure (a full disk) removes it and changes nothing.
		if j, err = CreateJournal(p.Base); err != nil {
			return nil, noSpace(err, "create journal", filepath.Join(p.Base, StateDir), again)
		}
		if err := j.Append(Record{Kind: "job", Step: StepBegin, Opts: map[string]string{optCommand: "apply", optPlanSum: p.Checksum, optEnd: strconv.Itoa(end)}}); err != nil {
			return nil, discardJournal(j, err, again)
		}
		if err := j.Append(Record{Kind: kindUndo, Step: StepBegin, Opts: map[string]string{optEnd: strconv.Itoa(end)}}); err != nil {
			return nil, discardJournal(j, err, again)
		}
		if err := writePointer(p, j.Path); err != nil {
			return nil, discardJournal(j, err, again)
		}
	} else {
		if j, _, err = OpenJournal(path); err != nil {
			return nil, err
		}
		if err := j.Append(Record{Kind: kindUndo, Step: StepBegin, Opts: map[string]string{optEnd: strconv.Itoa(end)}}); err != nil {
			j.Close()
			return nil, noSpace(err, "write journal", j.Path, again)
		}
	}
	defer j.Close()
	res.Journal = j.Path
	if opt.Counters != nil {
		opt.Counters.Total.Store(int64(end))
	}
	if err := undoRelocations(ctx, p, j, recs, opt, res); err != nil {
		return res, err
	}
	x := newExecutor(p)
	defer x.close()
	kept, err := x.undo(ctx, min(end, p.firstRelocation()), opt.Counters)
	res.Kept = kept
	if err != nil {
		return res, err
	}
	note := noteUndone
	if len(kept) > 0 {
		note = noteUndone + "; kept non-empty subdirectories"
	}
	if err := j.Append(Record{Kind: "job", Step: StepEnd, Note: note}); err != nil {
		return res, err
	}
	if len(kept) > 0 {
		return res, errs.Errorf(errs.Partial, "undo", kept[0], "look at what was added there; remove the directory by hand when it is empty",
			"%s not empty and kept", plural.N(len(kept), "subdirectory was", "subdirectories were"))
	}
	return res, nil
}

func planID(p *Plan) string { return journal.PlanID(p.Checksum) }

// noSpace rewrites err, when it says the store's volume is full, into one
// error naming op and path once, with the way on: nothing was changed,
// free space and run again (the command again).
func noSpace(err error, op, path, again string) error {
	if err == nil || !isNoSpace(err) {
		return err
	}
	var cause error = unix.ENOSPC
	var en unix.Errno
	if errors.As(err, &en) {
		cause = en
	}
	return errs.New(errs.Failed, op, path, cause, "free space on the store's volume, then run `"+again+"` again; nothing was changed")
}

// discardJournal closes and removes a journal whose first records could
// not be written: the run changed nothing, and a journal left behind
// would look like an unfinished run that resume cannot use.
func discardJournal(j *Journal, err error, again string) error {
	j.Close()
	if rmErr := os.Remove(j.Path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		return errs.New(errs.Failed, "write journal", j.Path, causeOnly(err), "nothing was changed; remove "+j.Path+", free space on the store's volume, then run `"+again+"` again")
	}
	if isNoSpace(err) {
		return noSpace(err, "write journal", j.Path, again)
	}
	return err
}

func pointerPath(p *Plan) string {
	return filepath.Join(p.Base, StateDir, plansSubdir, planID(p)+".journal")
}

// savePlan keeps a copy of the plan in the state directory, so the
// journal's references to operations stay readable after the original
// plan file is gone.
func savePlan(p *Plan) (string, error) {
	dir := filepath.Join(p.Base, StateDir, plansSubdir)
	if err := durable.MkdirAll(dir, 0o700); err != nil {
		return "", errs.New(errs.Failed, "create", dir, err, "check that the store base is writable")
	}
	path := filepath.Join(dir, planID(p)+".json")
	data, err := json.Marshal(p)
	if err != nil {
		return "", errs.New(errs.Failed, "encode plan", path, err, "")
	}
	return path, writeDurable("write", path, data)
}

func writePointer(p *Plan, journal string) error {
	return writeDurable("write", pointerPath(p), []byte(journal+"\n"))
}

// String summarises a result in one line.
func (r *ApplyResult) String() string {
	switch r.Mode {
	case "undo":
		s := fmt.Sprintf("undone: %s reversed (%s back in place, %s removed)", plural.N(r.Operations, "operation", ""),
			plural.N(r.Accounts, "account", ""), plural.N(r.Created-len(r.Kept), "subdirectory", "subdirectories"))
		if r.RolledBack > 0 {
			s += fmt.Sprintf("; %s rolled back", plural.N(r.RolledBack, "unfinished relocation", ""))
		}
		return s
	}
	s := fmt.Sprintf("%s: %s moved (%s renamed, %s created)", r.Mode, plural.N(r.Accounts, "account", ""),
		plural.N(r.Renamed, "entry", "entries"), plural.N(r.Created, "subdirectory", "subdirectories"))
	if r.Relocations > 0 {
		s += fmt.Sprintf("; %d of %s relocated", r.Relocated, plural.N(r.Relocations, "directory", "directories"))
	}
	return s
}
