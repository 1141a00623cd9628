package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/fsbench"
	"github.com/cgscale/cgscale/internal/human"
	"github.com/cgscale/cgscale/internal/plural"
	"github.com/cgscale/cgscale/internal/rawjson"
	"github.com/cgscale/cgscale/layout"
)

func scanCommand() *command {
	c := &command{
		name:    "scan",
		summary: "audit a store: domains, accounts, layout, largest directories, findings",
		usage:   "scan [flags] [BASE]",
		help: `Walks the store under BASE (default ` + layout.DefaultBase + `) without writing
anything and reports: totals; per domain the accounts, the storage layout
(flat, subdirectories and their levels, mixed), the largest directory, the
volume and filesystem, and whether it is relocated; the largest
directories anywhere under BASE (mailboxes and Queue/ included); relocation
links (symbolic links standing for a domain, a *.sub or a *.mnt directory)
and where they land; and findings, each with an ID, a severity, the
evidence and the command to run next.

Rules: a directory holding --max-flat-accounts accounts or more (CGS001);
a directory holding --max-domains domains or more (CGS002); dangling links
(CGS003); link loops (CGS004); unreadable directories (CGS005, exit 4);
accounts in the wrong subdirectory for the domain's scheme (CGS006);
domains half flat, half in subdirectories (CGS007); a filesystem that gives
no entry types (CGS008); links to the root of a mounted volume (CGS009);
links back into the store (CGS010); entries vanished during the scan
(CGS011); with --profile, any directory holding more entries than its
volume was measured to take (CGS012); a link made by cgscale move that now
lands on another filesystem than the move recorded in its journal, as when
the volume is not mounted after a reboot (CGS013); move journals that
cannot be read (CGS014); a base without Settings/, such as a relocation
volume (CGS015, info); an apply or move left unfinished (CGS016, critical:
finish it first, no new plan is suggested for what it changes); a
leftover .cgscale-* temporary directory of a move (CGS017). The Main
Domain (BASE/Accounts) is reported as "(main)".

--profile FILE reads what ` + "`cgscale bench --json`" + ` measured (one result, or a
JSON array of several: jq -s . a.json b.json > FILE). On a volume the file
describes, the measured limit of entries per directory replaces
--max-flat-accounts and --max-domains and the finding cites the
measurement; where no slowdown was measured, the setting is only ever
raised to the largest size measured. Volumes the file does not describe
keep the settings.

Exit status: 0 when nothing needs attention, 3 when findings need action,
4 when directories could not be read (the report is partial), 2 when BASE
is missing or not a store.

Examples:
  cgscale scan
  cgscale scan /var/CommuniGate --sizes --top 50
  cgscale scan --json /var/CommuniGate > scan.json
  cgscale scan --sequential /mnt/old-disk/CommuniGate
  cgscale bench --json /var/CommuniGate/Domains > bench.json
  cgscale scan --profile bench.json /var/CommuniGate`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := e.flags(c)
		jobs := fs.Int("jobs", defaultJobs(), "directories read in parallel")
		sequential := fs.Bool("sequential", false, "read one directory at a time (spinning disks); same as --jobs 1")
		sizes := fs.Bool("sizes", false, "count bytes too (one lstat per entry)")
		top := fs.Int("top", layout.DefaultTopN, "how many of the largest directories to list")
		maxFlat := fs.Int("max-flat-accounts", layout.DefaultMaxFlatAccounts, "accounts in one directory that call for subdirectories")
		maxDomains := fs.Int("max-domains", layout.DefaultMaxDomains, "domains in one directory that call for domain subdirectories")
		profile := fs.String("profile", "", "bench result(s) from `cgscale bench --json`: measured limits per volume")
		asJSON := fs.Bool("json", false, "print the report as JSON (schema "+layout.Schema+")")
		progress := progressFlag(fs)
		if err := e.parse(c, fs, args); err != nil {
			return err
		}
		if fs.NArg() > 1 {
			return errs.Errorf(errs.Usage, c.name, "", "give one base directory", "too many arguments: %s", strings.Join(fs.Args(), " "))
		}
		for name, v := range map[string]int{"--jobs": *jobs, "--top": *top, "--max-flat-accounts": *maxFlat, "--max-domains": *maxDomains} {
			if v < 1 {
				return errs.Errorf(errs.Usage, c.name, "", "give a number of 1 or more", "%s %d is out of range", name, v)
			}
		}
		if *sequential {
			*jobs = 1
		}
		var measured *layout.Measured
		if *profile != "" {
			p, err := fsbench.LoadProfile(*profile)
			if err != nil {
				return err
			}
			measured = profileLimits(p)
		}
		base := fs.Arg(0)
		stats := &layout.WalkStats{}
		opt := layout.WalkOptions{
			Jobs: *jobs, Sizes: *sizes, TopN: *top,
			MaxFlatAccounts: *maxFlat, MaxDomains: *maxDomains,
			Stats: stats, Identify: identify, Measured: measured,
		}
		stop, err := e.startProgress(*progress, "scanning", func() (int64, int64) { return stats.Entries.Load(), 0 })
		if err != nil {
			return err
		}
		r, err := layout.Walk(ctx, base, opt)
		stop()
		if r == nil {
			return err
		}
		if *asJSON {
			// Paths keep their bytes: {"b64": ...} where not UTF-8.
			b, werr := rawjson.MarshalIndent(r, "", "  ")
			if werr == nil {
				_, werr = e.stdout.Write(append(b, '\n'))
			}
			if werr != nil {
				return errs.New(errs.Failed, "write report", "", werr, "")
			}
		} else {
			printScan(e.stdout, r, *profile, *maxFlat)
		}
		if err != nil {
			return err
		}
		if r.NeedsAction() {
			n := 0
			for _, f := range r.Findings {
				if f.Severity != layout.Info {
					n++
				}
			}
			return errs.Errorf(errs.Attention, "scan", r.Base, "", "%s attention", plural.N(n, "finding needs", "findings need"))
		}
		return nil
	}
	return c
}

// defaultJobs: directory reads mostly wait on the kernel, so a few more
// readers than CPUs keep every CPU busy; with a cold cache they keep the
// device's queue full.
func defaultJobs() int { return 2 * runtime.NumCPU() }

// identify adapts fsbench's filesystem identity to the report's columns.
func identify(path string) layout.Filesystem {
	id, err := fsbench.Identify(path, fsbench.IdentifyOptions{})
	if err != nil {
		return layout.Filesystem{}
	}
	typ := id.Type
	if id.IsExt() && id.FileType == fsbench.No {
		typ += " (no filetype)"
	}
	if id.IsExt() && id.DirIndex == fsbench.No {
		typ += " (no dir_index)"
	}
	return layout.Filesystem{Type: typ, MountPoint: id.MountPoint, Options: strings.Join(id.Options, ","), Detail: id.String()}
}

// profileLimits matches the volumes of a walk against a bench profile:
// a volume is measured when the profile holds a result for its filesystem
// (see fsbench.Profile.MaxEntriesFor).
func profileLimits(p *fsbench.Profile) *layout.Measured {
	m := &layout.Measured{Smallest: -1}
	for _, r := range p.Volumes {
		if m.Smallest < 0 || r.Knee.MaxEntries < m.Smallest {
			m.Smallest = r.Knee.MaxEntries
		}
	}
	m.For = func(path string, _ uint64) (layout.MeasuredLimit, bool) {
		id, err := fsbench.Identify(path, fsbench.IdentifyOptions{})
		if err != nil {
			return layout.MeasuredLimit{}, false
		}
		t, ok := p.MaxEntriesFor(id)
		if !ok {
			return layout.MeasuredLimit{}, false
		}
		return layout.MeasuredLimit{MaxEntries: t.MaxEntries, Ceiling: t.Knee || t.Limited, Profile: p.Path, Evidence: t.Evidence}, true
	}
	return m
}

// printScan writes the text report; profile is the --profile file, if any.
func printScan(w io.Writer, r *layout.Report, profile string, maxFlat int) {
	rel := func(p string) string {
		if p == r.Base {
			return "."
		}
		if q, err := filepath.Rel(r.Base, p); err == nil && !strings.HasPrefix(q, "..") {
			return q
		}
		return p
	}
	state := "complete"
	if !r.Complete {
		state = "PARTIAL: some directories could not be read"
	}
	if len(r.Unfinished) > 0 {
		state += "; " + plural.N(len(r.Unfinished), "unfinished cgscale run", "") + ", see " + layout.RuleUnfinishedJob
	}
	if !r.ServerBase {
		state += "; no " + layout.SettingsDir + "/: not a server base"
	}
	fmt.Fprintf(w, "Store %s (%s)\n", r.Base, state)
	t := r.Totals
	fmt.Fprintf(w, "Totals: %s, %s, %s, %s", plural.N(t.Domains, "domain", ""), plural.N(t.Accounts, "account", ""), plural.N(t.Directories, "directory", "directories"), plural.N(t.Entries, "entry", "entries"))
	if r.Sizes {
		fmt.Fprintf(w, ", %s (%s allocated)", human.Bytes(t.Bytes), human.Bytes(t.Allocated))
	}
	fmt.Fprintf(w, "; %s; read in %.1fs\n", plural.N(t.Links, "relocation link", ""), float64(r.ElapsedMS)/1000)
	if t.Unreadable > 0 || t.Vanished > 0 || t.Untyped > 0 {
		fmt.Fprintf(w, "        %s, %s vanished during the scan, %s without a type\n", plural.N(t.Unreadable, "unreadable directory", "unreadable directories"), plural.N(t.Vanished, "entry", "entries"), plural.N(t.Untyped, "entry", "entries"))
	}

	fmt.Fprintf(w, "\nDomains:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  DOMAIN\tACCOUNTS\tSTORAGE\tLARGEST DIRECTORY\tENTRIES\tVOLUME\tFILESYSTEM\tRELOCATED\n")
	vols := map[uint64]layout.Volume{}
	for _, v := range r.Volumes {
		vols[v.Device] = v
	}
	for _, d := range r.Domains {
		storage := d.Storage
		if len(d.Levels) > 0 {
			lv := make([]string, len(d.Levels))
			for i, l := range d.Levels {
				lv[i] = fmt.Sprint(l)
			}
			storage += " (levels " + strings.Join(lv, ",") + ")"
		}
		vol := vols[d.Device].MountPoint
		if vol == "" {
			vol = "-"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", d.Name, d.Accounts, storage, rel(d.Largest.Path), d.Largest.Entries, vol, dash(d.Filesystem), d.Relocated)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nLargest directories:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  ENTRIES\tKIND\tPATH\n")
	for _, d := range r.TopDirs {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", d.Entries, d.Kind, rel(d.Path))
	}
	tw.Flush()

	if profile != "" {
		fmt.Fprintf(w, "\nMeasured limits (%s):\n", profile)
		for _, v := range r.Volumes {
			where := v.MountPoint
			if where == "" {
				where = v.Path
			}
			if m := v.Measured; m != nil {
				fmt.Fprintf(w, "  %s: %d entries per directory; %s\n", where, m.MaxEntries, m.Evidence)
			} else {
				fmt.Fprintf(w, "  %s: not in the profile; --max-flat-accounts %d applies\n", where, maxFlat)
			}
		}
	}

	if len(r.Relocations) > 0 {
		fmt.Fprintf(w, "\nLinks:\n")
		for _, l := range r.Relocations {
			// What the link says, and where it leads when that differs.
			where := l.Text
			if l.Resolved != "" && l.Resolved != l.Text {
				where += " (resolves to " + l.Resolved + ")"
			}
			fs := ""
			if l.Filesystem != "" {
				fs = ", " + l.Filesystem
				if l.MountPoint != "" {
					fs += " at " + l.MountPoint
				}
			}
			fmt.Fprintf(w, "  %s -> %s  [%s %s%s]\n", rel(l.Link), where, l.Kind, l.Status, fs)
		}
	}
	if len(r.Unreadable) > 0 {
		fmt.Fprintf(w, "\nUnreadable directories (%d):\n", t.Unreadable)
		for _, u := range r.Unreadable {
			fmt.Fprintf(w, "  %s: %s\n", rel(u.Path), u.Error)
		}
	}
	if len(r.Findings) == 0 {
		fmt.Fprintf(w, "\nFindings: none\n")
		return
	}
	fmt.Fprintf(w, "\nFindings (%d):\n", len(r.Findings))
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %s %-8s %s  %s\n", f.ID, f.Severity, f.Name, f.Subject)
		fmt.Fprintf(w, "      evidence: %s\n", f.Evidence)
		fmt.Fprintf(w, "      next:     %s\n", f.Next)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
