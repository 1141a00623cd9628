package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
	"github.com/cgscale/cgscale/layout"
)

// makeStore builds a small store by hand (a server base: Settings/,
// Domains/, Accounts/): one flat domain with n accounts,
// every third a single-mailbox account with its siblings, and a second
// domain that must not be touched.
func makeStore(t *testing.T, root string, n int) string {
	t.Helper()
	base := filepath.Join(root, "store")
	dom := filepath.Join(base, "Domains", "flat.test")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dom, "Settings"), 0o755))
	must(os.MkdirAll(filepath.Join(base, "Settings"), 0o755))
	must(os.MkdirAll(filepath.Join(base, "Domains", "other.test", "bob.macnt"), 0o755))
	must(os.MkdirAll(filepath.Join(base, "Accounts", "postmaster.macnt"), 0o755))
	old := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%c%cuser%03d", 'a'+i%26, 'a'+(i/26)%26, i)
		if i%3 == 0 {
			for _, s := range []string{".mbox", ".settings", ".info"} {
				p := filepath.Join(dom, name+s)
				must(os.WriteFile(p, []byte(name+s), 0o640))
				must(os.Chtimes(p, old, old))
			}
			continue
		}
		a := filepath.Join(dom, name+".macnt")
		must(os.MkdirAll(a, 0o700))
		must(os.WriteFile(filepath.Join(a, "INBOX.mbox"), []byte("From x\n"), 0o600))
		must(os.Chtimes(a, old, old))
	}
	must(os.Chtimes(dom, old, old))
	return base
}

// manifest lists path, size, mode and mtime of everything under base,
// leaving out cgscale's own state (the lock and the journal directory) and
// the base directory's own times, which that state changes.
func manifest(t *testing.T, base string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		if rel == "." {
			return nil
		}
		if strings.HasPrefix(rel, StateDir) || rel == LockFile {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		size := fi.Size()
		if fi.IsDir() {
			size = 0 // directory sizes keep the high-water mark of their entries
		}
		lines = append(lines, fmt.Sprintf("%s %d %v %d", rel, size, fi.Mode(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func planFor(t *testing.T, base, domain, scheme string) *Plan {
	t.Helper()
	s, err := layout.ParseScheme(scheme)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := BuildPlan(context.Background(), base, PlanRequest{Domains: map[string]layout.Scheme{domain: s}}, time.Now())
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if b := p.Blocking(); len(b) > 0 {
		t.Fatalf("plan has blocking problems: %+v", b)
	}
	// Through the file format, as the command does.
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := WritePlan(p, path, nil); err != nil {
		t.Fatal(err)
	}
	q, err := ReadPlan(path)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return q
}

// accountsAt lists, with the walker, where each account of domain is.
func accountsAt(t *testing.T, base, domain string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	ch := make(chan layout.Account, 1024)
	done := make(chan struct{})
	go func() {
		for a := range ch {
			got[a.Name] = append(got[a.Name], a.Rel)
		}
		close(done)
	}()
	_, err := layout.Walk(context.Background(), base, layout.WalkOptions{OnAccount: func(a layout.Account) {
		if a.Domain == domain {
			ch <- a
		}
	}})
	close(ch)
	<-done
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return got
}

func TestApplyAndUndoRoundTrip(t *testing.T) {
	base := makeStore(t, t.TempDir(), 300)
	before := manifest(t, base)
	names := accountsAt(t, base, "flat.test")
	p := planFor(t, base, "flat.test", "prefix:2")
	if len(p.Conversions) != 1 || p.Conversions[0].Entries != 300 || p.Conversions[0].Files != 100*3+200 {
		t.Fatalf("conversion = %+v", p.Conversions)
	}
	res, err := Apply(context.Background(), p, ApplyOptions{Batch: 64})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if res.Rescan == nil || res.Rescan.Checked != 300 || res.Rescan.Flat != 0 {
		t.Fatalf("rescan = %+v", res.Rescan)
	}
	after := accountsAt(t, base, "flat.test")
	if len(after) != len(names) {
		t.Fatalf("%d account names after, %d before", len(after), len(names))
	}
	s, _ := layout.ParseScheme("prefix:2")
	for name, rels := range after {
		if len(rels) != 1 || !strings.HasPrefix(rels[0], strings.Join(s.Dirs(name), "/")+"/") {
			t.Errorf("account %s is at %v", name, rels)
		}
	}
	// Siblings travel with their mailbox.
	if _, err := os.Stat(filepath.Join(base, "Domains/flat.test/a.sub/a.sub/aauser000.settings")); err != nil {
		t.Errorf("sibling did not move: %v", err)
	}
	if manifest(t, base) == before {
		t.Fatal("apply changed nothing")
	}
	if _, err := UndoApply(context.Background(), p, ApplyOptions{}); err != nil {
		t.Fatalf("undo: %v", err)
	}
	if got := manifest(t, base); got != before {
		t.Fatalf("undo did not restore the tree:\n%s", firstDiff(before, got))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "before: " + al[i] + "\nafter:  " + bl[i]
		}
	}
	return fmt.Sprintf("%d lines before, %d after", len(al), len(bl))
}

// stopAfter is a context that reports cancellation once n operations are
// done: an interruption at an exact point, between two renames.
type stopAfter struct {
	context.Context
	cnt *ApplyCounters
	n   int64
}

func (s stopAfter) Err() error {
	if s.cnt.Done.Load() >= s.n {
		return context.Canceled
	}
	return nil
}

func interrupted(t *testing.T, p *Plan, n int64) {
	t.Helper()
	var cnt ApplyCounters
	_, err := Apply(stopAfter{context.Background(), &cnt, n}, p, ApplyOptions{Batch: 50, Counters: &cnt})
	if errs.KindOf(err) != errs.Interrupted {
		t.Fatalf("apply stopped after %d: err = %v, want interrupted", n, err)
	}
}

func TestResumeFinishesInterruptedApply(t *testing.T) {
	for _, n := range []int64{1, 77, 150, 200} {
		t.Run(strconv.Itoa(int(n)), func(t *testing.T) {
			base := makeStore(t, t.TempDir(), 120)
			p := planFor(t, base, "flat.test", "prefix:1")
			interrupted(t, p, n)
			// A new apply is refused while the run is unfinished.
			if _, err := Apply(context.Background(), p, ApplyOptions{}); errs.KindOf(err) != errs.Refused {
				t.Fatalf("second apply: %v, want refused", err)
			}
			res, err := ResumeApply(context.Background(), p, ApplyOptions{Batch: 50})
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if res.Rescan.Checked != 120 {
				t.Fatalf("rescan = %+v", res.Rescan)
			}
			for name, rels := range accountsAt(t, base, "flat.test") {
				if len(rels) != 1 || !strings.HasPrefix(rels[0], strings.ToLower(name[:1])+".sub/") {
					t.Errorf("%s at %v", name, rels)
				}
			}
			if _, err := ResumeApply(context.Background(), p, ApplyOptions{}); errs.KindOf(err) != errs.Refused {
				t.Fatalf("resume of a finished run: %v, want refused", err)
			}
		})
	}
}

func TestUndoOfInterruptedApply(t *testing.T) {
	base := makeStore(t, t.TempDir(), 120)
	before := manifest(t, base)
	p := planFor(t, base, "flat.test", "prefix:2")
	interrupted(t, p, 133)
	if _, err := UndoApply(context.Background(), p, ApplyOptions{}); err != nil {
		t.Fatalf("undo: %v", err)
	}
	if got := manifest(t, base); got != before {
		t.Fatalf("undo did not restore the tree:\n%s", firstDiff(before, got))
	}
	if _, err := UndoApply(context.Background(), p, ApplyOptions{}); errs.KindOf(err) != errs.Refused {
		t.Fatalf("second undo: %v, want refused", err)
	}
}

// refusedUnchanged applies p and checks it is refused with a message
// containing want, and that the store is unchanged.
func refusedUnchanged(t *testing.T, base string, p *Plan, opt ApplyOptions, want string) {
	t.Helper()
	before := manifest(t, base)
	_, err := Apply(context.Background(), p, opt)
	if errs.KindOf(err) != errs.Refused {
		t.Fatalf("apply: %v (kind %v), want refused", err, errs.KindOf(err))
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message %q does not name %q", err, want)
	}
	if got := manifest(t, base); got != before {
		t.Fatalf("a refused apply changed the store:\n%s", firstDiff(before, got))
	}
}

func TestApplyRefusals(t *testing.T) {
	t.Run("source modified", func(t *testing.T) {
		base := makeStore(t, t.TempDir(), 30)
		p := planFor(t, base, "flat.test", "prefix:1")
		victim := filepath.Join(base, "Domains/flat.test/bauser001.macnt")
		if err := os.Chtimes(victim, time.Now(), time.Now()); err != nil {
			t.Fatal(err)
		}
		refusedUnchanged(t, base, p, ApplyOptions{}, "bauser001.macnt")
	})
	t.Run("account added", func(t *testing.T) {
		base := makeStore(t, t.TempDir(), 30)
		p := planFor(t, base, "flat.test", "prefix:1")
		if err := os.Mkdir(filepath.Join(base, "Domains/flat.test/newcomer.macnt"), 0o700); err != nil {
			t.Fatal(err)
		}
		refusedUnchanged(t, base, p, ApplyOptions{}, "flat.test")
	})
	t.Run("target exists", func(t *testing.T) {
		base := makeStore(t, t.TempDir(), 30)
		p := planFor(t, base, "flat.test", "prefix:1")
		// Created outside the domain directory's own listing: its mtime
		// is put back, so only the target check can catch it.
		dom := filepath.Join(base, "Domains/flat.test")
		fi, _ := os.Stat(dom)
		if err := os.MkdirAll(filepath.Join(dom, "b.sub", "bauser001.macnt"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(dom, fi.ModTime(), fi.ModTime())
		refusedUnchanged(t, base, p, ApplyOptions{}, "b.sub")
	})
	t.Run("server running", func(t *testing.T) {
		base := makeStore(t, t.TempDir(), 10)
		p := planFor(t, base, "flat.test", "prefix:1")
		if err := os.WriteFile(filepath.Join(base, layout.ProcessIDFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			t.Fatal(err)
		}
		refusedUnchanged(t, base, p, ApplyOptions{}, "running")
		if _, err := Apply(context.Background(), p, ApplyOptions{Force: true}); err != nil {
			t.Fatalf("apply --force: %v", err)
		}
	})
	t.Run("lock held", func(t *testing.T) {
		base := makeStore(t, t.TempDir(), 10)
		p := planFor(t, base, "flat.test", "prefix:1")
		l, err := Lock(base)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		refusedUnchanged(t, base, p, ApplyOptions{}, "another cgscale process")
	})
	t.Run("another store at the path", func(t *testing.T) {
		root := t.TempDir()
		base := makeStore(t, root, 10)
		p := planFor(t, base, "flat.test", "prefix:1")
		if err := os.Rename(base, base+".orig"); err != nil {
			t.Fatal(err)
		}
		if err := exec.Command("cp", "-a", base+".orig", base).Run(); err != nil {
			t.Fatal(err)
		}
		refusedUnchanged(t, base, p, ApplyOptions{}, "another store")
	})
	t.Run("collision at plan time", func(t *testing.T) {
		base := makeStore(t, t.TempDir(), 10)
		if err := os.MkdirAll(filepath.Join(base, "Domains/flat.test/b.sub/bauser001.macnt"), 0o700); err != nil {
			t.Fatal(err)
		}
		s, _ := layout.ParseScheme("prefix:1")
		p, _, err := BuildPlan(context.Background(), base, PlanRequest{Domains: map[string]layout.Scheme{"flat.test": s}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Blocking()) != 1 || p.Blocking()[0].Code != "collision" {
			t.Fatalf("problems = %+v", p.Problems)
		}
		refusedUnchanged(t, base, p, ApplyOptions{}, "b.sub/bauser001.macnt")
	})
}

func TestApplyRefusesReadOnlyStore(t *testing.T) {
	vol := testfs.Mount(t, 16, "tmpfs")
	base := makeStore(t, vol, 10)
	p := planFor(t, base, "flat.test", "prefix:1")
	if out, err := exec.Command("mount", "-o", "remount,ro", vol).CombinedOutput(); err != nil {
		testfs.Unavailable(t, "cannot remount %s read-only (needs root): %v %s", vol, err, out)
	}
	defer exec.Command("mount", "-o", "remount,rw", vol).Run()
	refusedUnchanged(t, base, p, ApplyOptions{}, "read-only")
}

func TestReadPlanRejects(t *testing.T) {
	base := makeStore(t, t.TempDir(), 5)
	good := planFor(t, base, "flat.test", "prefix:1")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	enc := func(p *Plan) []byte {
		b, _ := json.Marshal(p)
		return b
	}
	edited := *good
	edited.Ops = append([]Op(nil), good.Ops...)
	edited.Ops[len(edited.Ops)-1].Target = "Domains/flat.test/z.sub/elsewhere.macnt"
	resealed := edited
	if err := resealed.Seal(); err != nil {
		t.Fatal(err)
	}
	other := *good
	other.Schema = "cgscale.plan/v9"
	cases := map[string]struct {
		data []byte
		want string
	}{
		"not json":      {[]byte("hello\n"), "not a cgscale plan"},
		"other json":    {[]byte(`{"schema":"cgscale.scan/v1"}`), "not a cgscale plan"},
		"other version": {enc(&other), "version"},
		"hand edited":   {enc(&edited), "checksum"},
		"inconsistent":  {enc(&resealed), "should be"},
	}
	for name, c := range cases {
		_, err := ReadPlan(write(strings.ReplaceAll(name, " ", "_")+".json", c.data))
		if errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v (kind %v), want bad input naming %q", name, err, errs.KindOf(err), c.want)
		}
	}
	if _, err := ReadPlan(filepath.Join(dir, "missing.json")); errs.KindOf(err) != errs.BadInput {
		t.Errorf("missing file: %v", err)
	}
	var e *errs.E
	if _, err := ReadPlan(write("x.json", []byte("{}"))); !errors.As(err, &e) || e.Hint == "" {
		t.Errorf("no hint: %v", err)
	}
}

// Account names are bytes: one that is not valid UTF-8 and one holding a
// newline go through plan file, apply and undo exactly, and the plan file
// says which encoding it used.
func TestOddNamesRoundTripThroughPlanFile(t *testing.T) {
	base := makeStore(t, t.TempDir(), 20)
	dom := filepath.Join(base, "Domains", "flat.test")
	odd := []string{"caf\xe9", "new\nline", "\xff\xfeboth"}
	for _, n := range odd {
		if err := os.MkdirAll(filepath.Join(dom, n+".macnt"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dom, n+".macnt", "INBOX.mbox"), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := manifest(t, base)
	s, _ := layout.ParseScheme("prefix:1")
	p, _, err := BuildPlan(context.Background(), base, PlanRequest{Domains: map[string]layout.Scheme{"flat.test": s}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := WritePlan(p, path, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(`\ufffd`)) || !bytes.Contains(data, []byte(`"b64": "`)) || !bytes.Contains(data, []byte(`new\nline.macnt`)) {
		t.Fatalf("plan file does not keep the names exactly:\n%s", data)
	}
	q, err := ReadPlan(path)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if _, err := Apply(context.Background(), q, ApplyOptions{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, n := range odd {
		want := filepath.Join(dom, s.Dirs(n)[0], n+".macnt", "INBOX.mbox")
		if _, err := os.Stat(want); err != nil {
			t.Errorf("%q not converted: %v", n, err)
		}
		if _, err := os.Lstat(filepath.Join(dom, n+".macnt")); err == nil {
			t.Errorf("%q still flat", n)
		}
	}
	if _, err := UndoApply(context.Background(), q, ApplyOptions{}); err != nil {
		t.Fatalf("undo: %v", err)
	}
	if got := manifest(t, base); got != before {
		t.Fatalf("undo did not restore the tree:\n%s", firstDiff(before, got))
	}
}
