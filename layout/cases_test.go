package layout

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
)

// c04Tree is the C04 recipe in the store's layout: one account with a
// mailbox, and one account that is a relative link to a directory
// elsewhere on the same volume.
func c04Tree(t *testing.T, base string) {
	build(t, base,
		"Domains/example.test/acct0001.macnt/INBOX.mdir/1.msg",
		"Domains/example.test/acct0001.macnt/account.settings",
		"Domains/example.test/single.mbox", "Domains/example.test/single.settings",
		"Domains/example.test/j.sub/jo.macnt/",
		"elsewhere/acct0002.macnt/INBOX.mbox",
		"Domains/example.test/acct0002.macnt -> ../../elsewhere/acct0002.macnt",
		"Accounts/postmaster.macnt/",
	)
}

func accountList(t *testing.T, base string) (*Report, []string) {
	var mu sync.Mutex
	var got []string
	r := walkOK(t, base, WalkOptions{Jobs: 2, OnAccount: func(a Account) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %s link=%v", a.Domain, a.Rel, a.Link))
		mu.Unlock()
	}})
	sort.Strings(got)
	return r, got
}

// lsCount is `ls -f DIR | wc -l` minus the two dot entries.
func lsCount(t *testing.T, dir string) int64 {
	out, err := exec.Command("sh", "-c", `ls -f "$1" | wc -l`, "sh", dir).Output()
	if err != nil {
		t.Fatalf("ls -f %s: %v", dir, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n - 2
}

// C04: a filesystem whose readdir gives DT_UNKNOWN for every entry
// (ext4 made with -O ^filetype) must give the same inventory as plain
// ext4, keep a linked account a link (the fallback is lstat, never stat),
// count every entry (ls -f agrees), and say that the filesystem gives no
// types. XFS with ftype=0 would be the other real case, but this kernel
// refuses to mount XFS v4; the zero-inode half of C04 (FUSE) is pinned by
// TestParseDirentsKeepsZeroInodeAndUnknownType.
func TestC04NoEntryTypes(t *testing.T) {
	plain := testfs.Scratch(t, "ext4")
	notype := testfs.Scratch(t, "ext4-notype")
	c04Tree(t, plain)
	c04Tree(t, notype)

	rp, accPlain := accountList(t, plain)
	rn, accNotype := accountList(t, notype)
	want := []string{
		"(main) postmaster.macnt link=false",
		"example.test acct0001.macnt link=false",
		"example.test acct0002.macnt link=true",
		"example.test j.sub/jo.macnt link=false",
		"example.test single.mbox link=false",
	}
	if !reflect.DeepEqual(accPlain, want) || !reflect.DeepEqual(accNotype, want) {
		t.Errorf("accounts\n ext4:        %v\n ext4-notype: %v\nwant %v", accPlain, accNotype, want)
	}
	if rp.Totals.Entries != rn.Totals.Entries || rp.Totals.Directories != rn.Totals.Directories || rp.Totals.Accounts != rn.Totals.Accounts {
		t.Errorf("totals differ: ext4 %+v, ext4-notype %+v", rp.Totals, rn.Totals)
	}
	if rp.Totals.Untyped != 0 {
		t.Errorf("plain ext4 gave %d untyped entries", rp.Totals.Untyped)
	}
	if rn.Totals.Untyped != rn.Totals.Entries {
		t.Errorf("ext4-notype: %d untyped of %d entries; every entry should need an lstat", rn.Totals.Untyped, rn.Totals.Entries)
	}
	for _, d := range rn.TopDirs {
		if n := lsCount(t, d.Path); n != d.Entries {
			t.Errorf("%s: walker counts %d entries, ls -f counts %d", d.Path, d.Entries, n)
		}
	}
	if findingIDs(rp)[RuleNoEntryTypes] {
		t.Errorf("plain ext4 flagged as giving no entry types")
	}
	found := false
	for _, f := range rn.Findings {
		if f.ID == RuleNoEntryTypes {
			found = true
			if !strings.HasPrefix(f.Subject, filepath.Dir(notype)) && !strings.HasPrefix(f.Subject, notype) {
				t.Errorf("finding %s names %s, not the ext4-notype volume", f.ID, f.Subject)
			}
			if !strings.HasPrefix(f.Next, "cgscale bench ") {
				t.Errorf("finding %s: next %q, want cgscale bench", f.ID, f.Next)
			}
		}
	}
	if !found {
		t.Errorf("ext4-notype: no %s finding: %+v", RuleNoEntryTypes, rn.Findings)
	}
}

// C05: entries that vanish between being listed and being read are
// counted as vanished, not errors; the walk completes. A missing base is
// an error.
func TestC05VanishedDuringWalk(t *testing.T) {
	base := t.TempDir()
	d := filepath.Join(base, "Domains/example.test")
	for i := 1; i <= 200; i++ {
		for j := 1; j <= 5; j++ {
			build(t, d, fmt.Sprintf("acct%04d.macnt/INBOX.mdir/m%d", i, j))
		}
	}
	// Deterministic: remove every tenth account as soon as its name is
	// listed, before the walker opens it.
	var removed atomic.Int64
	r, err := Walk(context.Background(), base, WalkOptions{Jobs: 4, OnAccount: func(a Account) {
		if strings.HasSuffix(a.Name, "0") {
			if err := os.RemoveAll(a.Path); err != nil {
				t.Error(err)
			}
			removed.Add(1)
		}
	}})
	if err != nil || !r.Complete {
		t.Fatalf("walk with vanishing accounts: err %v, complete %v", err, r != nil && r.Complete)
	}
	if removed.Load() != 20 || r.Totals.Vanished != 20 || r.Totals.Accounts != 200 || r.Totals.Unreadable != 0 {
		t.Errorf("removed %d; report: %d vanished, %d accounts, %d unreadable; want 20, 20, 200, 0", removed.Load(), r.Totals.Vanished, r.Totals.Accounts, r.Totals.Unreadable)
	}
	if !findingIDs(r)[RuleVanished] {
		t.Errorf("no %s finding", RuleVanished)
	}

	// Live churn: deliveries and expunges while walking, several times.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			for i := 1; i <= 200; i += 3 {
				box := filepath.Join(d, fmt.Sprintf("acct%04d.macnt/INBOX.mdir", i))
				os.WriteFile(filepath.Join(box, fmt.Sprintf("t%d", n)), nil, 0o644)
				os.Remove(filepath.Join(box, fmt.Sprintf("t%d", n-1)))
				os.Remove(filepath.Join(box, fmt.Sprintf("m%d", n%5+1)))
			}
			if n == 3 {
				os.RemoveAll(filepath.Join(d, "acct0151.macnt"))
			}
		}
	}()
	for i := 0; i < 5; i++ {
		r, err := Walk(context.Background(), base, WalkOptions{Jobs: 4, Sizes: i%2 == 1})
		if err != nil || !r.Complete || r.Totals.Unreadable != 0 {
			t.Errorf("walk %d under churn: err %v, report %+v", i, err, r.Totals)
		}
	}
	close(stop)
	wg.Wait()

	_, err = Walk(context.Background(), filepath.Join(base, "gone"), WalkOptions{})
	if errs.KindOf(err) != errs.BadInput {
		t.Errorf("missing base: %v, want a bad-input error", err)
	}
}

// C06: a huge flat directory is streamed: accounts are seen and progress
// moves while the directory is still being read, and memory does not grow
// with the number of names.
func TestC06HugeFlatDirectoryStreams(t *testing.T) {
	const n = 60000
	base := t.TempDir()
	d := filepath.Join(base, "Domains/huge.test")
	build(t, d, "acct0000001.macnt/INBOX.mbox")
	for i := 2; i <= n; i++ {
		f, err := os.Create(filepath.Join(d, fmt.Sprintf("acct%07d.mbox", i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	stats := &WalkStats{}
	var seen, progressWhileListing atomic.Int64
	r := walkOK(t, base, WalkOptions{Jobs: 2, Stats: stats, OnAccount: func(a Account) {
		if seen.Add(1) == n-100 {
			progressWhileListing.Store(stats.Entries.Load())
		}
	}})
	if r.Totals.Accounts != n || domainByName(t, r, "huge.test").Largest.Entries != n {
		t.Fatalf("accounts %d, largest %+v; want %d", r.Totals.Accounts, domainByName(t, r, "huge.test").Largest, n)
	}
	if p := progressWhileListing.Load(); p < n/2 {
		t.Errorf("progress showed %d entries when %d of %d accounts had been listed: the directory is not streamed", p, n-100, n)
	}
	if lsCount(t, d) != n {
		t.Fatalf("ls -f disagrees with the tree")
	}

	// Memory: what the walk allocates must not grow with the names. The
	// same store with a tenth of the accounts is walked too; kept names
	// would cost 20 bytes or more for each entry added, so the growth per
	// added entry must stay far below that, apart from the one structure
	// that grows by design: the domain's set of name hashes (8-byte slots,
	// documented on nameSet). Each figure is the least of three walks, as
	// the allocation counter is the whole process's.
	const nSmall = n / 10
	smallBase := t.TempDir()
	sd := filepath.Join(smallBase, "Domains/huge.test")
	build(t, sd, "acct0000001.macnt/INBOX.mbox")
	for i := 2; i <= nSmall; i++ {
		f, err := os.Create(filepath.Join(sd, fmt.Sprintf("acct%07d.mbox", i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	allocBig, allocSmall := walkAlloc(t, base), walkAlloc(t, smallBase)
	perEntry := (float64(allocBig) - float64(allocSmall)) / (n - nSmall)
	t.Logf("walking %d entries allocated %d bytes, %d entries %d bytes: %.2f bytes per added entry; progress showed %d entries while listing",
		n, allocBig, nSmall, allocSmall, perEntry, progressWhileListing.Load())
	setPerEntry := float64(nameSetBytes(n)-nameSetBytes(nSmall)) / (n - nSmall)
	if perEntry > 4+setPerEntry {
		t.Errorf("walking %d entries allocated %d bytes, %d entries %d bytes: %.1f bytes more per entry, names are being kept",
			n, allocBig, nSmall, allocSmall, perEntry)
	}
	findings := findingIDs(r)
	if !findings[RuleFlatTooLarge] {
		t.Errorf("no %s finding for %d accounts in one directory", RuleFlatTooLarge, n)
	}
}

// walkAlloc returns the least number of bytes allocated by one of three
// walks of base.
func walkAlloc(t *testing.T, base string) uint64 {
	t.Helper()
	least := uint64(math.MaxUint64)
	for range 3 {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		walkOK(t, base, WalkOptions{Jobs: 2})
		runtime.ReadMemStats(&m1)
		least = min(least, m1.TotalAlloc-m0.TotalAlloc)
	}
	return least
}

// C08: a 254-byte name and a tree deeper than PATH_MAX are walked; the
// walk reaches the next account either way.
func TestC08LongNamesAndDeepPaths(t *testing.T) {
	base := t.TempDir()
	build(t, base, "Domains/example.test/acct0001.macnt/INBOX.mdir/", "Domains/example.test/acct0002.macnt/")
	box := filepath.Join(base, "Domains/example.test/acct0001.macnt/INBOX.mdir")
	long := strings.Repeat("n", 250) + ".eml"
	if err := os.WriteFile(filepath.Join(box, long), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// 40 levels of 120-byte names, made with mkdirat so no path is long.
	fd, err := unix.Open(box, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	seg := strings.Repeat("f", 120)
	for i := 0; i < 40; i++ {
		if err := unix.Mkdirat(fd, seg, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, seg, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	leaf, err := unix.Openat(fd, "deep.eml", unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(leaf)
	unix.Close(fd)
	if len(box)+40*121+len("/deep.eml") <= unix.PathMax {
		t.Fatal("the tree is not deeper than PATH_MAX")
	}
	// Directories: base, Domains, example.test, 2 accounts, INBOX.mdir, 40.
	// Entries: 1 + 1 + 2 + 1 + 2 (long name, first level) + 40.
	for _, jobs := range []int{1, 8} {
		r := walkOK(t, base, WalkOptions{Jobs: jobs, Sizes: jobs == 8})
		if r.Totals.Directories != 46 || r.Totals.Entries != 47 || r.Totals.Accounts != 2 || !r.Complete {
			t.Errorf("jobs %d: %+v; want 46 directories, 47 entries, 2 accounts, complete", jobs, r.Totals)
		}
	}
}

// C24: the walker reads the real filesystem; a linked account is
// classified by lstat (a link, counted as an account, never entered) and
// a dangling one is a finding.
func TestC24LinkedAccountsOnRealFS(t *testing.T) {
	base := t.TempDir()
	other := t.TempDir()
	build(t, other, "acct0002.macnt/INBOX.mbox", "acct0002.macnt/Archive.mdir/1.msg")
	build(t, base,
		"Domains/example.test/acct0001.macnt/INBOX.mbox",
		"Domains/example.test/acct0002.macnt -> "+filepath.Join(other, "acct0002.macnt"),
		"Domains/example.test/acct0003.macnt -> "+filepath.Join(other, "missing.macnt"),
	)
	r, accounts := accountList(t, base)
	want := []string{
		"example.test acct0001.macnt link=false",
		"example.test acct0002.macnt link=true",
		"example.test acct0003.macnt link=true",
	}
	if !reflect.DeepEqual(accounts, want) {
		t.Errorf("accounts %v, want %v", accounts, want)
	}
	d := domainByName(t, r, "example.test")
	if d.Accounts != 3 || d.LinkedAccounts != 2 {
		t.Errorf("example.test: %d accounts, %d linked; want 3, 2", d.Accounts, d.LinkedAccounts)
	}
	// base, Domains, example.test, acct0001: the linked account is not entered.
	if r.Totals.Directories != 4 {
		t.Errorf("%d directories read, want 4 (links inside a domain are not followed)", r.Totals.Directories)
	}
	f := findingFor(r, RuleDanglingLink, filepath.Join(base, "Domains/example.test/acct0003.macnt"))
	if f == nil || f.Severity != Critical {
		t.Errorf("dangling linked account: finding %+v", f)
	}
	if findingFor(r, RuleDanglingLink, filepath.Join(base, "Domains/example.test/acct0002.macnt")) != nil {
		t.Errorf("a live linked account reported as dangling")
	}
}

// A cancelled walk stops and says so.
func TestWalkCancelled(t *testing.T) {
	base := t.TempDir()
	sampleStore(t, base)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := Walk(ctx, base, WalkOptions{})
	if errs.KindOf(err) != errs.Interrupted || r == nil || r.Complete {
		t.Errorf("cancelled walk: %v, complete %v", err, r != nil && r.Complete)
	}
}
