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
	var mu sync.Mutex
	flat := map[string][]layout.Account{} // domain directory -> its flat accounts
	wo := req.Walk
	wo.OnAccount = func(a layout.Account) {
		if strings.Contains(a.Rel, "/") || a.InMnt {
			return
		}
		mu.Lock()
		flat[a.DomainPath] = append(flat[a.DomainPath], a)
		mu.Unlock()
	}
	if err := CheckServerBase("plan", base); err != nil {
		return nil, nil, err
	}
	rep, err := layout.Walk(ctx, base, wo)
	if err != nil && errs.KindOf(err) != errs.Partial {
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
	explicit := len(req.Domains) > 0 || req.DomainsScheme != nil || len(req.Relocations) > 0
	for name, s := range req.Domains {
		if byName[name] == nil {
			return nil, rep, errs.Errorf(errs.BadInput, "plan", base, "run `cgscale scan` to list the domains", "no domain %q in this store", name)
		}
		want[name] = s
	}
	if !explicit {
		for _, f := range rep.Findings {
			switch f.ID {
			case layout.RuleFlatTooLarge, layout.RuleMixedStorage:
				for _, d := range rep.Domains {
					if d.Path == f.Subject && d.FlatAccounts > 0 {
						s := req.Scheme
						if ps, err := layout.ParseScheme(d.Scheme); err == nil {
							s = ps // keep the scheme the domain already uses
						}
						want[d.Name] = s
					}
				}
			case layout.RuleTooManyDomain:
				if f.Subject == filepath.Join(rep.Base, layout.DomainsDir) {
					s := req.Scheme
					domainsScheme = &s
				}
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
		c, probs, err := accountContainer(p.Base, d, flat[d.Path], want[n])
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
		p.AddConversion(c, want[n])
	}
	if domainsScheme != nil {
		c, probs, err := domainsContainer(p.Base, rep, *domainsScheme)
		if err != nil {
			return nil, rep, err
		}
		p.Problems = append(p.Problems, probs...)
		p.AddConversion(c, *domainsScheme)
	}
	for _, r := range req.Relocations {
		r, probs := preflightRelocation(ctx, p.Base, r)
		p.Problems = append(p.Problems, probs...)
		p.AddRelocation(r)
	}
	p.CheckTargets()
	return p, rep, nil
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
			names = append(names, a.Name+layout.SettingsSuffix, a.Name+layout.InfoSuffix)
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
			look(path.Join(rel, e.Name))
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
	mp, err := PlanMove(ctx, MoveOptions{Src: src, VolumeDir: r.Volume, skipSpaceCheck: true})
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
