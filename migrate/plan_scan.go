package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/plural"
	"github.com/cgscale/cgscale/layout"
)

// PlanRequest says what to plan. With no domain, no Domains scheme and no
// relocation named, the plan covers every scan finding that has a remedy.
type PlanRequest struct {
	// Domains maps a domain name (layout.MainDomainName for Accounts/) to
	// the scheme its accounts move into.
	Domains map[string]layout.Scheme
	// DomainsScheme, when set, converts Domains/ itself.
	DomainsScheme *layout.Scheme
	// Relocations: Source relative to the base, Volume absolute.
	Relocations []Relocation
	// Scheme is used for findings that name no scheme (default prefix:1).
	Scheme layout.Scheme
	// Walk tunes the scan (jobs, progress counters).
	Walk layout.WalkOptions
}

// BuildPlan scans the store at base with the layout walker and plans what
// req asks. It writes nothing into the store. The scan report is returned
// too (the summary and --json show its findings).
func BuildPlan(ctx context.Context, base string, req PlanRequest, now time.Time) (*Plan, *layout.Report, error) {
	if req.Scheme == (layout.Scheme{}) {
		req.Scheme = layout.DefaultScheme
	}
	if req.DomainsScheme != nil && len(req.Domains) > 0 {
		return nil, nil, errs.Errorf(errs.Usage, "plan", base, "plan and apply the account conversions first, then plan Domains/",
			"converting Domains/ and accounts of domains in one plan is not supported")
	}
	if err := CheckServerBase("plan", base); err != nil {
		return nil, nil, err
	}
	// A plan made while a run is unfinished would be made from a half
	// changed store.
	jobs, damaged, _, _ := layout.ReadJobs(base)
	if len(jobs) > 0 {
		j := jobs[0]
		return nil, nil, errs.Errorf(errs.Refused, "plan", j.Journal, "finish it first: "+j.Resume+"; then plan again",
			"a run of cgscale %s on this store (started %s) is unfinished", j.Command, j.Started.Local().Format("2006-01-02 15:04:05"))
	}
	if len(damaged) > 0 {
		d := damaged[0]
		return nil, nil, errs.Errorf(errs.Refused, "plan", d.Journal,
			"apply and move refuse to start while it is there: look at the file, and move it aside once the store is known to be consistent",
			"journal is damaged: %s", d.Error)
	}
	explicit := len(req.Domains) > 0 || req.DomainsScheme != nil || len(req.Relocations) > 0
	// The accounts to move: flat ones, and those in a subdirectory other
	// than the one the wanted scheme gives (misplaced, or a scheme
	// changing, as a crowded subdirectory split one level deeper). With
	// domains named, the walk picks them out; planning every finding, the
	// first walk keeps the flat ones and a second walk, only when a
	// domain needs it, the others.
	moving, links, rep, err := collect(ctx, base, req.Walk, req.Domains)
	if err != nil {
		return nil, rep, err
	}
	p, err := NewPlan(rep.Base, now)
	if err != nil {
		return nil, rep, err
	}
	for _, u := range rep.Unreadable {
		if rel, ok := relTo(p.Base, u.Path); ok {
			p.Problems = append(p.Problems, Problem{Code: "unreadable", Path: rel, Detail: "directory cannot be read (" + u.Error + "); accounts in it cannot be migrated (cannot be verified)", Blocking: true})
		}
	}
	byName := map[string]*layout.DomainReport{}
	for i := range rep.Domains {
		byName[rep.Domains[i].Name] = &rep.Domains[i]
	}
	want := map[string]layout.Scheme{}
	var domainsScheme *layout.Scheme = req.DomainsScheme
	for name, s := range req.Domains {
		if byName[name] == nil {
			return nil, rep, errs.Errorf(errs.BadInput, "plan", base, "run `cgscale scan` to list the domains", "no domain %q in this store", name)
		}
		if err := aliasLink(rep, byName[name]); err != nil {
			return nil, rep, err
		}
		want[name] = s
	}
	if !explicit {
		for _, f := range rep.Findings {
			switch f.ID {
			case layout.RuleFlatTooLarge, layout.RuleMixedStorage, layout.RuleMisplaced:
				d := owner(rep, f.Subject)
				if d == nil {
					continue
				}
				// The scheme the findings propose for the domain; a flat
				// domain takes --scheme.
				s := req.Scheme
				if ps, err := layout.ParseScheme(d.Suggested); err == nil && d.Scheme != "" {
					s = ps
				}
				want[d.Name] = s
			case layout.RuleTooManyDomain:
				if f.Subject == filepath.Join(rep.Base, layout.DomainsDir) {
					s := req.Scheme
					domainsScheme = &s
				}
			}
		}
		var again bool
		for n, s := range want {
			d := byName[n]
			if d.Misplaced > 0 || (d.Accounts > d.FlatAccounts+d.MntAccounts && d.Scheme != s.String()) {
				again = true
			}
		}
		if again {
			if moving, links, rep, err = collect(ctx, base, req.Walk, want); err != nil {
				return nil, rep, err
			}
		}
		if domainsScheme != nil && len(want) > 0 {
			p.Problems = append(p.Problems, Problem{Code: "deferred", Path: layout.DomainsDir,
				Detail: "Domains/ also needs subdirectories; plan it with --domains-scheme after this plan is applied"})
			domainsScheme = nil
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := byName[n]
		c, probs, err := accountContainer(p.Base, d, moving[d.Path], want[n])
		if err != nil && !explicit {
			// Planning every finding: a domain that cannot be planned is
			// a problem of the plan, and the others are still planned.
			rel, _ := relTo(p.Base, d.Path)
			detail := "cannot be planned: " + err.Error()
			if h := errs.HintOf(err); h != "" {
				detail += " (" + h + ")"
			}
			p.Problems = append(p.Problems, Problem{Code: "not-planned", Path: rel, Detail: detail})
			continue
		}
		if err != nil {
			return nil, rep, err
		}
		p.Problems = append(p.Problems, probs...)
		p.Problems = append(p.Problems, offVolume(p.Base, rep, d.Path)...)
		roots := map[string]bool{}
		for _, m := range c.Members {
			for _, e := range m.Entries {
				if e.IsDir {
					roots[filepath.Join(d.Path, filepath.FromSlash(e.Name))] = true
				}
			}
		}
		p.Problems = append(p.Problems, escapingLinks(p.Base, d.Path, roots, links, "accounts")...)
		p.AddConversion(c, want[n])
	}
	if domainsScheme != nil {
		c, probs, err := domainsContainer(p.Base, rep, *domainsScheme)
		if err != nil {
			return nil, rep, err
		}
		p.Problems = append(p.Problems, probs...)
		dir := filepath.Join(p.Base, layout.DomainsDir)
		roots := map[string]bool{}
		for _, m := range c.Members {
			if e := m.Entries[0]; e.IsDir {
				roots[filepath.Join(dir, e.Name)] = true
			}
		}
		p.Problems = append(p.Problems, escapingLinks(p.Base, dir, roots, links, "domains")...)
		p.AddConversion(c, *domainsScheme)
	}
	for _, r := range req.Relocations {
		// The renames change what lies inside a converted container:
		// a relocation there would be sized (and its source found)
		// before them.
		for _, c := range p.Conversions {
			if strings.HasPrefix(r.Source, c.Dir+"/") {
				return nil, rep, errs.Errorf(errs.Usage, "plan", filepath.Join(p.Base, filepath.FromSlash(r.Source)),
					fmt.Sprintf("plan and apply the conversion of %s first, then plan the relocation: cgscale plan --relocate %s=%s %s", c.Dir, r.Source, r.Volume, p.Base),
					"--relocate %s lies inside %s, which this plan converts into subdirectories; one plan cannot do both", r.Source, c.Dir)
			}
		}
		r, probs := preflightRelocation(ctx, p.Base, r)
		p.Problems = append(p.Problems, probs...)
		p.AddRelocation(r)
	}
	p.CheckTargets()
	return p, rep, nil
}

// collect walks the store and returns, per domain directory, the accounts
// to move: the flat ones and, for the domains in want, every one not
// where want's scheme puts it. Accounts under *.mnt mount points stay.
// It also returns the paths of the links the walk did not follow (inside
// accounts and domains): a relative one may leave the entry it is in.
func collect(ctx context.Context, base string, wo layout.WalkOptions, want map[string]layout.Scheme) (map[string][]layout.Account, []string, *layout.Report, error) {
	var mu sync.Mutex
	moving := map[string][]layout.Account{}
	var links []string
	wo.OnLink = func(p string) {
		mu.Lock()
		links = append(links, p)
		mu.Unlock()
	}
	wo.OnAccount = func(a layout.Account) {
		if a.InMnt {
			return
		}
		if strings.Contains(a.Rel, "/") {
			s, ok := want[a.Domain]
			if !ok || a.Rel == targetRel(s, a) {
				return
			}
		}
		mu.Lock()
		moving[a.DomainPath] = append(moving[a.DomainPath], a)
		mu.Unlock()
	}
	rep, err := layout.Walk(ctx, base, wo)
	if errs.KindOf(err) == errs.Interrupted {
		return nil, nil, rep, errs.New(errs.Interrupted, "plan", base, ctx.Err(), "no plan was written; run the plan again")
	}
	if err != nil && errs.KindOf(err) != errs.Partial {
		return nil, nil, rep, err
	}
	return moving, links, rep, nil
}

// escapingLinks returns a blocking problem for container (absolute) when
// links holds relative links inside the directories that move (roots,
// absolute) whose target lies outside the directory they are in: moved
// one level deeper, they would lead elsewhere. The rename keeps the
// link's text; an absolute target keeps working.
func escapingLinks(base, container string, roots map[string]bool, links []string, what string) []Problem {
	var bad []string
	for _, l := range links {
		root := ""
		for d := filepath.Dir(l); len(d) > len(container); d = filepath.Dir(d) {
			if roots[d] {
				root = d
				break
			}
		}
		if root == "" {
			continue
		}
		text, err := os.Readlink(l)
		if err != nil || filepath.IsAbs(text) {
			continue
		}
		if t := filepath.Join(filepath.Dir(l), text); t == root || strings.HasPrefix(t, root+"/") {
			continue
		}
		rel, ok := relTo(base, l)
		if !ok {
			rel = l
		}
		bad = append(bad, rel+" -> "+text)
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	shown := bad[:min(len(bad), 5)]
	more := ""
	if len(bad) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(bad)-len(shown))
	}
	rel, ok := relTo(base, container)
	if !ok {
		rel = container
	}
	return []Problem{{Code: "relative-links-out", Path: rel, Blocking: true,
		Detail: fmt.Sprintf("%s inside the %s that move: %s%s. Each points out of the entry it is in and would lead elsewhere one level deeper; make it absolute (ln -sfn /absolute/target LINK), then plan again",
			plural.N(len(bad), "relative link", ""), what, strings.Join(shown, ", "), more)}}
}

// targetRel is where scheme s puts account a, relative to its domain.
func targetRel(s layout.Scheme, a layout.Account) string {
	return path.Join(append(s.Dirs(a.Name), path.Base(a.Rel))...)
}

// owner returns the domain whose directory holds p.
func owner(rep *layout.Report, p string) *layout.DomainReport {
	var best *layout.DomainReport
	for i := range rep.Domains {
		d := &rep.Domains[i]
		if (p == d.Path || strings.HasPrefix(p, d.Path+"/")) && (best == nil || len(d.Path) > len(best.Path)) {
			best = d
		}
	}
	return best
}

func relTo(base, p string) (string, bool) {
	rel, err := filepath.Rel(base, p)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// containerOf stats a container directory for its identity and times. A
// container that is a relocation link (a domain moved to another volume)
// is converted through the link: its identity is the directory the link
// leads to, which LinkedTo names.
func containerOf(base, rel, domain, entity string) (Container, error) {
	dir := filepath.Join(base, filepath.FromSlash(rel))
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return Container{}, errs.New(errs.Failed, "stat", dir, err, "")
	}
	linked := ""
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if err := unix.Stat(dir, &st); err != nil {
			return Container{}, errs.New(errs.Refused, "plan", dir, err, "the relocation link leads nowhere; mount the volume it points to (see `cgscale scan`)")
		}
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return Container{}, errs.New(errs.Failed, "resolve link", dir, err, "")
		}
		linked = real
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Container{}, errs.Errorf(errs.Refused, "plan", dir, "", "is not a directory")
	}
	return Container{Dir: rel, Domain: domain, Entity: entity, Dev: uint64(st.Dev), Ino: st.Ino,
		MtimeNS: st.Mtim.Nano(), AtimeNS: st.Atim.Nano(), LinkedTo: linked, Present: map[string]bool{}}, nil
}

// lstatEntry reads the identity of name in dir; ok is false when it is gone.
func lstatEntry(dir, name string) (Entry, bool, error) {
	var st unix.Stat_t
	err := unix.Lstat(filepath.Join(dir, name), &st)
	if errors.Is(err, unix.ENOENT) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, errs.New(errs.Failed, "stat", filepath.Join(dir, name), err, "")
	}
	return Entry{Name: name, Dev: uint64(st.Dev), Ino: st.Ino, MtimeNS: st.Mtim.Nano(), IsDir: st.Mode&unix.S_IFMT == unix.S_IFDIR}, true, nil
}

// accountContainer turns a domain's flat accounts, as the walker listed
// them, into a Container: identities of every entry (single-mailbox
// accounts with their .settings and .info siblings) and what is already at
// the places the scheme would use.
func accountContainer(base string, d *layout.DomainReport, accts []layout.Account, s layout.Scheme) (Container, []Problem, error) {
	rel, ok := relTo(base, d.Path)
	if !ok {
		return Container{}, nil, errs.Errorf(errs.Refused, "plan", d.Path, "", "domain %s is not inside the base", d.Name)
	}
	domain := d.Name
	c, err := containerOf(base, rel, domain, EntityAccounts)
	if err != nil {
		return c, nil, err
	}
	var probs []Problem
	for _, a := range accts {
		names := []string{a.Rel}
		if a.Kind == layout.KindMboxAccount {
			dir := path.Dir(a.Rel)
			names = append(names, path.Join(dir, a.Name+layout.SettingsSuffix), path.Join(dir, a.Name+layout.InfoSuffix))
		}
		if sub := path.Dir(a.Rel); sub != "." {
			if link := linkAbove(d.Path, sub); link != "" {
				probs = append(probs, Problem{Code: "relocated-subdirectory", Path: path.Join(rel, a.Rel),
					Detail: fmt.Sprintf("stays where it is: %s is a relocation link, and a rename cannot take an account out of it; move it back first to convert it", path.Join(rel, link))})
				continue
			}
		}
		m := Member{Name: a.Name}
		for i, n := range names {
			e, ok, err := lstatEntry(d.Path, n)
			if err != nil {
				return c, nil, err
			}
			if !ok {
				if i == 0 {
					probs = append(probs, Problem{Code: "vanished", Path: path.Join(rel, n), Detail: "listed by the scan, gone when planning"})
				}
				continue
			}
			m.Entries = append(m.Entries, e)
		}
		if len(m.Entries) == 0 {
			continue
		}
		if a.Link {
			if text, err := os.Readlink(a.Path); err == nil && !filepath.IsAbs(text) {
				probs = append(probs, Problem{Code: "relative-link", Path: path.Join(rel, a.Rel), Blocking: true,
					Detail: fmt.Sprintf("is a relative link (%s) that would point elsewhere one level down; make it absolute first", text)})
			}
		}
		c.Members = append(c.Members, m)
	}
	fillPresent(d.Path, &c, s)
	return c, probs, nil
}

// aliasLink refuses domain d when its directory is a link to another
// place inside the store (an alias of another domain, which the walk does
// not follow): converting it would mean converting that domain, under
// another name. The error names the domain the link leads to.
func aliasLink(rep *layout.Report, d *layout.DomainReport) error {
	for _, rl := range rep.Relocations {
		if rl.Link != d.Path || rl.Status != "inside" {
			continue
		}
		target := rl.Resolved
		if target == "" {
			target = rl.Text
		}
		real := filepath.Base(target)
		where := target
		if rel, ok := relTo(rep.Base, target); ok {
			where = rel
		}
		return errs.Errorf(errs.Refused, "plan", d.Path, fmt.Sprintf("plan the domain it leads to: --domain %s", real),
			"domain %s is a link to %s inside this store (domain %s), not a directory of its own", d.Name, where, real)
	}
	return nil
}

// offVolume returns a blocking problem for each relocation link made by
// cgscale move at dir or above it that now lands on another filesystem
// than the move recorded (scan's CGS013): the volume is not mounted and
// whatever stands at the link's target on the parent filesystem is not
// the domain. Converting it would rearrange the wrong tree.
func offVolume(base string, rep *layout.Report, dir string) []Problem {
	var probs []Problem
	for _, rl := range rep.Relocations {
		if !rl.Moved || rl.Recorded == nil || (dir != rl.Link && !strings.HasPrefix(dir, rl.Link+"/")) {
			continue
		}
		rel, ok := relTo(base, rl.Link)
		if !ok {
			rel = rl.Link
		}
		now := rl.Filesystem
		if rl.MountPoint != "" {
			now += " mounted at " + rl.MountPoint
		}
		probs = append(probs, Problem{Code: "off-volume", Path: rel, Blocking: true,
			Detail: fmt.Sprintf("is a relocation link that cgscale move made onto %s (device %s, filesystem id %s), but it now lands on %s (%s, device %s, filesystem id %s): the volume is not mounted; mount the volume that holds %s, then plan again",
				rl.Recorded.Dst, devString(rl.Recorded.Dev), rl.Recorded.FSID, rl.Resolved, strings.TrimSpace(now), devString(rl.Device), rl.FSID, rl.Recorded.Dst)})
	}
	return probs
}

func devString(dev uint64) string {
	return fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
}

// linkAbove returns the first directory of sub (relative to dir) that is
// not a real directory (a relocation link), or "".
func linkAbove(dir, sub string) string {
	rel := ""
	for _, part := range strings.Split(sub, "/") {
		rel = path.Join(rel, part)
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(dir, filepath.FromSlash(rel)), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return rel
		}
	}
	return ""
}

// domainsContainer makes Domains/ a container whose members are the
// domain directories directly in it.
func domainsContainer(base string, rep *layout.Report, s layout.Scheme) (Container, []Problem, error) {
	c, err := containerOf(base, layout.DomainsDir, "", EntityDomains)
	if err != nil {
		return c, nil, err
	}
	dir := filepath.Join(base, layout.DomainsDir)
	var probs []Problem
	for _, d := range rep.Domains {
		if filepath.Dir(d.Path) != dir {
			continue
		}
		e, ok, err := lstatEntry(dir, filepath.Base(d.Path))
		if err != nil {
			return c, nil, err
		}
		if !ok {
			continue
		}
		if !e.IsDir {
			if text, err := os.Readlink(d.Path); err == nil && !filepath.IsAbs(text) {
				probs = append(probs, Problem{Code: "relative-link", Path: layout.DomainsDir + "/" + e.Name, Blocking: true,
					Detail: fmt.Sprintf("is a relative link (%s) that would point elsewhere one level down; make it absolute first", text)})
			}
		}
		c.Members = append(c.Members, Member{Name: d.Name, Entries: []Entry{e}})
	}
	fillPresent(dir, &c, s)
	return c, probs, nil
}

// fillPresent records what already exists at every subdirectory and
// target the scheme would use, one lstat each.
func fillPresent(dir string, c *Container, s layout.Scheme) {
	look := func(rel string) {
		if _, done := c.Present[rel]; done {
			return
		}
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(dir, filepath.FromSlash(rel)), &st) == nil {
			c.Present[rel] = st.Mode&unix.S_IFMT == unix.S_IFDIR
		}
	}
	checked := map[string]bool{}
	for _, m := range c.Members {
		rel := ""
		for _, d := range s.Dirs(m.Name) {
			rel = path.Join(rel, d)
			if !checked[rel] {
				checked[rel] = true
				look(rel)
			}
		}
		for _, e := range m.Entries {
			look(path.Join(rel, path.Base(e.Name)))
		}
	}
}

// preflightRelocation runs the move engine's pre-flight (PlanMove) for r:
// what the tree holds, what the target needs and has, and every refusal
// the move would meet. The space check is left to CheckTargets, which adds
// up every relocation to the same filesystem. A refusal becomes a
// blocking problem, a warning of the engine a note.
func preflightRelocation(ctx context.Context, base string, r Relocation) (Relocation, []Problem) {
	src := filepath.Join(base, filepath.FromSlash(r.Source))
	if _, err := os.Lstat(src); err != nil {
		return r, []Problem{{Code: "not-found", Path: r.Source, Blocking: true, Detail: err.Error()}}
	}
	var probs []Problem
	mp, err := PlanMove(ctx, MoveOptions{Src: src, VolumeDir: r.Volume, RewriteRelativeLinks: r.RewriteRelativeLinks, skipSpaceCheck: true})
	if mp != nil {
		r.Dest = mp.Dest
		r.Files, r.Dirs, r.Bytes, r.Inodes = mp.Totals.Files, mp.Totals.Dirs, mp.Totals.Bytes, mp.Totals.Inodes
		r.NeedBytes, r.NeedInodes = mp.NeedBytes, mp.NeedInodes
		r.FSType = mp.Target.FSType
		r.FreeBytes, r.FreeInodes = int64(mp.Target.FreeBytes), int64(mp.Target.FreeInodes)
		r.InodesKnown = mp.Target.TotalInodes > 0
		for _, w := range mp.Warnings {
			probs = append(probs, Problem{Code: "relocate", Path: r.Source, Detail: w})
		}
	}
	if err != nil {
		detail := err.Error()
		if h := errs.HintOf(err); h != "" {
			detail += " (" + h + ")"
		}
		probs = append(probs, Problem{Code: "relocate", Path: r.Source, Blocking: true, Detail: detail})
	}
	return r, probs
}
