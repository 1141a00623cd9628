package layout

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
)

// build makes a tree under root: "a/b/" is a directory, "a/f" an empty
// file, "a/l -> target" a symbolic link.
func build(t testing.TB, root string, spec ...string) {
	t.Helper()
	for _, s := range spec {
		p := filepath.Join(root, s)
		var err error
		switch {
		case strings.Contains(s, " -> "):
			name, target, _ := strings.Cut(s, " -> ")
			p = filepath.Join(root, name)
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(target, p)
			}
		case strings.HasSuffix(s, "/"):
			err = os.MkdirAll(p, 0o755)
		default:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.WriteFile(p, []byte(s), 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// sampleStore is a small store with one domain of each shape.
func sampleStore(t testing.TB, root string) {
	build(t, root,
		"ProcessID", "Settings/Main.settings", "Queue/1.msg", "Queue/2.msg", "Queue/3.msg", "Queue/4.msg", "Queue/5.msg", "Queue/6.msg",
		"Accounts/postmaster.macnt/INBOX.mbox", "Accounts/postmaster.macnt/account.settings",
		// flat, with single-mailbox accounts and their siblings
		"Domains/flat.test/Settings/Aliases.data",
		"Domains/flat.test/a1.macnt/INBOX.mbox", "Domains/flat.test/a2.macnt/INBOX.mbox", "Domains/flat.test/a3.macnt/INBOX.mbox",
		"Domains/flat.test/old.mbox", "Domains/flat.test/old.settings", "Domains/flat.test/old.info",
		"Domains/flat.test/a1.macnt/Big.mdir/1.msg", "Domains/flat.test/a1.macnt/Big.mdir/2.msg",
		// prefix:1, with one account in the wrong subdirectory
		"Domains/p1.test/j.sub/jsmith.macnt/INBOX.mbox", "Domains/p1.test/j.sub/jones.macnt/",
		"Domains/p1.test/k.sub/kim.macnt/", "Domains/p1.test/k.sub/lee.macnt/",
		// prefix:2
		"Domains/p2.test/j.sub/s.sub/jsmith.macnt/", "Domains/p2.test/a.sub/l.sub/alice.mbox",
		// hash:4 (buckets from Scheme.Dirs)
		"Domains/h4.test/"+hashDir(4, "jsmith")+"/jsmith.macnt/", "Domains/h4.test/"+hashDir(4, "alice")+"/alice.macnt/",
		"Domains/h4.test/"+hashDir(4, "bob")+"/bob.macnt/", "Domains/h4.test/"+hashDir(4, "carol")+"/carol.macnt/",
		"Domains/h4.test/"+hashDir(4, "dave")+"/dave.macnt/", "Domains/h4.test/"+hashDir(4, "erin")+"/erin.macnt/",
		"Domains/h4.test/"+hashDir(4, "frank")+"/frank.macnt/", "Domains/h4.test/"+hashDir(4, "grace")+"/grace.macnt/",
		// half converted
		"Domains/mixed.test/m.sub/mia.macnt/", "Domains/mixed.test/noah.macnt/",
		// a storage mount point
		"Domains/mnt.test/vol1.mnt/zed.macnt/", "Domains/mnt.test/yan.macnt/",
		// domain subdirectories
		"Domains/e.sub/example.test/u1.macnt/",
		"Domains/empty.test/",
	)
}

func hashDir(n int, name string) string { return Scheme{Kind: "hash", N: n}.Dirs(name)[0] }

func domainByName(t *testing.T, r *Report, name string) DomainReport {
	t.Helper()
	for _, d := range r.Domains {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("domain %s not in report", name)
	return DomainReport{}
}

func walkOK(t *testing.T, base string, opt WalkOptions) *Report {
	t.Helper()
	r, err := Walk(context.Background(), base, opt)
	if err != nil {
		t.Fatalf("Walk(%s): %v", base, err)
	}
	return r
}

// independentCounts counts directories and names below root with the
// standard library, for comparison.
func independentCounts(t *testing.T, root string) (dirs, entries int64) {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			entries++
		}
		if d.IsDir() {
			dirs++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs, entries
}

func TestWalkSampleStore(t *testing.T) {
	base := t.TempDir()
	sampleStore(t, base)
	r := walkOK(t, base, WalkOptions{Jobs: 3})

	if r.Schema != Schema || !r.Complete || r.Base != base {
		t.Errorf("schema %q complete %v base %q", r.Schema, r.Complete, r.Base)
	}
	dirs, entries := independentCounts(t, base)
	if r.Totals.Directories != dirs || r.Totals.Entries != entries {
		t.Errorf("totals: %d directories, %d entries; filepath.WalkDir counts %d, %d", r.Totals.Directories, r.Totals.Entries, dirs, entries)
	}
	want := map[string]struct {
		accounts int64
		storage  string
		levels   []int
		scheme   string
	}{
		MainDomainName: {1, "flat", []int{}, ""},
		"flat.test":    {4, "flat", []int{}, ""},
		"p1.test":      {4, "subdirectories", []int{1}, "prefix:1"},
		"p2.test":      {2, "subdirectories", []int{2}, "prefix:2"},
		"h4.test":      {8, "subdirectories", []int{1}, "hash:4"}, // 0.sub..3.sub: where the accounts are says hash
		"mixed.test":   {2, "mixed", []int{1}, "prefix:1"},
		"mnt.test":     {2, "flat", []int{}, ""},
		"example.test": {1, "flat", []int{}, ""},
		"empty.test":   {0, "empty", []int{}, ""},
	}
	if len(r.Domains) != len(want) || r.Totals.Domains != int64(len(want)) {
		t.Errorf("%d domains (totals %d), want %d", len(r.Domains), r.Totals.Domains, len(want))
	}
	var total int64
	for name, w := range want {
		d := domainByName(t, r, name)
		if d.Accounts != w.accounts || d.Storage != w.storage || !reflect.DeepEqual(d.Levels, w.levels) || d.Scheme != w.scheme {
			t.Errorf("%s: %d accounts, %s, levels %v, scheme %q; want %d, %s, %v, %q", name, d.Accounts, d.Storage, d.Levels, d.Scheme, w.accounts, w.storage, w.levels, w.scheme)
		}
		if r.AccountsPerDomain[name] != w.accounts {
			t.Errorf("accounts_per_domain[%s] = %d, want %d", name, r.AccountsPerDomain[name], w.accounts)
		}
		total += w.accounts
	}
	if r.Totals.Accounts != total {
		t.Errorf("total accounts %d, want %d", r.Totals.Accounts, total)
	}
	if r.Domains[0].Name != MainDomainName {
		t.Errorf("the Main Domain must come first, got %s", r.Domains[0].Name)
	}
	p1 := domainByName(t, r, "p1.test")
	if p1.Misplaced != 1 || !reflect.DeepEqual(p1.MisplacedExamples, []string{"k.sub/lee.macnt"}) {
		t.Errorf("p1.test misplaced %d %v, want 1 [k.sub/lee.macnt]", p1.Misplaced, p1.MisplacedExamples)
	}
	if d := domainByName(t, r, "mnt.test"); d.MntAccounts != 1 || d.FlatAccounts != 1 {
		t.Errorf("mnt.test: %d in mount points, %d flat; want 1, 1", d.MntAccounts, d.FlatAccounts)
	}
	for _, n := range []string{"h4.test", "p2.test"} {
		if d := domainByName(t, r, n); d.Misplaced != 0 {
			t.Errorf("%s: %d misplaced (%v), want 0", n, d.Misplaced, d.MisplacedExamples)
		}
	}
	if d := domainByName(t, r, "flat.test"); d.Largest.Path != filepath.Join(base, "Domains/flat.test") || d.Largest.Entries != 7 {
		t.Errorf("flat.test largest %+v, want the domain directory with 7 entries", d.Largest)
	}
	wantTop := []DirCount{
		{filepath.Join(base, "Domains"), 8, KindDomains},
		{filepath.Join(base, "Domains/flat.test"), 7, KindDomain},
		{filepath.Join(base, "Queue"), 6, KindQueue},
		{base, 5, KindBase},
	}
	if !reflect.DeepEqual(r.TopDirs[:4], wantTop) || len(r.TopDirs) != DefaultTopN {
		t.Errorf("largest directories %+v, want %d starting with %+v", r.TopDirs, DefaultTopN, wantTop)
	}
	foundMdir := false
	for _, d := range r.TopDirs {
		foundMdir = foundMdir || (d.Kind == KindMailboxDir && d.Entries == 2)
	}
	if !foundMdir {
		t.Errorf("the mailbox directory is not among the largest directories: %+v", r.TopDirs)
	}
	ids := findingIDs(r)
	for _, id := range []string{RuleMisplaced, RuleMixedStorage} {
		if !ids[id] {
			t.Errorf("finding %s missing: %+v", id, r.Findings)
		}
	}
	if ids[RuleFlatTooLarge] || ids[RuleTooManyDomain] || ids[RuleUnreadable] {
		t.Errorf("unexpected findings: %+v", r.Findings)
	}

	// Same tree, one reader or many: the same report.
	r1 := walkOK(t, base, WalkOptions{Jobs: 1})
	r1.ElapsedMS, r.ElapsedMS = 0, 0
	if !reflect.DeepEqual(r1, r) {
		t.Errorf("--jobs 1 and --jobs 3 differ:\n%+v\n%+v", r1, r)
	}
}

func findingIDs(r *Report) map[string]bool {
	ids := map[string]bool{}
	for _, f := range r.Findings {
		ids[f.ID] = true
		if f.Evidence == "" || f.Next == "" || f.Subject == "" || f.Severity == "" {
			panic(fmt.Sprintf("finding without evidence, next, subject or severity: %+v", f))
		}
	}
	return ids
}

func TestWalkThresholds(t *testing.T) {
	base := t.TempDir()
	sampleStore(t, base)
	r := walkOK(t, base, WalkOptions{MaxFlatAccounts: 4, MaxDomains: 7})
	var subjects []string
	for _, f := range r.Findings {
		if f.ID == RuleFlatTooLarge || f.ID == RuleTooManyDomain {
			subjects = append(subjects, f.ID+" "+strings.TrimPrefix(f.Subject, base))
		}
	}
	sort.Strings(subjects)
	want := []string{"CGS001 /Domains/flat.test", "CGS001 /Domains/h4.test/3.sub", "CGS002 /Domains"}
	if !reflect.DeepEqual(subjects, want) {
		t.Errorf("threshold findings %v, want %v", subjects, want)
	}
}

func TestWalkOnAccount(t *testing.T) {
	base := t.TempDir()
	sampleStore(t, base)
	var mu sync.Mutex
	var got []string
	walkOK(t, base, WalkOptions{Jobs: 4, OnAccount: func(a Account) {
		if a.Path != a.DomainPath+"/"+a.Rel {
			t.Errorf("account path %q is not domain path %q + rel %q", a.Path, a.DomainPath, a.Rel)
		}
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %s %s %s mnt=%v", a.Domain, a.Rel, a.Name, a.Kind, a.InMnt))
		mu.Unlock()
	}})
	sort.Strings(got)
	want := []string{
		"(main) postmaster.macnt postmaster account mnt=false",
		"example.test u1.macnt u1 account mnt=false",
		"flat.test a1.macnt a1 account mnt=false",
		"flat.test a2.macnt a2 account mnt=false",
		"flat.test a3.macnt a3 account mnt=false",
		"flat.test old.mbox old mbox-account mnt=false",
		"mixed.test m.sub/mia.macnt mia account mnt=false",
		"mixed.test noah.macnt noah account mnt=false",
		"mnt.test vol1.mnt/zed.macnt zed account mnt=true",
		"mnt.test yan.macnt yan account mnt=false",
		"p1.test j.sub/jones.macnt jones account mnt=false",
		"p1.test j.sub/jsmith.macnt jsmith account mnt=false",
		"p1.test k.sub/kim.macnt kim account mnt=false",
		"p1.test k.sub/lee.macnt lee account mnt=false",
		"p2.test a.sub/l.sub/alice.mbox alice mbox-account mnt=false",
		"p2.test j.sub/s.sub/jsmith.macnt jsmith account mnt=false",
	}
	for _, n := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "jsmith"} {
		want = append(want, fmt.Sprintf("h4.test %s/%s.macnt %s account mnt=false", hashDir(4, n), n, n))
	}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("OnAccount saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWalkBadBase(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "file", "notastore/Queue/")
	for _, c := range []struct{ base, want string }{
		{filepath.Join(dir, "missing"), "no such directory"},
		{filepath.Join(dir, "file"), "not a directory"},
		{filepath.Join(dir, "notastore"), "not a CommuniGate Pro store"},
	} {
		r, err := Walk(context.Background(), c.base, WalkOptions{})
		if r != nil || errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.base) || errs.HintOf(err) == "" {
			t.Errorf("Walk(%s) = %v, %v; want a bad-input error naming the path, saying %q, with a hint", c.base, r, err, c.want)
		}
	}
}

func TestWalkSizes(t *testing.T) {
	base := t.TempDir()
	sampleStore(t, base)
	build(t, base, "Domains/flat.test/a2.macnt/big.data")
	if err := os.Truncate(filepath.Join(base, "Domains/flat.test/a2.macnt/big.data"), 3<<20); err != nil {
		t.Fatal(err)
	}
	var size int64
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if p != base {
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			size += fi.Size()
		}
		return nil
	})
	r := walkOK(t, base, WalkOptions{Sizes: true})
	if r.Totals.Bytes != size {
		t.Errorf("bytes %d, want %d (sum of lstat sizes)", r.Totals.Bytes, size)
	}
	if d := domainByName(t, r, "flat.test"); d.Bytes < 3<<20 {
		t.Errorf("flat.test holds %d bytes, want at least 3 MiB", d.Bytes)
	}
	if r2 := walkOK(t, base, WalkOptions{}); r2.Totals.Bytes != 0 || r2.Sizes {
		t.Errorf("without Sizes the report has %d bytes", r2.Totals.Bytes)
	}
}

// modesAndTimes lists every path under root with its mode, size and mtime
// (gen_test.go's manifest compares contents; this catches any write,
// even one that restores the contents).
func modesAndTimes(t *testing.T, root string) []string {
	var m []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		m = append(m, fmt.Sprintf("%s %v %d %d", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	return m
}

func TestWalkWritesNothing(t *testing.T) {
	base := t.TempDir()
	sampleStore(t, base)
	build(t, base, "Domains/flat.test/dangling.sub -> /nonexistent/cgscale")
	before := modesAndTimes(t, base)
	walkOK(t, base, WalkOptions{Sizes: true})
	walkOK(t, base, WalkOptions{Jobs: 1})
	if after := modesAndTimes(t, base); !reflect.DeepEqual(before, after) {
		t.Errorf("the walk changed the store:\nbefore %v\nafter  %v", before, after)
	}
}

// A store mounted read-only (and one whose modes deny writing) scans the
// same as the writable original.
func TestWalkReadOnlyStore(t *testing.T) {
	base := t.TempDir()
	sampleStore(t, base)
	want := walkOK(t, base, WalkOptions{})
	if os.Geteuid() != 0 {
		testfs.Unavailable(t, "a read-only bind mount needs root: run the tests as root (CI does)")
	}
	ro := t.TempDir()
	for _, args := range [][]string{{"--bind", base, ro}, {"-o", "remount,bind,ro", ro}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("umount", ro).Run() })
	if err := os.WriteFile(filepath.Join(ro, "probe"), nil, 0o644); err == nil {
		t.Fatal("the bind mount is writable")
	}
	if out, err := exec.Command("chmod", "-R", "a-w", base).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", base).Run() })
	got := walkOK(t, ro, WalkOptions{Sizes: true})
	if got.Totals.Accounts != want.Totals.Accounts || got.Totals.Entries != want.Totals.Entries || got.Totals.Directories != want.Totals.Directories || !got.Complete {
		t.Errorf("read-only store: %+v; writable: %+v", got.Totals, want.Totals)
	}
}
