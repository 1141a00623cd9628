package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/plural"
	"github.com/cgscale/cgscale/internal/rawjson"
	"github.com/cgscale/cgscale/layout"
	"github.com/cgscale/cgscale/migrate"
)

const moveSchema = "cgscale.move/v1"

func moveCommand() *command {
	c := &command{
		name:    "move",
		summary: "move a domain, *.sub or *.mnt directory to another volume and leave a link",
		usage:   "move [flags] SRC VOLUME_DIR\n       cgscale move --resume|--abort [BASE]",
		help: `Moves SRC, a domain directory (BASE/Domains/NAME), an account or domain
subdirectory (*.sub) or a storage mount point (*.mnt) of a store, to
VOLUME_DIR/<its path in the store>, e.g. /vol2/Domains/example.com, and puts a
symbolic link where it stood. The link always points into a subdirectory of
the volume, never at its mount point, so an unmounted volume shows up as a
dangling link rather than an empty store.

Steps, each recorded in a journal under BASE/.cgscale/journal:
  1. refuse before any change when the target is inside or the same as SRC
     (by device and inode), on the same filesystem (a rename does it), short
     of space or inodes, or fails a probe (create, link, rename, symlink,
     user.* attribute); when a relative symbolic link inside SRC leads out
     of it (it would dangle after the move: each is named); when the server
     runs, or BASE/ProcessID holds something that is not a process id; when
     another cgscale holds the store lock
  2. copy: contents (holes kept), mode, numeric owner, times, extended
     attributes, hard links, symbolic links as they are (with
     --rewrite-relative-links, those leading out of SRC get their absolute
     target in the copy; each is journaled and reported), special files
  3. verify the copy against the source: names, types, sizes, modes, owners,
     times, link texts, attributes, hard links and SHA-256 of every file
     (--verify=meta skips the checksums); any difference, or any part of the
     source that cannot be read, stops the move with the source untouched and
     the copy removed
  4. swap: renameat2(RENAME_EXCHANGE) trades the directory and a prepared link
     in one atomic step; where the filesystem lacks it, two renames in a row
     (the path is missing for the time between them) and the directory is
     put back if the second fails
  5. delete the old tree (never following a link, never crossing into
     another filesystem), or keep it aside with --keep-source

An interrupted move (signal, crash, power loss) is finished by --resume:
until the swap the source is the truth and the copy is made again; after
it, the copy is the truth and only the clean-up remains. --abort rolls an
unfinished move back if it has not reached the swap. Both refuse (exit 5)
when no move is unfinished.

--dry-run changes nothing and prints what the move would do; it exits 5
when it finds a problem that would stop the move (any refusal above,
including a running server or a ProcessID that holds no process id), 0
otherwise. --resume and --abort exit 2 when BASE is not a directory.

Pause delivery to SRC (or stop the server) while it moves: a message that
arrives during the copy makes the verification fail and the move stop.

Examples:
  cgscale move --dry-run /var/CommuniGate/Domains/example.com /vol2
  cgscale move /var/CommuniGate/Domains/example.com /vol2
  cgscale move --verify=meta --jobs 4 /var/CommuniGate/Domains/big.com/a.sub /vol3
  cgscale move --relative --server-view /srv=/srv /srv/cgp/Domains/example.com /srv/vol2
  cgscale move --resume /var/CommuniGate`,
	}
	c.run = func(ctx context.Context, e *env, args []string) (err error) {
		fs := e.flags(c)
		dryRun := fs.Bool("dry-run", false, "check and print what would happen; change nothing")
		verify := fs.String("verify", "full", "full (with SHA-256 of contents) or meta (metadata only)")
		relative := fs.Bool("relative", false, "make the link relative instead of absolute")
		keep := fs.Bool("keep-source", false, "keep the old tree next to the link as .NAME.cgscale-kept-ID")
		jobs := fs.Int("jobs", defaultJobs(), "directories and files copied, compared and removed at once")
		allowX := fs.Bool("allow-xattr-loss", false, "swap even if the target refused some extended attributes")
		rewrite := fs.Bool("rewrite-relative-links", false, "give relative links inside SRC that lead out of it their absolute target in the copy")
		force := fs.Bool("force", false, "move even though BASE/ProcessID names a live server (or holds no process id)")
		views := fs.StringArray("server-view", nil, "HOSTPATH=SERVERPATH: how the server (container, chroot) sees a host path; repeatable")
		resume := fs.Bool("resume", false, "finish the unfinished move of the store at BASE")
		abort := fs.Bool("abort", false, "roll back the unfinished move of the store at BASE (before its swap only)")
		asJSON := fs.Bool("json", false, "print the result as JSON ("+moveSchema+")")
		progress := progressFlag(fs)
		if err := e.parse(c, fs, args); err != nil {
			return err
		}
		// Each run prints its outcome once, through show. With --json a
		// failure found before there is a result to show (a usage error, a
		// missing SRC or target, the store lock, a running server, nothing
		// to resume) prints the document too, on return.
		shown := false
		show := func(res *migrate.MoveResult, err error, dry bool) {
			shown = true
			showMove(e, res, err, *asJSON, dry)
		}
		defer func() {
			if err != nil && !shown {
				show(nil, err, *dryRun && !*resume && !*abort)
			}
		}()
		if *verify != "full" && *verify != "meta" {
			return errs.Errorf(errs.Usage, c.name, "", "use --verify=full or --verify=meta", "--verify %q is not a mode", *verify)
		}
		if *jobs < 1 {
			return errs.Errorf(errs.Usage, c.name, "", "give --jobs 1 or more", "--jobs %d", *jobs)
		}
		opts := migrate.MoveOptions{Relative: *relative, MetaOnly: *verify == "meta", KeepSource: *keep,
			AllowXattrLoss: *allowX, RewriteRelativeLinks: *rewrite, Force: *force, Jobs: *jobs, Counters: &migrate.Counters{}}
		for _, v := range *views {
			view, err := migrate.ParseView(v)
			if err != nil {
				return err
			}
			opts.Views = append(opts.Views, view)
		}
		var stop func()
		defer func() {
			if stop != nil {
				stop()
			}
		}()
		opts.Phase = func(phase string) {
			if stop != nil {
				stop()
			}
			opts.Counters.Entries.Store(0)
			opts.Counters.Bytes.Store(0)
			s, err := e.startProgress(*progress, phase, func() (int64, int64) { return opts.Counters.Entries.Load(), 0 })
			if err == nil {
				stop = s
			}
		}
		if m := *progress; m != "auto" && m != "always" && m != "never" {
			return errs.Errorf(errs.Usage, c.name, "", "use auto, always or never", "--progress %q is not a mode", m)
		}

		if *resume || *abort {
			if *resume && *abort {
				return errs.Errorf(errs.Usage, c.name, "", "choose one", "--resume and --abort exclude each other")
			}
			if fs.NArg() > 1 {
				return errs.Errorf(errs.Usage, c.name, "", "give the store's base directory only", "--resume takes at most one argument")
			}
			base := layout.DefaultBase
			if fs.NArg() == 1 {
				base = fs.Arg(0)
			}
			if st, err := os.Stat(base); err != nil || !st.IsDir() {
				what := "--resume"
				if *abort {
					what = "--abort"
				}
				why := "no such directory"
				if err == nil {
					why = "not a directory"
				} else if !os.IsNotExist(err) {
					why = err.Error()
				}
				return errs.Errorf(errs.BadInput, c.name, base, "give the store's base directory: cgscale move "+what+" BASE",
					"no store base here: %s", why)
			}
			res, err := migrate.Resume(ctx, base, *abort, opts)
			if stop != nil {
				stop()
				stop = nil
			}
			show(res, err, false)
			return err
		}
		if fs.NArg() != 2 {
			return errs.Errorf(errs.Usage, c.name, "", "run `cgscale help move`", "needs SRC and VOLUME_DIR")
		}
		opts.Src, opts.VolumeDir = fs.Arg(0), fs.Arg(1)
		if *dryRun {
			plan, err := migrate.PlanMove(ctx, opts)
			// What would block the move blocks the dry run too (exit 5):
			// another run holding the store, the server, an unfinished
			// job. The move checks these first, so they come first here.
			if r, cerr := migrate.Classify(opts.Src); cerr == nil {
				if berr := migrate.Blocked(r.Base, opts.Force); berr != nil {
					err = berr
				}
			}
			if stop != nil {
				stop()
				stop = nil
			}
			var res *migrate.MoveResult
			if plan != nil {
				res = &migrate.MoveResult{Plan: plan, Outcome: "dry run", Warnings: plan.Warnings}
			}
			show(res, err, true)
			return err
		}
		res, err := migrate.Move(ctx, opts)
		if stop != nil {
			stop()
			stop = nil
		}
		show(res, err, false)
		return err
	}
	return c
}

// outcomeNotStarted is the outcome in the --json document of a run that
// failed before it had a result: it copied, moved and deleted nothing (a
// dry run's outcome says "dry run", as always).
const outcomeNotStarted = "not started"

// showMove prints a move's outcome once: warnings go to stderr in text
// mode and into the document in --json mode; an interrupted run prints no
// text report (the error line says where it stopped). A run that failed
// before it had a result (res nil) prints no text report, and in --json
// mode the document with no plan, the outcome "not started" and the
// error. The error itself goes to stderr in both modes (see report).
func showMove(e *env, res *migrate.MoveResult, err error, asJSON, dry bool) {
	if res == nil {
		if !asJSON || err == nil {
			return
		}
		res = &migrate.MoveResult{Outcome: outcomeNotStarted}
		if dry {
			res.Outcome = "dry run"
		}
	}
	if !asJSON {
		for _, w := range res.Warnings {
			fmt.Fprintf(e.stderr, "cgscale: warning: %s\n", w)
		}
		if errs.KindOf(err) == errs.Interrupted {
			return
		}
		if err != nil && res.Outcome == "" && !dry {
			// Neither moved nor rolled back: the error says where things
			// stand; a report would only guess.
			return
		}
	}
	if asJSON {
		printMoveJSON(e.stdout, res, err, dry)
		return
	}
	printMove(e.stdout, res, false, dry)
}

// printMoveJSON prints the --json document of a move; err, if any, is
// its "error". Paths are kept byte for byte: one that is not valid UTF-8
// is written {"b64": ...} (internal/rawjson), as in scan's document.
func printMoveJSON(w io.Writer, res *migrate.MoveResult, err error, dry bool) {
	out := struct {
		Schema string `json:"schema"`
		DryRun bool   `json:"dry_run"`
		*migrate.MoveResult
		Error string `json:"error,omitempty"`
	}{moveSchema, dry, res, errText(err)}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	if b, err := rawjson.MarshalIndent(out, "", "  "); err == nil {
		w.Write(append(b, '\n'))
	}
}

func printMove(w io.Writer, res *migrate.MoveResult, asJSON, dry bool) {
	if asJSON {
		printMoveJSON(w, res, nil, dry)
		return
	}
	p := res.Plan
	if p == nil {
		fmt.Fprintf(w, "%s\n", res.Outcome)
		return
	}
	if dry {
		fmt.Fprintf(w, "would move %s (%s)\n", p.Source, p.Kind)
	} else {
		fmt.Fprintf(w, "move %s: %s\n", p.Source, res.Outcome)
	}
	fmt.Fprintf(w, "  to        %s\n", p.Dest)
	// The link line only where the link exists, or would with the dry run.
	switch {
	case dry:
		fmt.Fprintf(w, "  link      %s -> %s (would be made)\n", p.Source, p.Link)
	case res.Outcome == "moved":
		fmt.Fprintf(w, "  link      %s -> %s\n", p.Source, p.Link)
	case res.Outcome == "rolled back":
		fmt.Fprintf(w, "  link      none: %s is still the directory\n", p.Source)
	}
	if p.LinkWhy != "" && (dry || res.Outcome == "moved") {
		fmt.Fprintf(w, "            %s\n", p.LinkWhy)
	}
	t := p.Totals
	if t.Inodes > 0 {
		fmt.Fprintf(w, "  tree      %s, %s, %s, %s (%d allocated, %s)\n",
			plural.N(t.Files, "file", ""), plural.N(t.Dirs, "directory", ""), plural.N(t.Symlinks, "symbolic link", ""),
			plural.N(t.Bytes, "byte", ""), t.Allocated, plural.N(t.Inodes, "inode", ""))
	}
	if t.OutsideLinks > 0 {
		fmt.Fprintf(w, "  outside   %s leading out of the tree:\n", plural.N(t.OutsideLinks, "relative link", ""))
		for _, l := range t.OutsideLinkList {
			fmt.Fprintf(w, "    %s -> %s (%s)\n", migrate.ShowPath(l.Path), migrate.ShowPath(l.Text), migrate.ShowPath(l.Target))
		}
		if more := t.OutsideLinks - int64(len(t.OutsideLinkList)); more > 0 {
			fmt.Fprintf(w, "    and %d more\n", more)
		}
	}
	if ti := p.Target; ti.VolumeDir != "" {
		inodes := plural.N(int64(ti.FreeInodes), "inode", "") + " free"
		if ti.TotalInodes == 0 {
			inodes = "no fixed inode limit"
		}
		fsName := ti.Filesystem
		if fsName == "" {
			fsName = ti.FSType
		}
		blocks := ""
		if p.Totals.TargetBlockSize > 0 {
			blocks = fmt.Sprintf(" (in %d-byte blocks, with a margin)", p.Totals.TargetBlockSize)
		}
		fmt.Fprintf(w, "  target    %s (%s): %s free, %s; needs about %s%s, %s\n",
			ti.VolumeDir, fsName, plural.N(int64(ti.FreeBytes), "byte", ""), inodes, plural.N(p.NeedBytes, "byte", ""), blocks, plural.N(p.NeedInodes, "inode", ""))
		var failed []string
		for _, pr := range ti.Probe {
			if pr.Err != "" {
				failed = append(failed, pr.Op+": "+pr.Err)
			}
		}
		if len(ti.Probe) > 0 && len(failed) == 0 {
			fmt.Fprintf(w, "  probe     create, link, rename, symlink, user.* attribute: all work\n")
		} else if len(failed) > 0 {
			fmt.Fprintf(w, "  probe     failed: %s\n", strings.Join(failed, "; "))
		}
	}
	if res.Copy.Files+res.Copy.Dirs > 0 {
		fmt.Fprintf(w, "  copied    %s (%s), %s, %s, %s\n",
			plural.N(res.Copy.Files, "file", ""), plural.N(res.Copy.Bytes, "byte", ""), plural.N(res.Copy.Dirs, "directory", ""),
			plural.N(res.Copy.HardLinks, "hard link", ""), plural.N(res.Copy.Symlinks, "symbolic link", ""))
	}
	for _, l := range res.Copy.RewrittenLinks {
		fmt.Fprintf(w, "  rewritten %s: %s -> %s\n", migrate.ShowPath(l.Path), migrate.ShowPath(l.From), migrate.ShowPath(l.To))
	}
	if res.Verify.Entries > 0 {
		fmt.Fprintf(w, "  verified  %s, %s by checksum, %s\n", plural.N(res.Verify.Entries, "entry", ""),
			plural.N(res.Verify.Checksums, "file", ""), plural.N(int64(res.Verify.Count), "difference", ""))
		for _, m := range res.Verify.Mismatches {
			fmt.Fprintf(w, "    %s: %s\n", migrate.ShowPath(m.Path), m.What)
		}
	}
	if res.Swap != "" {
		fmt.Fprintf(w, "  swap      %s\n", res.Swap)
	}
	if res.Kept != "" {
		fmt.Fprintf(w, "  kept      %s\n", res.Kept)
	}
	if res.Journal != "" {
		fmt.Fprintf(w, "  journal   %s\n", res.Journal)
	}
}
