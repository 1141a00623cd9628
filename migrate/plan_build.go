package migrate

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/cgscale/cgscale/layout"
)

// Entity kinds a conversion moves.
const (
	EntityAccounts = "accounts"
	EntityDomains  = "domains"
)

// Entry is one directory entry of a container with the identity apply
// compares before it changes anything.
type Entry struct {
	Name    string
	Dev     uint64
	Ino     uint64
	MtimeNS int64
	IsDir   bool
}

// Member is one account (or, in Domains/, one domain) of a container with
// the entries that make it up: "jsmith.macnt", or "jsmith.mbox" with
// "jsmith.settings" and "jsmith.info". All of them move together. An
// entry's name is relative to the container: "jsmith.macnt" when flat,
// "x.sub/jsmith.macnt" when it sits in another subdirectory than the
// scheme gives.
type Member struct {
	Name    string  // bare name: "jsmith", "example.com"
	Entries []Entry // in the container, never empty
	// Unreadable, when set, says why the member's contents could not be
	// read. A rename does not read contents, so the member still moves;
	// the plan notes it.
	Unreadable string
}

// Container is a directory whose members move into subdirectories: a
// domain directory, the main domain's Accounts/, or Domains/.
type Container struct {
	Dir     string // relative to the base: "Domains/example.com"
	Domain  string // the domain the accounts belong to; "" for Domains/
	Entity  string // EntityAccounts or EntityDomains
	Dev     uint64
	Ino     uint64
	MtimeNS int64
	AtimeNS int64
	// LinkedTo: Dir is a link to this directory (see Conversion.LinkedTo).
	LinkedTo string
	// Members are the flat members, directly in Dir.
	Members []Member
	// Present holds every path already in the container that a target
	// might meet, relative to Dir ("j.sub", "j.sub/jsmith.macnt",
	// "Settings"), with true for directories.
	Present map[string]bool
}

// BuildConversion is the pure core of planning: given a container and a
// scheme it returns the conversion, its operations (subdirectories first,
// outermost first, then every member's entries, member by member) and the
// problems found. A target that already exists is a blocking collision.
func BuildConversion(c Container, s layout.Scheme) (Conversion, []Op, []Problem) {
	conv := Conversion{
		Dir: c.Dir, Domain: c.Domain, Entity: c.Entity, Scheme: s.String(),
		Dev: c.Dev, Ino: c.Ino, MtimeNS: c.MtimeNS, AtimeNS: c.AtimeNS, LinkedTo: c.LinkedTo,
	}
	members := append([]Member(nil), c.Members...)
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })

	var problems []Problem
	var mkdirs, renames []Op
	planned := map[string]bool{}  // subdirectories to create, relative to Dir
	existing := map[string]bool{} // subdirectories already there
	targets := map[string]bool{}  // where entries move, relative to Dir
	for _, m := range members {
		dirs := s.Dirs(m.Name)
		rel := ""
		blocked := false
		for _, d := range dirs {
			rel = path.Join(rel, d)
			if planned[rel] || existing[rel] {
				continue
			}
			isDir, present := c.Present[rel]
			switch {
			case present && isDir:
				existing[rel] = true
			case present:
				problems = append(problems, Problem{Code: "collision", Path: path.Join(c.Dir, rel), Blocking: true,
					Detail: fmt.Sprintf("a file named %s is in the way of the subdirectory for %s", d, m.Name)})
				blocked = true
			default:
				planned[rel] = true
				mkdirs = append(mkdirs, Op{Op: OpMkdir, Dir: c.Dir, Target: path.Join(c.Dir, rel)})
			}
			if blocked {
				break
			}
		}
		if blocked {
			continue
		}
		if m.Unreadable != "" {
			problems = append(problems, Problem{Code: "unreadable", Path: path.Join(c.Dir, m.Entries[0].Name),
				Detail: "contents cannot be read (" + m.Unreadable + "); it is renamed as a whole, but cannot be verified"})
		}
		for _, e := range m.Entries {
			trel := path.Join(rel, path.Base(e.Name))
			if targets[trel] {
				problems = append(problems, Problem{Code: "collision", Path: path.Join(c.Dir, trel), Blocking: true,
					Detail: fmt.Sprintf("two entries named %s would both move there (the account is in the domain twice)", path.Base(e.Name))})
				continue
			}
			targets[trel] = true
			if _, present := c.Present[trel]; present {
				problems = append(problems, Problem{Code: "collision", Path: path.Join(c.Dir, trel), Blocking: true,
					Detail: fmt.Sprintf("%s already exists; %s cannot be moved there", trel, e.Name)})
				continue
			}
			renames = append(renames, Op{Op: OpRename, Dir: c.Dir, Account: m.Name,
				Source: path.Join(c.Dir, e.Name), Target: path.Join(c.Dir, trel),
				Dev: e.Dev, Ino: e.Ino, MtimeNS: e.MtimeNS})
		}
		conv.Entries++
		if strings.Contains(m.Entries[0].Name, "/") {
			conv.FromSubdirs++
		}
	}
	// Parents sort before their children, so creation order is safe.
	sort.Slice(mkdirs, func(i, j int) bool { return mkdirs[i].Target < mkdirs[j].Target })
	for rel := range existing {
		conv.Existing = append(conv.Existing, path.Join(c.Dir, rel))
	}
	sort.Strings(conv.Existing)
	conv.NewDirs = len(mkdirs)
	conv.Files = len(renames)
	conv.Examples = examples(c, s, members)
	conv.Server = serverAdvice(c, s)
	return conv, append(mkdirs, renames...), problems
}

// MainDomainPlaceholder stands for the server's Main Domain name in the
// spot-check commands: the store on disk does not record it.
const MainDomainPlaceholder = "<main-domain>"

// examples picks up to three members spread over the sorted list (first,
// middle, last) for the administrator's spot check.
func examples(c Container, s layout.Scheme, members []Member) []Example {
	var idx []int
	switch n := len(members); {
	case n == 0:
		return nil
	case n <= 3:
		for i := range members {
			idx = append(idx, i)
		}
	default:
		idx = []int{0, n / 2, n - 1}
	}
	var out []Example
	for _, i := range idx {
		m := members[i]
		ex := Example{Name: m.Name, NewPath: path.Join(append(s.Dirs(m.Name), path.Base(m.Entries[0].Name))...)}
		if c.Entity == EntityAccounts {
			ex.Address = m.Name + "@" + c.Domain
			if c.Domain == layout.MainDomainName {
				// The store does not say the Main Domain's name.
				ex.Address = m.Name + "@" + MainDomainPlaceholder
			}
		}
		out = append(out, ex)
	}
	return out
}

// serverAdvice says what the administrator changes on the server so that
// it looks for accounts (or domains) where the conversion puts them.
func serverAdvice(c Container, s layout.Scheme) string {
	var b strings.Builder
	what := "the account storage of domain " + c.Domain
	if c.Domain == layout.MainDomainName {
		what = "the account storage of the Main Domain (Accounts/)"
	}
	if c.Entity == EntityDomains {
		what = "the server's domain storage (Domains/)"
	}
	switch s.Kind {
	case "prefix":
		fmt.Fprintf(&b, "Set %s to subdirectories, %d level(s), each named after the next leading letter of the name with the suffix %s (scheme %s).",
			what, s.N, layout.SubSuffix, s)
	default:
		fmt.Fprintf(&b, "Set %s to subdirectories in %d hashed buckets (scheme %s). The server must compute the same buckets; if it cannot, use a prefix scheme.",
			what, s.N, s)
	}
	b.WriteString(" Stop the server before apply and make the change before restarting it.")
	return b.String()
}
