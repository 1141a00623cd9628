package migrate

import (
	"strings"
	"testing"

	"github.com/cgscale/cgscale/layout"
)

func member(name string, files ...string) Member {
	m := Member{Name: name}
	for i, f := range files {
		m.Entries = append(m.Entries, Entry{Name: f, Dev: 7, Ino: uint64(100 + i + len(name)*10), MtimeNS: 1})
	}
	return m
}

func TestBuildConversion(t *testing.T) {
	p1, _ := layout.ParseScheme("prefix:1")
	p2, _ := layout.ParseScheme("prefix:2")
	h4, _ := layout.ParseScheme("hash:4")
	dom := "Domains/example.com"
	cases := []struct {
		name      string
		scheme    layout.Scheme
		members   []Member
		present   map[string]bool
		wantOps   []string // "op target" (renames as "source>target")
		wantProbs []string // "code path"
		wantDirs  int
	}{
		{
			name:    "macnt accounts, one level",
			scheme:  p1,
			members: []Member{member("jsmith", "jsmith.macnt"), member("Jane", "Jane.macnt"), member("bob", "bob.macnt")},
			wantOps: []string{
				"mkdir Domains/example.com/b.sub", "mkdir Domains/example.com/j.sub",
				"Domains/example.com/Jane.macnt>Domains/example.com/j.sub/Jane.macnt",
				"Domains/example.com/bob.macnt>Domains/example.com/b.sub/bob.macnt",
				"Domains/example.com/jsmith.macnt>Domains/example.com/j.sub/jsmith.macnt",
			},
			wantDirs: 2,
		},
		{
			name:    "single-mailbox account moves with its siblings",
			scheme:  p2,
			members: []Member{member("al", "al.mbox", "al.settings", "al.info")},
			wantOps: []string{
				"mkdir Domains/example.com/a.sub", "mkdir Domains/example.com/a.sub/l.sub",
				"Domains/example.com/al.mbox>Domains/example.com/a.sub/l.sub/al.mbox",
				"Domains/example.com/al.settings>Domains/example.com/a.sub/l.sub/al.settings",
				"Domains/example.com/al.info>Domains/example.com/a.sub/l.sub/al.info",
			},
			wantDirs: 2,
		},
		{
			name:    "short and unsafe names follow the scheme's rule",
			scheme:  p2,
			members: []Member{member("x", "x.macnt"), member("-dash", "-dash.macnt")},
			wantOps: []string{
				"mkdir Domains/example.com/_.sub", "mkdir Domains/example.com/_.sub/d.sub",
				"mkdir Domains/example.com/x.sub", "mkdir Domains/example.com/x.sub/_.sub",
				"Domains/example.com/-dash.macnt>Domains/example.com/_.sub/d.sub/-dash.macnt",
				"Domains/example.com/x.macnt>Domains/example.com/x.sub/_.sub/x.macnt",
			},
			wantDirs: 4,
		},
		{
			name:    "existing subdirectory is reused, not created",
			scheme:  p1,
			members: []Member{member("jsmith", "jsmith.macnt")},
			present: map[string]bool{"j.sub": true, "j.sub/jones.macnt": true},
			wantOps: []string{
				"Domains/example.com/jsmith.macnt>Domains/example.com/j.sub/jsmith.macnt",
			},
		},
		{
			name:      "target that exists is a blocking collision",
			scheme:    p1,
			members:   []Member{member("jsmith", "jsmith.macnt"), member("kim", "kim.macnt")},
			present:   map[string]bool{"j.sub": true, "j.sub/jsmith.macnt": true},
			wantOps:   []string{"mkdir Domains/example.com/k.sub", "Domains/example.com/kim.macnt>Domains/example.com/k.sub/kim.macnt"},
			wantProbs: []string{"collision Domains/example.com/j.sub/jsmith.macnt"},
			wantDirs:  1,
		},
		{
			name:      "a file where a subdirectory must go is a collision",
			scheme:    p1,
			members:   []Member{member("jsmith", "jsmith.macnt")},
			present:   map[string]bool{"j.sub": false},
			wantProbs: []string{"collision Domains/example.com/j.sub"},
		},
		{
			name:    "hash buckets",
			scheme:  h4,
			members: []Member{member("jsmith", "jsmith.macnt")},
			wantOps: []string{
				"mkdir Domains/example.com/" + h4.Dirs("jsmith")[0],
				"Domains/example.com/jsmith.macnt>Domains/example.com/" + h4.Dirs("jsmith")[0] + "/jsmith.macnt",
			},
			wantDirs: 1,
		},
		{
			name:      "unreadable account is noted, still renamed",
			scheme:    p1,
			members:   []Member{{Name: "zed", Entries: []Entry{{Name: "zed.macnt", Ino: 9}}, Unreadable: "permission denied"}},
			wantOps:   []string{"mkdir Domains/example.com/z.sub", "Domains/example.com/zed.macnt>Domains/example.com/z.sub/zed.macnt"},
			wantProbs: []string{"unreadable Domains/example.com/zed.macnt"},
			wantDirs:  1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conv, ops, probs := BuildConversion(Container{Dir: dom, Domain: "example.com", Entity: EntityAccounts, Members: c.members, Present: c.present}, c.scheme)
			var got []string
			for _, op := range ops {
				if op.Op == OpMkdir {
					got = append(got, "mkdir "+op.Target)
				} else {
					got = append(got, op.Source+">"+op.Target)
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.wantOps, "\n") {
				t.Errorf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.wantOps, "\n"))
			}
			var gotP []string
			for _, p := range probs {
				gotP = append(gotP, p.Code+" "+p.Path)
				if p.Code == "collision" && !p.Blocking {
					t.Errorf("collision %s is not blocking", p.Path)
				}
			}
			if strings.Join(gotP, "\n") != strings.Join(c.wantProbs, "\n") {
				t.Errorf("problems: %q, want %q", gotP, c.wantProbs)
			}
			if conv.NewDirs != c.wantDirs {
				t.Errorf("NewDirs = %d, want %d", conv.NewDirs, c.wantDirs)
			}
			if conv.Files != len(ops)-c.wantDirs {
				t.Errorf("Files = %d, want %d", conv.Files, len(ops)-c.wantDirs)
			}
		})
	}
}

func TestExamplesAndServerAdvice(t *testing.T) {
	p2, _ := layout.ParseScheme("prefix:2")
	var ms []Member
	for _, n := range []string{"adam", "bert", "carl", "dora", "emil"} {
		ms = append(ms, member(n, n+".macnt"))
	}
	conv, _, _ := BuildConversion(Container{Dir: "Domains/ex.org", Domain: "ex.org", Entity: EntityAccounts, Members: ms}, p2)
	want := []Example{{"adam", "adam@ex.org", "a.sub/d.sub/adam.macnt"}, {"carl", "carl@ex.org", "c.sub/a.sub/carl.macnt"}, {"emil", "emil@ex.org", "e.sub/m.sub/emil.macnt"}}
	if len(conv.Examples) != 3 {
		t.Fatalf("examples = %v", conv.Examples)
	}
	for i := range want {
		if conv.Examples[i] != want[i] {
			t.Errorf("example %d = %+v, want %+v", i, conv.Examples[i], want[i])
		}
	}
	if !strings.Contains(conv.Server, "ex.org") || !strings.Contains(conv.Server, "2 level") {
		t.Errorf("server advice does not name the domain and the levels: %q", conv.Server)
	}
}
