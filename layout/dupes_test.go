package layout

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// nameSetBytes is what a nameSet allocates for n names: its table of
// 8-byte slots, starting at 64 and doubled at 3/4 full, every size kept
// along the way counted.
func nameSetBytes(n int) uint64 {
	size, total := 64, uint64(64*8)
	for used := 1; used <= n; used++ {
		if 4*used >= 3*size {
			size *= 2
			total += uint64(size * 8)
		}
	}
	return total
}

// An account name at two places in one domain is one account the server
// sees once: it is counted once, reported with both paths as a critical
// finding, and the counts of where entries are stay counts of entries.
func TestDuplicateAccounts(t *testing.T) {
	base := t.TempDir()
	build(t, base, "Settings/",
		"Domains/d.test/ben-peterson.macnt/", "Domains/d.test/ann.macnt/", "Domains/d.test/cy.mbox",
		"Domains/d.test/b.sub/ben-peterson.macnt/INBOX.mbox",
		"Domains/d.test/c.sub/cy.macnt/",
		"Domains/e.test/ben-peterson.macnt/", // another domain: not a duplicate
	)
	for i := range 3000 { // enough names to make the set grow
		build(t, base, fmt.Sprintf("Domains/d.test/u%04d.macnt/", i))
	}
	r, err := Walk(context.Background(), base, WalkOptions{Jobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	d := domainByName(t, r, "d.test")
	if d.Accounts != 3003 || d.Duplicates != 2 || d.FlatAccounts != 3003 || d.SubdirAccounts != 2 || r.Totals.Duplicates != 2 || r.Totals.Accounts != 3004 {
		t.Errorf("d.test: %d accounts, %d duplicates, %d flat, %d in subdirectories; totals %d accounts, %d duplicates",
			d.Accounts, d.Duplicates, d.FlatAccounts, d.SubdirAccounts, r.Totals.Accounts, r.Totals.Duplicates)
	}
	dom := filepath.Join(base, "Domains/d.test")
	want := map[string]string{
		"ben-peterson": dom + "/b.sub/ben-peterson.macnt " + dom + "/ben-peterson.macnt",
		"cy":           dom + "/c.sub/cy.macnt " + dom + "/cy.mbox",
	}
	if len(r.Duplicates) != 2 {
		t.Fatalf("duplicates %+v", r.Duplicates)
	}
	for _, dup := range r.Duplicates {
		paths := []string{dup.First, dup.Second}
		sort.Strings(paths)
		if dup.Domain != "d.test" || strings.Join(paths, " ") != want[dup.Name] {
			t.Errorf("duplicate %+v, want paths %s", dup, want[dup.Name])
		}
	}
	n := 0
	for _, f := range r.Findings {
		if f.ID != RuleDuplicate {
			continue
		}
		n++
		if f.Severity != Critical || !strings.Contains(f.Evidence, dom+"/ben-peterson.macnt") && !strings.Contains(f.Evidence, dom+"/cy.mbox") {
			t.Errorf("finding %+v", f)
		}
	}
	if n != 2 {
		t.Errorf("%d %s findings, want 2: %+v", n, RuleDuplicate, r.Findings)
	}
}

// The set tells many distinct names apart and finds the repeated one.
func TestNameSet(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "a/x.macnt/", "b/x.macnt/")
	var s nameSet
	a, b := s.dirIndex(dir+"/a"), s.dirIndex(dir+"/b")
	for i := range 100000 {
		if p := s.add(fmt.Appendf(nil, "n%d", i), fmt.Appendf(nil, "n%d.macnt", i), a); p != "" {
			t.Fatalf("name %d reported as a duplicate of %s", i, p)
		}
	}
	if p := s.add([]byte("x"), []byte("x.macnt"), a); p != "" {
		t.Fatalf("first x: %s", p)
	}
	if p := s.add([]byte("x"), []byte("x.macnt"), b); p != dir+"/a/x.macnt" {
		t.Fatalf("second x: %q, want %s/a/x.macnt", p, dir)
	}
	if len(s.slots)*3/4 < s.used || s.used*8 < len(s.slots)*3 {
		t.Errorf("%d names in %d slots: outside 3/8 to 3/4 full", s.used, len(s.slots))
	}
}
