package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/plural"
	"github.com/cgscale/cgscale/layout"
	"github.com/cgscale/cgscale/migrate"
)

func planCommand() *command {
	c := &command{
		name:    "plan",
		summary: "write a reviewable plan: accounts or domains into subdirectories, moves to other volumes",
		usage:   "plan [flags] [BASE]",
		help: `Scans the store (read only) and writes a plan: every operation that
converting a domain's accounts (or Domains/ itself) into subdirectories
would take, with the identity (device, inode, modification time) of each
entry, so that apply can refuse a store that changed since. Without
--domain, --domains-scheme or --relocate, the plan covers each scan finding
that has a remedy (a flat domain or a subdirectory past the threshold,
misplaced accounts, accounts left flat beside subdirectories, too many
domains in Domains/), with the scheme scan suggests for the domain; a
domain that cannot be planned is listed as a problem. A conversion moves
every account not where the scheme puts it: flat, misplaced, or in a
subdirectory a deeper scheme splits. A relocated domain is converted
through its link, in the directory it leads to.

BASE must be the server's base (it holds Settings/); a relocation volume
is refused.

The summary lists, per domain, the entries renamed and the directories
created, the free space and inodes of each target, collisions, and what to
change on the server, with accounts to spot check with GETACCOUNTLOCATION.
Planning writes nothing into the store; --out must lie outside it.

Schemes: prefix:N (one directory level per leading character, "j.sub/s.sub")
or hash:N (N buckets). Letters are lowered; a character that is not a
letter or digit, and a missing character of a short name, becomes "_".

Examples:
  cgscale plan /var/CommuniGate
  cgscale plan --domain example.com --scheme prefix:2 --out /root/plan.json /var/CommuniGate
  cgscale plan --domains-scheme prefix:1 --out /root/domains.json /var/CommuniGate
  cgscale plan --relocate Domains/big.com=/mnt/vol2 --out /root/move.json /var/CommuniGate`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := e.flags(c)
		domains := fs.StringArray("domain", nil, "convert this domain's accounts (repeatable; \""+layout.MainDomainName+"\" for Accounts/)")
		scheme := fs.String("scheme", layout.DefaultScheme.String(), "scheme for --domain and for findings: prefix:N or hash:N")
		domainsScheme := fs.String("domains-scheme", "", "convert Domains/ itself into domain subdirectories by this scheme")
		domainsFlag := fs.Bool("domains", false, "convert Domains/ itself by --scheme")
		relocs := fs.StringArray("relocate", nil, "PATH=VOLUME: move PATH (relative to BASE) to VOLUME, leaving a link (repeatable)")
		rewrite := fs.Bool("rewrite-relative-links", false, "relocations: give relative links that lead out of the moved tree their absolute targets in the copy")
		out := fs.String("out", "", "write the plan file here (\"-\" for stdout)")
		asJSON := fs.Bool("json", false, "print the plan as JSON (schema "+migrate.PlanSchema+") instead of the summary")
		jobs := fs.Int("jobs", 0, "directories read at once during the scan (0: automatic)")
		maxFlat := fs.Int("max-flat-accounts", layout.DefaultMaxFlatAccounts, "without --domain: the scan threshold for a crowded account directory (as in scan)")
		maxDomains := fs.Int("max-domains", layout.DefaultMaxDomains, "without --domain: the scan threshold for a crowded domain directory (as in scan)")
		progress := progressFlag(fs)
		if err := e.parse(c, fs, args); err != nil {
			return err
		}
		if fs.NArg() > 1 {
			return errs.Errorf(errs.Usage, c.name, "", "run `cgscale help plan`", "takes one BASE, got %d arguments", fs.NArg())
		}
		base := layout.DefaultBase
		if fs.NArg() == 1 {
			base = fs.Arg(0)
		}
		base, _ = filepath.Abs(base)
		s, err := layout.ParseScheme(*scheme)
		if err != nil {
			return errs.New(errs.Usage, c.name, "", err, "")
		}
		req := migrate.PlanRequest{Domains: map[string]layout.Scheme{}, Scheme: s}
		for _, d := range *domains {
			req.Domains[d] = s
		}
		if *domainsFlag {
			req.DomainsScheme = &s
		}
		if *domainsScheme != "" {
			ds, err := layout.ParseScheme(*domainsScheme)
			if err != nil {
				return errs.New(errs.Usage, c.name, "", err, "")
			}
			req.DomainsScheme = &ds
		}
		for _, r := range *relocs {
			src, vol, ok := strings.Cut(r, "=")
			if !ok || src == "" || !filepath.IsAbs(vol) {
				return errs.Errorf(errs.Usage, c.name, "", "e.g. --relocate Domains/big.com=/mnt/vol2", "--relocate %q: want PATH=/absolute/volume", r)
			}
			req.Relocations = append(req.Relocations, migrate.Relocation{Source: filepath.ToSlash(filepath.Clean(src)), Volume: filepath.Clean(vol), RewriteRelativeLinks: *rewrite})
		}
		if *out != "" && *out != "-" {
			abs, _ := filepath.Abs(*out)
			if rel, err := filepath.Rel(base, abs); err == nil && !strings.HasPrefix(rel, "..") {
				return errs.Errorf(errs.Usage, c.name, abs, "write the plan outside the store, e.g. --out /root/plan.json", "planning writes nothing into the store; --out is inside it")
			}
		}
		var stats layout.WalkStats
		if *maxFlat < 1 || *maxDomains < 1 {
			return errs.Errorf(errs.Usage, c.name, "", "give a number of 1 or more", "--max-flat-accounts and --max-domains must be 1 or more")
		}
		req.Walk = layout.WalkOptions{Jobs: *jobs, Stats: &stats, MaxFlatAccounts: *maxFlat, MaxDomains: *maxDomains}
		stop, err := e.startProgress(*progress, "scanning", func() (int64, int64) { return stats.Entries.Load(), 0 })
		if err != nil {
			return err
		}
		p, _, err := migrate.BuildPlan(ctx, base, req, time.Now())
		stop()
		if err != nil {
			return err
		}
		if *out != "" && *out != "-" {
			p.File, _ = filepath.Abs(*out)
		}
		if *out != "" {
			if err := migrate.WritePlan(p, *out, e.stdout); err != nil {
				return err
			}
		} else if err := p.Seal(); err != nil {
			return errs.New(errs.Failed, "plan", base, err, "")
		}
		switch {
		case *out == "-":
		case *asJSON:
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(p); err != nil {
				return err
			}
		default:
			if err := migrate.WriteSummary(e.stdout, p); err != nil {
				return err
			}
			if *out != "" {
				fmt.Fprintf(e.stdout, "\nPlan written to %s (%s).\n", *out, plural.N(len(p.Ops), "operation", ""))
			} else if len(p.Ops) > 0 {
				fmt.Fprintf(e.stdout, "\nNo plan file written: add --out FILE to keep it for apply.\n")
			}
		}
		if b := p.Blocking(); len(b) > 0 {
			return errs.Errorf(errs.Attention, c.name, base, "", "the plan has %s; apply will refuse it", plural.N(len(b), "blocking problem", ""))
		}
		return nil
	}
	return c
}
