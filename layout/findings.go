package layout

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cgscale/cgscale/internal/journal"
	"github.com/cgscale/cgscale/internal/plural"
)

// The audit rules. IDs never change meaning; new rules get new IDs.
const (
	RuleFlatTooLarge  = "CGS001" // a directory holds MaxFlatAccounts accounts or more
	RuleTooManyDomain = "CGS002" // a directory holds MaxDomains domains or more
	RuleDanglingLink  = "CGS003" // a relocation link (or linked account) leads nowhere
	RuleLinkLoop      = "CGS004" // a link leads to a directory already walked
	RuleUnreadable    = "CGS005" // directories could not be read: the report is partial
	RuleMisplaced     = "CGS006" // accounts in the wrong subdirectory for the domain's scheme
	RuleMixedStorage  = "CGS007" // accounts both in subdirectories and directly in the domain
	RuleNoEntryTypes  = "CGS008" // the filesystem gives no entry types (a stat per entry)
	RuleMountPoint    = "CGS009" // a relocation link leads to the root of a mounted volume
	RuleInsideLink    = "CGS010" // a link points back into the store; not followed
	RuleVanished      = "CGS011" // entries vanished during the scan
	RuleOverMeasured  = "CGS012" // a directory holds more entries than measured to stay fast on its volume
	RuleOffVolume     = "CGS013" // a link made by cgscale move lands on another filesystem than recorded
	RuleJournal       = "CGS014" // the move journals could not be read, or one is damaged
	RuleNotServerBase = "CGS015" // the base has no Settings/: a relocation volume, not a server base
	RuleUnfinishedJob = "CGS016" // a run of apply or move was left unfinished
	RuleLeftover      = "CGS017" // a temporary directory of a move is still in the store
	RuleDuplicate     = "CGS018" // an account name is at two places in one domain
)

// audit applies the rules to a merged report.
func audit(r *Report, overs []over) []Finding {
	base := shellQuote(r.Base)
	suggestSchemes(r, overs)
	f := []Finding{}
	add := func(id, name string, sev Severity, subject, evidence, next string) {
		f = append(f, Finding{ID: id, Name: name, Severity: sev, Subject: subject, Evidence: evidence, Next: next})
	}
	for _, o := range overs {
		c, t := o.dir, o.thr
		if o.rule != RuleFlatTooLarge {
			continue
		}
		d := owningDomain(r, c.Path)
		name, scheme := "", DefaultScheme.String()
		if d != nil {
			name, scheme = d.Name, d.Suggested
		}
		why := "lookups and listings in it slow down on many filesystems"
		if t.Source == SourceProfile {
			why = "lookups in it are measured to slow down on this volume"
		}
		add(RuleFlatTooLarge, "flat-directory-too-large", Warning, c.Path,
			fmt.Sprintf("%s in one directory (%s); %s", plural.N(c.Entries, "account", ""), t.describe(), why),
			fmt.Sprintf("cgscale plan %s --domain %s --scheme %s", base, shellQuote(name), scheme))
		f[len(f)-1].Threshold = &t
	}
	for _, o := range overs {
		c, t := o.dir, o.thr
		switch o.rule {
		case RuleTooManyDomain:
			add(RuleTooManyDomain, "too-many-domains", Warning, c.Path,
				fmt.Sprintf("%s in one directory (%s)", plural.N(c.Entries, "domain", ""), t.describe()),
				fmt.Sprintf("cgscale plan %s --domains --scheme prefix:1", base))
		case RuleOverMeasured:
			add(RuleOverMeasured, "directory-over-measured-limit", Warning, c.Path,
				fmt.Sprintf("%s in this %s directory (%s)", plural.N(c.Entries, "entry", "entries"), c.Kind, t.describe()),
				overNext(c, base))
		default:
			continue
		}
		f[len(f)-1].Threshold = &t
	}
	for _, rl := range r.Relocations {
		switch rl.Status {
		case "dangling", "not-a-directory":
			what := "target is missing"
			if rl.Status == "not-a-directory" {
				what = "target is not a directory"
			}
			evidence := fmt.Sprintf("%s link -> %q: %s (%s)", rl.Kind, rl.Text, what, rl.Error)
			next := fmt.Sprintf("mount the volume holding %s or restore the directory, then: cgscale scan %s", shellQuote(rl.Text), base)
			if rec := rl.Recorded; rec != nil {
				evidence += fmt.Sprintf("; cgscale move put it on device %s (filesystem id %s) on %s", devName(rec.Dev), rec.FSID, rec.Time.Format("2006-01-02 15:04 MST"))
				next = fmt.Sprintf("mount the volume that holds %s, make the mail service wait for it (systemd RequiresMountsFor=%s), then: cgscale scan %s", shellQuote(rec.Dst), rec.Dst, base)
			}
			add(RuleDanglingLink, "dangling-link", Critical, rl.Link, evidence, next)
		case "loop":
			add(RuleLinkLoop, "link-loop", Warning, rl.Link,
				fmt.Sprintf("%s link -> %q: %s; not walked twice", rl.Kind, rl.Text, rl.Error),
				fmt.Sprintf("ls -ld %s", shellQuote(rl.Link)))
		case "inside":
			add(RuleInsideLink, "link-inside-store", Info, rl.Link,
				fmt.Sprintf("%s link -> %q resolves to %s inside the store; not followed, so its accounts are counted once", rl.Kind, rl.Text, rl.Resolved),
				fmt.Sprintf("ls -ld %s", shellQuote(rl.Link)))
		}
		if rec := rl.Recorded; rl.Moved && rec != nil {
			where := rl.Filesystem
			if rl.MountPoint != "" {
				where += " mounted at " + rl.MountPoint
			}
			add(RuleOffVolume, "relocation-off-its-volume", Critical, rl.Link,
				fmt.Sprintf("%s link -> %q was made by cgscale move onto device %s (filesystem id %s) on %s, but now lands on %s, device %s (filesystem id %s): the volume is not mounted (or another one is) and the server would read and write this tree instead of the moved data",
					rl.Kind, rl.Text, devName(rec.Dev), rec.FSID, rec.Time.Format("2006-01-02 15:04 MST"), orUnknown(where), devName(rl.Device), orUnknown(rl.FSID)),
				fmt.Sprintf("stop the mail service; check %s is empty or new (ls -la %s); mount the volume that holds %s; make the service wait for it (systemd RequiresMountsFor=%s); then: cgscale scan %s",
					shellQuote(rl.Resolved), shellQuote(rl.Resolved), shellQuote(rec.Dst), rec.Dst, base))
		}
		if rl.OnMountPoint {
			add(RuleMountPoint, "link-to-mount-point", Warning, rl.Link,
				fmt.Sprintf("link -> %q leads to the root of the volume mounted at %s; if that volume is not mounted the link still resolves, to an empty directory on the parent filesystem, and the server would write there", rl.Text, rl.Resolved),
				fmt.Sprintf("move the data into a subdirectory of %s and point the link there; make the mail service wait for the mount (systemd RequiresMountsFor=%s)", shellQuote(rl.Resolved), rl.Resolved))
		}
	}
	if r.Totals.Unreadable > 0 {
		var paths []string
		for i, u := range r.Unreadable {
			if i == 3 {
				break
			}
			paths = append(paths, u.Path+": "+u.Error)
		}
		subject := r.Base
		if len(r.Unreadable) > 0 {
			subject = r.Unreadable[0].Path
		}
		add(RuleUnreadable, "unreadable-directories", Critical, subject,
			fmt.Sprintf("%s could not be read, so the counts are partial: %s", plural.N(r.Totals.Unreadable, "directory", "directories"), strings.Join(paths, "; ")),
			fmt.Sprintf("ls -ld %s   # then rerun as root or the server's user: cgscale scan %s", shellQuote(subject), base))
	}
	for _, d := range r.Domains {
		if d.Misplaced > 0 {
			add(RuleMisplaced, "misplaced-accounts", Warning, d.Path,
				fmt.Sprintf("%s of %s %s not in the subdirectory the %s scheme gives, e.g. %s; the server will not find %s there", plural.N(d.Misplaced, "account", ""), d.Name, plural.Noun(d.Misplaced, "is", "are"), d.Scheme, strings.Join(d.MisplacedExamples, ", "), plural.Noun(d.Misplaced, "it", "them")),
				fmt.Sprintf("cgscale plan %s --domain %s --scheme %s", base, shellQuote(d.Name), d.Suggested))
		}
		if d.Storage == "mixed" {
			add(RuleMixedStorage, "mixed-storage", Warning, d.Path,
				fmt.Sprintf("%s of %s %s directly in the domain directory while %d %s in subdirectories; a conversion was left unfinished or accounts were created outside it", plural.N(d.FlatAccounts, "account", ""), d.Name, plural.Noun(d.FlatAccounts, "sits", "sit"), d.SubdirAccounts, plural.Noun(d.SubdirAccounts, "is", "are")),
				fmt.Sprintf("cgscale plan %s --domain %s --scheme %s", base, shellQuote(d.Name), d.Suggested))
		}
	}
	for _, d := range r.Duplicates {
		add(RuleDuplicate, "duplicate-account", Critical, d.Second,
			fmt.Sprintf("account %q of %s is both at %s and at %s; the server sees only one of them, and the mail in the other is lost to the user", d.Name, d.Domain, d.First, d.Second),
			fmt.Sprintf("ls -la %s %s   # keep the one the domain's scheme places, merge the other's mailboxes into it, then remove the other", shellQuote(d.First), shellQuote(d.Second)))
	}
	if n := r.Totals.Duplicates - int64(len(r.Duplicates)); n > 0 {
		add(RuleDuplicate, "duplicate-account", Critical, r.Base,
			fmt.Sprintf("%s more found twice in a domain (not listed)", plural.N(n, "account name", "")),
			fmt.Sprintf("cgscale scan --json %s   # duplicate_accounts, after fixing those listed", base))
	}
	for _, v := range r.Volumes {
		if v.Untyped > 0 {
			where := v.MountPoint
			if where == "" {
				where = v.Path
			}
			add(RuleNoEntryTypes, "no-entry-types", Warning, where,
				fmt.Sprintf("the %s filesystem at %s gives no entry types in directory listings (%s needed an lstat each); every listing of a large directory costs a stat per entry (XFS made with ftype=0, ext4 without filetype, some NFS and FUSE mounts)", orUnknown(v.Filesystem), where, plural.N(v.Untyped, "entry", "entries")),
				fmt.Sprintf("cgscale bench %s", shellQuote(where)))
		}
	}
	if r.JournalError != "" {
		add(RuleJournal, "journal-unreadable", Info, journal.Dir(r.Base),
			fmt.Sprintf("the journals of cgscale move could not be read (%s), so links it made were not checked against the volumes it recorded", r.JournalError),
			fmt.Sprintf("cgscale scan %s   # as root or the server's user", base))
	}
	for _, d := range r.DamagedJournals {
		add(RuleJournal, "journal-damaged", Critical, d.Journal,
			fmt.Sprintf("the journal is damaged (%s): cgscale apply and move refuse to start while it is there, and what it records after the damaged line is unknown", d.Error),
			fmt.Sprintf("less %s   # inspect it; restore it, or move it out of %s once the store is checked by hand", shellQuote(d.Journal), shellQuote(journal.Dir(r.Base))))
	}
	for _, j := range r.Unfinished {
		what := "a run of cgscale " + j.Command
		if j.Plan != "" {
			what += " (plan copy " + j.Plan + ")"
		}
		add(RuleUnfinishedJob, "unfinished-job", Critical, j.Journal,
			fmt.Sprintf("%s begun %s was not finished (killed or failed): %s may be half changed, and apply and move refuse to start until it is finished", what, j.Started.Format("2006-01-02 15:04 MST"), orUnknown(strings.Join(j.Paths, ", "))),
			j.Resume)
	}
	for _, l := range r.Leftovers {
		evidence := "a temporary directory of cgscale move: the old tree of a move killed between its swap and its clean-up, or a copy stopped before the swap"
		if l.Unfinished {
			evidence += "; its job (" + l.Journal + ") is unfinished, and resuming it removes the directory"
		} else {
			evidence += "; no unfinished job refers to it"
		}
		add(RuleLeftover, "leftover-temporary-directory", Warning, l.Path, evidence, l.Next)
	}
	if !r.ServerBase {
		add(RuleNotServerBase, "not-a-server-base", Info, r.Base,
			fmt.Sprintf("%s holds no %s/ directory, which a server's base always has: it looks like a relocation volume or a copy of part of a store; it was read like a store, but plan and apply refuse it", r.Base, SettingsDir),
			"cgscale scan "+shellQuote(DefaultBase)+"   # or the server's --Base: plan and apply work on the base, relocated domains through their links")
	}
	if r.Totals.Vanished > 0 {
		add(RuleVanished, "vanished-during-scan", Info, r.Base,
			fmt.Sprintf("%s disappeared between being listed and being read; the store was changing during the scan", plural.N(r.Totals.Vanished, "entry", "entries")),
			fmt.Sprintf("cgscale scan %s   # again, when the server is quiet", base))
	}
	if len(r.Unfinished) > 0 {
		deferPlans(r, f)
	}
	rank := map[Severity]int{Critical: 0, Warning: 1, Info: 2}
	sort.SliceStable(f, func(i, j int) bool {
		if rank[f[i].Severity] != rank[f[j].Severity] {
			return rank[f[i].Severity] < rank[f[j].Severity]
		}
		if f[i].ID != f[j].ID {
			return f[i].ID < f[j].ID
		}
		return f[i].Subject < f[j].Subject
	})
	return f
}

// overNext is the next step for a large directory outside the skeleton.
func overNext(c DirCount, base string) string {
	switch c.Kind {
	case KindMailboxDir:
		return fmt.Sprintf("ls -f %s | wc -l   # then have the user archive or split the mailbox (old messages into a yearly folder)", shellQuote(c.Path))
	case KindQueue:
		return fmt.Sprintf("ls -f %s | wc -l   # then find why delivery is stalled (the server's queue monitor) before the queue grows further", shellQuote(c.Path))
	}
	return fmt.Sprintf("ls -f %s | head   # then spread its entries over subdirectories or move them off; rescan: cgscale scan %s", shellQuote(c.Path), base)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// planScheme is the scheme to propose for a domain: the one it seems to
// use (hash when its placement fits both, so that nothing moves), or the
// default.
func planScheme(d DomainReport) string {
	switch {
	case strings.HasPrefix(d.Scheme, "prefix:"), strings.HasPrefix(d.Scheme, "hash:"):
		return d.Scheme
	case strings.HasPrefix(d.Scheme, "prefix or hash:"):
		return strings.TrimPrefix(d.Scheme, "prefix or ")
	case d.Scheme == "prefix" && len(d.Levels) > 0:
		return fmt.Sprintf("prefix:%d", d.Levels[len(d.Levels)-1])
	}
	return DefaultScheme.String()
}

// owningDomain returns the domain whose directory holds path.
func owningDomain(r *Report, path string) *DomainReport {
	var best *DomainReport
	for i := range r.Domains {
		d := &r.Domains[i]
		if (path == d.Path || strings.HasPrefix(path, d.Path+"/")) && (best == nil || len(d.Path) > len(best.Path)) {
			best = d
		}
	}
	return best
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// deferPlans rewrites the plan suggestions while a job is unfinished:
// apply refuses to start until it is finished, and a new plan for what
// the job changes would be made from a half-changed store. For what the
// job touches, the next step is to finish it; elsewhere, to finish it
// first and then plan.
func deferPlans(r *Report, f []Finding) {
	resume := r.Unfinished[0].Resume
	if i := strings.Index(resume, "   #"); i >= 0 {
		resume = resume[:i]
	}
	for i := range f {
		if !strings.HasPrefix(f[i].Next, "cgscale plan ") {
			continue
		}
		where := f[i].Subject
		if d := owningDomain(r, where); d != nil {
			where = d.Path
		}
		if job := touching(r.Unfinished, where); job != nil {
			f[i].Next = job.Resume
			continue
		}
		f[i].Next = resume + "   # first (apply refuses to start while a run is unfinished), then: " + f[i].Next
	}
}

// touching returns the first job that changes path, something in it, or
// a directory holding it.
func touching(jobs []UnfinishedJob, path string) *UnfinishedJob {
	for i := range jobs {
		for _, p := range jobs[i].Paths {
			if p == path || strings.HasPrefix(p, path+"/") || strings.HasPrefix(path, p+"/") {
				return &jobs[i]
			}
		}
	}
	return nil
}

// suggestSchemes sets every domain's Suggested scheme, so that all the
// findings about one domain propose the same plan: the scheme the domain
// uses (prefix:1 when flat or unknown); when a subdirectory at depth L is
// past its threshold, prefix:L+1 instead (a level more), or for a hash
// scheme enough buckets to bring the crowded one to half its threshold
// (never a prefix scheme for a domain that uses hash).
func suggestSchemes(r *Report, overs []over) {
	for i := range r.Domains {
		r.Domains[i].Suggested = planScheme(r.Domains[i])
	}
	for _, o := range overs {
		if o.rule != RuleFlatTooLarge {
			continue
		}
		d := owningDomain(r, o.dir.Path)
		if d == nil {
			continue
		}
		rel, err := filepath.Rel(d.Path, o.dir.Path)
		if err != nil || rel == "." {
			continue // the domain directory itself: its scheme takes the flat accounts
		}
		depth := strings.Count(rel, "/") + 1
		s, err := ParseScheme(d.Suggested)
		if err != nil {
			continue
		}
		used, err := ParseScheme(planScheme(*d))
		if err != nil || used.Kind != s.Kind {
			used = s
		}
		switch s.Kind {
		case "prefix":
			s.N = min(max(s.N, depth+1), MaxPrefixLevels)
		case "hash":
			half := max(o.thr.Entries/2, 1)
			s.N = min(max(s.N, used.N*int((o.dir.Entries+int64(half)-1)/int64(half))), MaxHashBuckets)
		}
		d.Suggested = s.String()
	}
}
