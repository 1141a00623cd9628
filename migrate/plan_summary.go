package migrate

import (
	"fmt"
	"github.com/cgscale/cgscale/layout"
	"io"
	"strings"

	"github.com/cgscale/cgscale/internal/plural"
)

// WriteSummary writes the human summary of a plan: what moves where, what
// it needs, what is in the way, and what to change on the server.
func WriteSummary(w io.Writer, p *Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan for %s (made %s)\n", p.Base, p.Created.Format("2006-01-02 15:04:05 MST"))
	if len(p.Conversions) == 0 && len(p.Relocations) == 0 {
		b.WriteString("\nNothing to do: no finding has a remedy and no flag asked for a change.\n")
	}
	entries := map[string]int{}
	var files, dirs int
	for _, c := range p.Conversions {
		entries[c.Entity] += c.Entries
		files += c.Files
		dirs += c.NewDirs
		fmt.Fprintf(&b, "\n%s: %s into subdirectories, scheme %s\n", c.Dir, plural.N(c.Entries, entityNoun(c.Entity), ""), c.Scheme)
		if c.FromSubdirs > 0 {
			fmt.Fprintf(&b, "  from subdirectories:   %d (in another subdirectory than the scheme gives; the rest are flat)\n", c.FromSubdirs)
		}
		if c.LinkedTo != "" {
			fmt.Fprintf(&b, "  relocated domain:      renames happen in %s, where the link leads\n", c.LinkedTo)
		}
		fmt.Fprintf(&b, "  entries renamed:       %d (same volume: renames, no copying)\n", c.Files)
		fmt.Fprintf(&b, "  directories created:   %d", c.NewDirs)
		if len(c.Existing) > 0 {
			fmt.Fprintf(&b, " (%d already there)", len(c.Existing))
		}
		b.WriteString("\n")
		if len(c.Examples) > 0 {
			b.WriteString("  spot check after restarting the server:\n")
			if c.Domain == layout.MainDomainName && c.Entity == EntityAccounts {
				fmt.Fprintf(&b, "    (put the server's Main Domain name in place of %s)\n", MainDomainPlaceholder)
			}
			for _, ex := range c.Examples {
				if ex.Address != "" {
					fmt.Fprintf(&b, "    GETACCOUNTLOCATION %s   -> %s\n", ex.Address, ex.NewPath)
				} else {
					fmt.Fprintf(&b, "    GETDOMAINLOCATION %s   -> %s\n", ex.Name, ex.NewPath)
				}
			}
		}
		fmt.Fprintf(&b, "  on the server: %s\n", c.Server)
	}
	var bytes int64
	for _, r := range p.Relocations {
		bytes += r.Bytes
		fmt.Fprintf(&b, "\n%s: relocate to %s (copy, verify, then a symbolic link replaces it)\n", r.Source, r.Volume)
		if r.Dest != "" {
			fmt.Fprintf(&b, "  lands at:              %s\n", r.Dest)
		}
		fmt.Fprintf(&b, "  to copy:               %s, %s (%s, %s)\n", plural.N(r.Files, "file", ""), plural.N(r.Bytes, "byte", ""),
			plural.N(r.Dirs, "directory", "directories"), plural.N(r.Inodes, "inode", ""))
		inodes := fmt.Sprintf("%d inodes", r.FreeInodes)
		if !r.InodesKnown {
			inodes = "inodes not limited"
		}
		fstype := ""
		if r.FSType != "" {
			fstype = " (" + r.FSType + ")"
		}
		fmt.Fprintf(&b, "  target free:           %d bytes, %s%s; needs %d bytes, %d inodes\n", r.FreeBytes, inodes, fstype, r.NeedBytes, r.NeedInodes)
	}
	moving := plural.N(entries[EntityAccounts], "account", "")
	if entries[EntityDomains] > 0 {
		moving = plural.N(entries[EntityDomains], "domain", "")
		if entries[EntityAccounts] > 0 {
			moving = plural.N(entries[EntityAccounts], "account", "") + " and " + moving
		}
	}
	fmt.Fprintf(&b, "\nTotal: %s: %s to move (%s to rename), %s to create, %s to copy\n",
		plural.N(len(p.Ops), "operation", ""), moving,
		plural.N(files, "directory entry", "directory entries"), plural.N(dirs, "directory", "directories"), plural.N(bytes, "byte", ""))
	if len(p.Targets) > 0 {
		b.WriteString("\nTargets:\n")
		for _, t := range p.Targets {
			ok := "enough"
			if !t.Enough {
				ok = "NOT ENOUGH"
			}
			if t.ReadOnly {
				ok = "READ-ONLY"
			}
			inodes := fmt.Sprintf("%d inodes free", t.FreeInodes)
			if !t.InodesKnown {
				inodes = "inodes not limited"
			}
			fmt.Fprintf(&b, "  %s: needs %d bytes, %d inodes; %d bytes, %s: %s\n", t.Path, t.NeedBytes, t.NeedInodes, t.FreeBytes, inodes, ok)
		}
	}
	var coll int
	for _, pr := range p.Problems {
		if pr.Code == "collision" {
			coll++
		}
	}
	fmt.Fprintf(&b, "\nCollisions: %d\n", coll)
	if len(p.Problems) > 0 {
		b.WriteString("Problems:\n")
		for _, pr := range p.Problems {
			mark := "note"
			if pr.Blocking {
				mark = "BLOCKS APPLY"
			}
			fmt.Fprintf(&b, "  [%s] %s: %s: %s\n", mark, pr.Code, pr.Path, pr.Detail)
		}
	}
	if len(p.Ops) > 0 {
		if len(p.Blocking()) > 0 {
			b.WriteString("\nThis plan cannot be applied until the blocking problems are solved; then plan again.\n")
		} else {
			b.WriteString("\nTo carry it out: stop the server, run `" + p.applyCmd("") + "`, change the server settings above, restart, spot check.\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// entityNoun is the singular of a conversion's entity ("accounts").
func entityNoun(entity string) string {
	if entity == EntityDomains {
		return "domain"
	}
	return "account"
}
