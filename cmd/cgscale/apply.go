package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/plural"
	"github.com/cgscale/cgscale/internal/rawjson"
	"github.com/cgscale/cgscale/migrate"
)

func applyCommand() *command {
	c := &command{
		name:    "apply",
		summary: "carry out a plan with a journal; --resume an interrupted run, --undo one",
		usage:   "apply [flags] PLAN",
		help: `Carries out a plan written by ` + "`cgscale plan --out`" + `. Before changing anything
it checks that the plan file is intact (version and checksum), that it was
made for this store (device and inode of the base), that the server is
stopped (no live PID in BASE/ProcessID), that the store is writable, that
no other run holds the store lock or was left unfinished, and that every
entry to move is still as planned and every target is free. The first
difference found is named and nothing is changed.

Renames are done in batches; each batch is recorded in a journal under
BASE/.cgscale/ and made durable before and after, so after a crash or a
kill --resume finishes the run and --undo reverses it (renames back,
created subdirectories removed, directory times restored). At the end a
rescan checks that every account is where the scheme puts it.

Relocations of the plan (` + "`plan --relocate PATH=VOLUME`" + `) run after the
renames, with the same engine, checks and journal steps as ` + "`cgscale move`" + `:
pre-flight (space, inodes, probe of the target), copy, verify, swap in a
link, delete the old tree. --resume finishes an interrupted relocation
(the copy is redone before the swap, the clean-up finished after it).
--undo rolls back relocations that had not reached their swap; once one
has swapped, the store's copy is deleted and undo refuses, changing
nothing: it copies no data back.

Examples:
  cgscale apply /root/plan.json
  cgscale apply --resume /root/plan.json
  cgscale apply --undo /root/plan.json`,
	}
	c.run = func(ctx context.Context, e *env, args []string) (err error) {
		fs := e.flags(c)
		resume := fs.Bool("resume", false, "finish an interrupted apply of this plan")
		undo := fs.Bool("undo", false, "reverse the last apply of this plan (finished or interrupted)")
		force := fs.Bool("force", false, "apply even though BASE/ProcessID names a running process")
		base := fs.String("base", "", "refuse unless the plan is for this store base")
		batch := fs.Int("batch", migrate.DefaultBatch, "operations per journal batch")
		jobs := fs.Int("jobs", defaultJobs(), "directories and files copied, compared and removed at once by relocations")
		verify := fs.String("verify", "full", "relocations: full (with SHA-256 of contents) or meta (metadata only)")
		asJSON := fs.Bool("json", false, "print the result as JSON (schema cgscale.apply/v1)")
		progress := progressFlag(fs)
		if err := e.parse(c, fs, args); err != nil {
			return err
		}
		// With --json a failure found before there is a result (a usage
		// error, a plan that cannot be read, the store lock, a running
		// server) prints the document too: the store's base once the plan
		// is read, no result, the error.
		var p *migrate.Plan
		shown := false
		defer func() {
			if *asJSON && err != nil && !shown {
				base := ""
				if p != nil {
					base = p.Base
				}
				printApplyJSON(e.stdout, base, nil, err)
			}
		}()
		if fs.NArg() != 1 {
			return errs.Errorf(errs.Usage, c.name, "", "run `cgscale help apply`", "takes one PLAN file")
		}
		if *resume && *undo {
			return errs.Errorf(errs.Usage, c.name, "", "", "--resume and --undo exclude each other")
		}
		if *verify != "full" && *verify != "meta" {
			return errs.Errorf(errs.Usage, c.name, "", "use --verify=full or --verify=meta", "--verify %q is not a mode", *verify)
		}
		if *jobs < 1 {
			return errs.Errorf(errs.Usage, c.name, "", "give --jobs 1 or more", "--jobs %d", *jobs)
		}
		p, err = migrate.ReadPlan(fs.Arg(0))
		if err != nil {
			p = nil // a plan that failed its checks vouches for no base
			return err
		}
		if *base != "" {
			abs, _ := filepath.Abs(*base)
			if abs != p.Base {
				return errs.Errorf(errs.BadInput, "check plan", fs.Arg(0), "make a plan for "+abs, "the plan is for the store at %s, not %s", p.Base, abs)
			}
		}
		var cnt migrate.ApplyCounters
		opt := migrate.ApplyOptions{Force: *force, Batch: *batch, Counters: &cnt,
			Move: migrate.MoveOptions{Jobs: *jobs, MetaOnly: *verify == "meta"}}
		desc := "applying"
		run := migrate.Apply
		switch {
		case *resume:
			desc, run = "resuming", migrate.ResumeApply
		case *undo:
			desc, run = "undoing", migrate.UndoApply
		}
		stop, err := e.startProgress(*progress, desc, func() (int64, int64) { return cnt.Done.Load(), cnt.Total.Load() })
		if err != nil {
			return err
		}
		res, err := run(ctx, p, opt)
		stop()
		if res != nil {
			shown = true
			if *asJSON {
				printApplyJSON(e.stdout, p.Base, res, err)
			} else if err == nil {
				fmt.Fprintln(e.stdout, res.String())
				for _, m := range res.Moves {
					if m.Plan != nil {
						fmt.Fprintf(e.stdout, "relocation: %s -> %s: %s", m.Plan.Source, m.Plan.Dest, m.Outcome)
						if m.Verify.Entries > 0 {
							fmt.Fprintf(e.stdout, " (%s, %s copied; %s verified, %s)", plural.N(m.Copy.Files, "file", ""), plural.N(m.Copy.Bytes, "byte", ""),
								plural.N(m.Verify.Entries, "entry", "entries"), plural.N(m.Verify.Count, "difference", ""))
						}
						fmt.Fprintln(e.stdout)
					}
				}
				if res.Rescan != nil {
					fmt.Fprintf(e.stdout, "rescan: %d of %s found where the scheme puts them; %s in the converted domains, none flat\n",
						res.Rescan.Checked, plural.N(res.Rescan.Checked, "moved entry", "moved entries"), plural.N(res.Rescan.Accounts, "account", ""))
				}
				fmt.Fprintf(e.stdout, "journal: %s\n", res.Journal)
			}
		}
		return err
	}
	return c
}

// printApplyJSON prints the --json document of apply (cgscale.apply/v1)
// for the plan of the store at base: the result, if any, and err as
// "error". Paths are kept byte for byte: one that is not valid UTF-8 is
// written {"b64": ...} (internal/rawjson), as in scan's document.
func printApplyJSON(w io.Writer, base string, res *migrate.ApplyResult, err error) {
	b, merr := rawjson.MarshalIndent(struct {
		Schema string `json:"schema"`
		Base   string `json:"base"`
		*migrate.ApplyResult
		Error string `json:"error,omitempty"`
	}{"cgscale.apply/v1", base, res, errText(err)}, "", "  ")
	if merr == nil {
		w.Write(append(b, '\n'))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
