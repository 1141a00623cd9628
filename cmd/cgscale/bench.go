package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/fsbench"
	"github.com/cgscale/cgscale/internal/durable"
	"github.com/cgscale/cgscale/internal/human"
)

func benchCommand() *command {
	c := &command{
		name:    "bench",
		summary: "measure where a directory gets slow and how many writers the storage likes",
		usage:   "bench [flags] DIR",
		help: `Measures, on the volume holding DIR, how directory operations slow down as
one directory grows, and how many parallel delivery writers the storage
handles best. Everything happens in a scratch directory DIR/.cgscale-bench.*,
which is removed at the end, on an error and on Ctrl-C (--keep keeps it).
Scratch directories left by a killed run are removed at the next start.

Lookup sweep: for each size in --sizes, one directory is filled with
account directories (<name>.macnt) and cgscale times: lookups of existing
names in random order, lookups of names that were never there, opening and
reading a small file in an account, a full listing, creating and removing
entries. It reports the median (p50) and 99th percentile (p99) per
operation and size over --reps repetitions. The knee is the smallest size
at which a lookup costs more than --knee-factor times its cost at the
smallest size; the recommended maximum of entries per directory follows
from it, with the measurements as evidence.

Writer sweep: for each count in --writers, that many writers deliver
messages of --msg-size (create a file in a queue directory, write, fsync,
rename into a mailbox of one of --accounts accounts) for --writer-time.
The recommended number of Local Delivery processors is the smallest count
that no larger count beats by more than 10% in messages per second.

Sizes accept k and m (1k = 1000); --msg-size accepts k and m (1k = 1024).
--sizes none or --writers none skips that sweep. The whole default run
takes one to two minutes on a local disk.

Examples:
  cgscale bench /var/CommuniGate/Domains
  cgscale bench --json /srv/mail2 > mail2.json      # a profile for scan --profile
  cgscale bench --svg lookup.svg --writers none /srv/mail2
  cgscale bench --sizes 1k,10k,50k --cold /srv/mail2
  cgscale bench --sizes none --writers 1,4,16,64 --msg-size 64k /srv/mail2`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := e.flags(c)
		sizes := fs.String("sizes", "1k,5k,10k,25k,50k,100k", "directory sizes to measure, increasing, or none")
		reps := fs.Int("reps", 3, "repetitions of each measurement")
		samplesN := fs.Int("samples", 1000, "lookups timed per repetition (creates, removes and reads: a fifth)")
		factor := fs.Float64("knee-factor", 4, "the knee is where a lookup costs this many times its cost at the smallest size")
		cold := fs.Bool("cold", false, "drop the kernel caches before each timed phase (needs root)")
		writers := fs.String("writers", "1,2,4,8,16,32,64", "parallel writer counts to measure, increasing, or none")
		writerTime := fs.Duration("writer-time", 2*time.Second, "how long each writer count runs")
		msgSize := fs.String("msg-size", "16k", "size of each delivered message")
		accounts := fs.Int("accounts", 500, "accounts the writers deliver into")
		keep := fs.Bool("keep", false, "keep the scratch directory (its path is printed)")
		asJSON := fs.Bool("json", false, "print the result as JSON (schema "+fsbench.Schema+")")
		svg := fs.String("svg", "", "write a chart of latency against entries to this SVG file")
		progress := progressFlag(fs)
		if err := e.parse(c, fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errs.Errorf(errs.Usage, c.name, "", "run `cgscale help bench`", "needs exactly one directory, got %d arguments", fs.NArg())
		}
		o := fsbench.Options{
			Dir: fs.Arg(0), Reps: *reps, Samples: *samplesN, KneeFactor: *factor, Cold: *cold,
			WriterTime: *writerTime, Accounts: *accounts, Keep: *keep,
		}
		var err error
		if o.Sizes, err = parseCounts("--sizes", *sizes, 1000); err != nil {
			return err
		}
		if o.Writers, err = parseCounts("--writers", *writers, 1000); err != nil {
			return err
		}
		ms, err := parseCounts("--msg-size", *msgSize, 1024)
		if err != nil || len(ms) != 1 {
			return errs.Errorf(errs.Usage, c.name, "", "e.g. --msg-size 16k", "--msg-size %q is not one size", *msgSize)
		}
		o.MsgSize = ms[0]
		if *reps < 1 || *samplesN < 1 || *accounts < 1 || *writerTime <= 0 || *factor <= 1 {
			return errs.Errorf(errs.Usage, c.name, "", "--reps, --samples, --accounts and --writer-time must be positive, --knee-factor above 1", "a count is out of range")
		}
		if err := o.Check(); err != nil {
			return err
		}
		if _, err := progressModeOK(*progress); err != nil {
			return err
		}

		stale, err := fsbench.RemoveStale(o.Dir)
		for _, s := range stale {
			fmt.Fprintf(e.stderr, "cgscale: removed %s, left by an earlier bench run (process %d is gone)\n", s.Path, s.Pid)
		}
		if err != nil {
			return err
		}
		var stop func()
		o.Stage = func(desc string, total int64, done *atomic.Int64) func() {
			s, perr := e.startProgress(*progress, "bench: "+desc, func() (int64, int64) { return done.Load(), total })
			if perr != nil {
				return func() {}
			}
			stop = s
			return s
		}
		o.Note = func(msg string) { fmt.Fprintf(e.stderr, "cgscale: %s\n", msg) }
		res, runErr := fsbench.Run(ctx, o)
		if stop != nil {
			stop()
		}
		if res == nil {
			return runErr
		}
		if *svg != "" && len(res.Sizes) > 0 {
			if err := writeReport(*svg, []byte(fsbench.SVG(res))); err != nil && runErr == nil {
				runErr = err
			}
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil && runErr == nil {
				runErr = errs.New(errs.Failed, "bench: write JSON", "", err, "")
			}
		} else {
			printBench(e.stdout, res)
		}
		return runErr
	}
	return c
}

// progressModeOK checks a --progress value before any work starts.
func progressModeOK(mode string) (bool, error) {
	switch mode {
	case "auto", "always", "never":
		return true, nil
	}
	return false, errs.Errorf(errs.Usage, "", "", "use auto, always or never", "--progress %q is not a mode", mode)
}

// parseCounts parses "1k,5k,10000" (unit is what k stands for) or "none".
func parseCounts(flag, s string, unit int) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = unit, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "m"):
			mult, f = unit*unit, strings.TrimSuffix(f, "m")
		}
		n, err := strconv.ParseFloat(f, 64)
		if err != nil || n <= 0 || n*float64(mult) > 1e9 {
			return nil, errs.Errorf(errs.Usage, "bench", "", "e.g. "+flag+" "+countsExample(flag), "%s: %q is not a count", flag, f)
		}
		out = append(out, int(n*float64(mult)))
	}
	return out, nil
}

// countsExample is a valid value of the list flag, for error hints.
func countsExample(flag string) string {
	if flag == "--writers" {
		return "1,2,4,8,16"
	}
	return "1k,5k,10k"
}

// writeReport replaces path with a report, whole or not at all, readable
// by all (durable.WriteFile).
func writeReport(path string, b []byte) error {
	if err := durable.WriteFile(path, b, 0o644); err != nil {
		return errs.New(errs.Failed, "bench: write", path, err, "give --svg a path in a writable directory")
	}
	return nil
}

// printBench writes the text report.
func printBench(w io.Writer, r *fsbench.Result) {
	fmt.Fprintf(w, "cgscale bench %s: %s cache, %d repetitions, %.0fs\n", r.Dir, r.Cache, r.Settings.Reps, r.Seconds)
	id := r.Filesystem
	fmt.Fprintf(w, "Filesystem: %s\n", id)
	fmt.Fprintf(w, "  device %s, fsid %s, mount options %s", id.Device, id.FSID, strings.Join(id.Options, ","))
	if id.IsExt() {
		fmt.Fprintf(w, ", dir_index %s, filetype %s, large_dir %s", id.DirIndex, id.FileType, id.LargeDir)
	}
	fmt.Fprintf(w, "\n")
	if len(r.Sizes) > 0 {
		fmt.Fprintf(w, "\nLatency per operation, p50 / p99 (list: time per entry of a full listing):\n")
		fmt.Fprintf(w, "%9s", "entries")
		for _, op := range fsbench.Ops {
			fmt.Fprintf(w, "  %-19s", op)
		}
		fmt.Fprintf(w, "\n")
		for _, s := range r.Sizes {
			fmt.Fprintf(w, "%9d", s.Entries)
			for _, op := range fsbench.Ops {
				l := s.Ops[op]
				fmt.Fprintf(w, "  %-19s", fsbench.FormatNs(l.P50ns)+" / "+fsbench.FormatNs(l.P99ns))
			}
			fmt.Fprintf(w, "\n")
		}
		fmt.Fprintf(w, "\nFull listing, entries per second:\n%9s  %12s  %12s", "entries", "names only", "with types")
		if id.IsExt() {
			fmt.Fprintf(w, "  %s", "hash-indexed (inode flag)")
		}
		fmt.Fprintf(w, "\n")
		for _, s := range r.Sizes {
			fmt.Fprintf(w, "%9d  %12.0f  %12.0f", s.Entries, s.ListNamesPerSec, s.ListTypedPerSec)
			if s.HashedIndex != "" {
				fmt.Fprintf(w, "  %s", s.HashedIndex)
			}
			fmt.Fprintf(w, "\n")
		}
	}
	if l := r.DirLimit; l != nil {
		fmt.Fprintf(w, "\nLimit: %s; larger sizes were not measured.\n", l.Reason)
	}
	if k := r.Knee; k != nil {
		fmt.Fprintf(w, "\nLookup cost relative to %d entries (p50):\n", k.BaselineEntries)
		fmt.Fprintf(w, "%9s  %8s  %14s\n", "entries", "lookup", "lookup-missing")
		for _, p := range k.Points {
			fmt.Fprintf(w, "%9d  %7.1fx  %13.1fx\n", p.Entries, p.LookupRatio, p.MissingRatio)
		}
		if k.Found {
			fmt.Fprintf(w, "Knee at %d entries: %s.\n", k.Entries, k.Evidence)
			fmt.Fprintf(w, "Recommended maximum entries per directory: %d\n", k.MaxEntries)
		} else {
			fmt.Fprintf(w, "%s.\n", strings.ToUpper(k.Evidence[:1])+k.Evidence[1:])
			fmt.Fprintf(w, "Recommended maximum entries per directory: at least %d (the largest size measured)\n", k.MaxEntries)
		}
	}
	if ws := r.Writers; ws != nil && len(ws.Steps) > 0 {
		fmt.Fprintf(w, "\nDelivery writers (%s messages, fsync and rename into %d accounts, %gs per count):\n", human.Bytes(int64(ws.MsgSize)), ws.Accounts, ws.Seconds)
		fmt.Fprintf(w, "%8s  %10s  %10s  %10s\n", "writers", "msgs/s", "p50", "p99")
		for _, s := range ws.Steps {
			mark := ""
			if s.Writers == ws.Recommended {
				mark = "  <- knee"
			}
			fmt.Fprintf(w, "%8d  %10.0f  %10s  %10s%s\n", s.Writers, s.PerSec, fsbench.FormatNs(s.P50ns), fsbench.FormatNs(s.P99ns), mark)
		}
		if ws.Recommended == 0 {
			fmt.Fprintf(w, "No recommendation: not every writer count ran.\n")
		} else {
			fmt.Fprintf(w, "Recommended Local Delivery processors: %d (%s)\n", ws.Recommended, ws.Rule)
		}
		if ws.StillGrowing {
			fmt.Fprintf(w, "Throughput was still growing at %d writers: try larger --writers counts.\n", ws.Steps[len(ws.Steps)-1].Writers)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	if r.Stopped != "" {
		fmt.Fprintf(w, "\nPARTIAL: the run stopped early (%s); the figures above are what was measured.\n", r.Stopped)
	}
}
