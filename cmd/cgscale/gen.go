package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/cgscale/cgscale/internal/human"
	"github.com/cgscale/cgscale/internal/plural"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/afero"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/fsbench"
	"github.com/cgscale/cgscale/layout"
)

func genCommand() *command {
	c := &command{
		name:    "gen",
		summary: "generate a realistic sample store (for demos, tests and benchmarks)",
		usage:   "gen [flags] DIR",
		help: `
Writes a CommuniGate Pro store under DIR: the Main Domain in Accounts/,
secondary domains in Domains/ (each with its Settings/), multi-mailbox
accounts (<name>.macnt/ with INBOX.mbox or an INBOX.mdir/ mailbox directory)
and single-mailbox accounts (<name>.mbox with .settings and .info siblings),
a Queue/ backlog, storage mount points and relocation links to a second
directory. The same flags and --seed always give the same tree.

The first secondary domain gets the --skew share of the accounts and is flat
whenever --flat-fraction is above 0; the other domains share the rest with a
long tail. Domains that are not flat place accounts in subdirectories by
--scheme. DIR must be new or empty (or pass --force-into). gen never writes
a ProcessID file and refuses a DIR that has one.

When the filesystem fills up (space or inodes) gen stops at the first
failed write, names that file and the filesystem, says how much it wrote,
and exits 1; the partial store is left in place for you to remove (gen
never deletes, since DIR may hold files of yours with --force-into).
Ctrl-C stops it the same way, with exit 130.

Examples:
  cgscale gen /var/tmp/store
  cgscale gen --accounts 20000 --domains 12 --skew 0.3 --flat-fraction 0.25 /var/tmp/store
  cgscale gen --scheme prefix:2 --domain-subdirs prefix:1 --mdir-fraction 0.1 /var/tmp/store
  cgscale gen --big-mailbox 5000 --queue 2000 --json /var/tmp/store
  cgscale gen --relocate-to /mnt/vol2/cg --relocate 2 /var/tmp/store
  cgscale gen --extras --accounts 2000 --domains 2 /var/tmp/store

--extras adds to multi-mailbox accounts what a faithful copy must keep,
chosen by the account's place in its domain (the first gets every kind):
every 10th a mailbox directory with a message hard-linked into another and
an empty one, every 20th user.* attributes (where the filesystem takes
them), every 50th an internal and a dangling symbolic link, every 100th an
8 MiB sparse file, every 200th names that are not UTF-8, a 250-byte name and
a 2,000-byte deep path; every such account gets old times with nanoseconds,
and numeric owners (1000-1006) when run as root.`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := e.flags(c)
		seed := fs.Uint64("seed", 1, "seed: the same seed and flags give the same tree")
		accounts := fs.Int("accounts", 1000, "accounts in all, Main Domain included")
		domains := fs.Int("domains", 10, "secondary domains")
		skew := fs.Float64("skew", 0.3, "share of the secondary domains' accounts that the first domain gets")
		flat := fs.Float64("flat-fraction", 0.5, "share of secondary domains that are flat (the rest use --scheme)")
		scheme := fs.String("scheme", layout.DefaultScheme.String(), "account subdirectory scheme: prefix:N or hash:N")
		domSubs := fs.String("domain-subdirs", "", "place domains in domain subdirectories by this scheme (prefix:N or hash:N)")
		single := fs.Float64("single-fraction", 0.2, "share of single-mailbox accounts")
		mdirFrac := fs.Float64("mdir-fraction", 0.05, "share of multi-mailbox accounts whose INBOX is a mailbox directory")
		mdirMsgs := fs.Int("mdir-messages", 20, "messages in each mailbox directory")
		big := fs.Int("big-mailbox", 0, "give the first domain's first account an INBOX.mdir of this many messages")
		queue := fs.Int("queue", 100, "message files in the Queue/ backlog")
		mounts := fs.Int("mounts", 0, "secondary domains with a storage mount point (<name>.mnt) holding a tenth of their accounts")
		relocTo := fs.String("relocate-to", "", "second directory for relocated domains, mount points or subdirectories")
		reloc := fs.Int("relocate", 0, "how many secondary domains get a relocated directory (default 1 with --relocate-to)")
		relative := fs.Bool("relative-links", false, "write relative link text (default: absolute)")
		extras := fs.Bool("extras", false, "add hard links, sparse files, user.* attributes, odd and long names, deep paths, symlinks, old times (and numeric owners as root) to accounts")
		force := fs.Bool("force-into", false, "write into DIR even when it is not empty")
		workers := fs.Int("workers", 8, "parallel file writers")
		asJSON := fs.Bool("json", false, "print the result as JSON (schema "+layout.GenSchema+")")
		progress := progressFlag(fs)
		if err := e.parse(c, fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errs.Errorf(errs.Usage, c.name, "", "run `cgscale help gen`", "want exactly one DIR, got %d arguments", fs.NArg())
		}
		o := layout.GenOptions{
			Seed: *seed, Accounts: *accounts, Domains: *domains, Skew: *skew,
			FlatFraction: *flat, SingleFraction: *single, MdirFraction: *mdirFrac,
			MdirMessages: *mdirMsgs, BigMailbox: *big, Queue: *queue, Mounts: *mounts,
			RelocateTo: *relocTo, Relocate: *reloc, RelativeLinks: *relative,
			ForceInto: *force, Extras: *extras, Workers: *workers, Progress: &layout.GenProgress{},
		}
		if *workers < 1 {
			return errs.Errorf(errs.Usage, c.name, "", "use --workers 1 or more", "--workers %d", *workers)
		}
		var err error
		if o.Scheme, err = layout.ParseScheme(*scheme); err != nil {
			return errs.New(errs.Usage, c.name, "", fmt.Errorf("--scheme: %w", err), "use prefix:N (N 1 to 4) or hash:N (N 2 to 65536)")
		}
		if *domSubs != "" {
			s, err := layout.ParseScheme(*domSubs)
			if err != nil {
				return errs.New(errs.Usage, c.name, "", fmt.Errorf("--domain-subdirs: %w", err), "use prefix:N (N 1 to 4) or hash:N (N 2 to 65536)")
			}
			o.DomainSubdirs = &s
		}
		if o.RelocateTo != "" && !fs.Changed("relocate") {
			o.Relocate = 1
		}
		if err := o.Validate(); err != nil {
			return err
		}
		o.Filesystem = filesystemOf(fs.Arg(0))
		p := o.Progress
		stop, err := e.startProgress(*progress, "gen", func() (int64, int64) {
			return p.AccountsDone.Load(), p.AccountsTotal.Load()
		})
		if err != nil {
			return err
		}
		start := time.Now()
		res, err := layout.Generate(ctx, afero.NewOsFs(), fs.Arg(0), o)
		stop()
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		printGen(e.stdout, res, o, time.Since(start))
		return nil
	}
	return c
}

// filesystemOf names, as scan and bench do, the filesystem that holds
// path or, while path does not exist yet, its nearest existing parent.
func filesystemOf(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(p); err == nil {
			break
		}
		if p == filepath.Dir(p) {
			return ""
		}
		p = filepath.Dir(p)
	}
	id, err := fsbench.Identify(p, fsbench.IdentifyOptions{})
	if err != nil {
		return ""
	}
	return id.String()
}

func printGen(w io.Writer, r *layout.GenResult, o layout.GenOptions, took time.Duration) {
	flat, largest := 0, layout.GenDomain{}
	for _, d := range r.DomainList {
		if !d.Main && d.Layout == "flat" {
			flat++
		}
		if !d.Main && d.Accounts > largest.Accounts {
			largest = d
		}
	}
	fmt.Fprintf(w, "generated store %s (seed %d) in %s\n", r.Base, r.Seed, took.Round(time.Millisecond))
	fmt.Fprintf(w, "  domains:       %d secondary (%d flat, %d in subdirectories %s) and the Main Domain\n", r.Domains, flat, r.Domains-flat, o.Scheme)
	fmt.Fprintf(w, "  accounts:      %d (%d multi-mailbox, %d single-mailbox)\n", r.Accounts, r.Multi, r.Single)
	if largest.Accounts > 0 {
		fmt.Fprintf(w, "  largest:       %s with %s (%s) in %s\n", largest.Name, plural.N(int64(largest.Accounts), "account", ""), largest.Layout, largest.Path)
	}
	fmt.Fprintf(w, "  mailbox dirs:  %d holding %s (largest %d)\n", r.MailboxDirs, plural.N(r.MdirMsgs, "message", ""), r.Largest)
	fmt.Fprintf(w, "  queue:         %s\n", plural.N(int64(r.Queue), "message", ""))
	for _, l := range r.Relocations {
		fmt.Fprintf(w, "  relocated:     %s -> %s\n", l.Path, l.Text)
	}
	if x := r.Extras; x != nil {
		owners := "not set (not root)"
		if x.Owners {
			owners = "numeric, set"
		}
		fmt.Fprintf(w, "  extras:        %d hard links, %d sparse files, %d xattrs, %d symlinks, %d odd names, %d deep paths; owners %s\n",
			x.HardLinks, x.Sparse, x.Xattrs, x.Symlinks, x.OddNames, x.DeepPaths, owners)
	}
	fmt.Fprintf(w, "  written:       %s, %s, %s, %s\n", plural.N(r.Dirs, "directory", ""), plural.N(r.Files, "file", ""), plural.N(r.Links, "symlink", ""), human.Bytes(r.Bytes))
}
