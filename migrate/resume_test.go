package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
	"github.com/cgscale/cgscale/layout"
)

// A move killed with SIGKILL as each phase starts is finished by Resume:
// the store path resolves to a tree identical to the original, every
// account once, and no temporary name is left.
func TestResumeAfterKill(t *testing.T) {
	needRoot(t)
	for _, phase := range []string{"copy", "verify", "swap", "remove"} {
		t.Run(phase, func(t *testing.T) {
			base := newBase(t, "ext4")
			dom := genDomain(t, base, 60, 3, false)
			keep := pristine(t, dom)
			vol := testfs.Scratch(t, "xfs")
			cmd := helper(t, []string{"CGSCALE_MIGRATE_HELPER=move", "SRC=" + dom, "VOL=" + vol, "CGSCALE_DIE_AT=" + phase}, 0)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("helper was not killed: %v\n%s", err, out)
			}
			open, err := Unfinished(base)
			must(t, err)
			if len(open) != 1 {
				t.Fatalf("unfinished journals: %v", open)
			}
			if _, err := runMove(t, dom, vol); errs.KindOf(err) != errs.Refused {
				t.Fatalf("a new move over an unfinished one: %v, want refused", err)
			}
			res, err := Resume(context.Background(), base, false, MoveOptions{Jobs: 2})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != "moved" || !res.Resumed {
				t.Fatalf("resume: %+v", res)
			}
			assertLinked(t, dom, filepath.Join(vol, "Domains", filepath.Base(dom)))
			sameTree(t, keep, dom)
			assertNoTemp(t, filepath.Join(base, "Domains"))
			if open, _ := Unfinished(base); len(open) != 0 {
				t.Errorf("still unfinished after resume: %v", open)
			}
			res, err = Resume(context.Background(), base, false, MoveOptions{})
			if err != nil || res.Outcome != "nothing to resume" {
				t.Errorf("second resume: %+v %v", res, err)
			}
		})
	}
}

// --abort before the swap rolls back: the source is a directory again,
// unchanged, and the target holds nothing.
func TestAbortBeforeSwap(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := genDomain(t, base, 30, 4, false)
	keep := pristine(t, dom)
	vol := testfs.Scratch(t, "tmpfs")
	cmd := helper(t, []string{"CGSCALE_MIGRATE_HELPER=move", "SRC=" + dom, "VOL=" + vol, "CGSCALE_DIE_AT=swap"}, 0)
	_ = cmd.Run()
	res, err := Resume(context.Background(), base, true, MoveOptions{})
	if err != nil || res.Outcome != "rolled back" {
		t.Fatalf("abort: %+v %v", res, err)
	}
	assertUntouched(t, dom, keep, vol)
}

// A crash between the two renames of the fallback swap (the source
// renamed aside, the link not yet in place) is completed by resume.
func TestResumeHalfSwap(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := genDomain(t, base, 10, 5, false)
	keep := pristine(t, dom)
	vol := testfs.Scratch(t, "tmpfs")
	cmd := helper(t, []string{"CGSCALE_MIGRATE_HELPER=move", "SRC=" + dom, "VOL=" + vol, "CGSCALE_DIE_AT=swap"}, 0)
	_ = cmd.Run()
	open, err := Unfinished(base)
	must(t, err)
	recs, err := ReadJournal(open[0])
	must(t, err)
	b, _ := beginRecord(recs, 0, "move")
	parent := filepath.Dir(dom)
	// What the fallback leaves between its renames.
	must(t, os.Rename(dom, filepath.Join(parent, b.Temp+".old")))
	must(t, os.Symlink(b.Link, filepath.Join(parent, b.Temp)))
	res, err := Resume(context.Background(), base, false, MoveOptions{})
	if err != nil || res.Outcome != "moved" {
		t.Fatalf("resume: %+v %v", res, err)
	}
	assertLinked(t, dom, filepath.Join(vol, "Domains", filepath.Base(dom)))
	sameTree(t, keep, dom)
	assertNoTemp(t, parent)
}

func TestLockAndServerGuard(t *testing.T) {
	base := newBase(t, "tmpfs")
	dom := filepath.Join(base, "Domains", "example.test")
	mkAcct(t, dom, "acct0001")
	vol := testfs.Scratch(t, "ext4")
	l, err := Lock(base)
	must(t, err)
	if _, err := runMove(t, dom, vol); errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "another cgscale") {
		t.Fatalf("move under a held lock: %v", err)
	}
	l.Unlock()
	must(t, os.WriteFile(filepath.Join(base, "ProcessID"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644))
	if _, err := runMove(t, dom, vol); errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "server is running") {
		t.Fatalf("move with the server running: %v", err)
	}
	if st := lstat(t, dom); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatal("source changed")
	}
	if !strings.Contains(refusalHint(t, dom, vol), "--force overrides") {
		t.Fatal("the refusal does not name --force")
	}
	// A stale PID (no such process) does not block.
	must(t, os.WriteFile(filepath.Join(base, "ProcessID"), []byte("2147483646\n"), 0o644))
	if _, err := runMove(t, dom, vol); err != nil {
		t.Fatalf("move with a stale ProcessID: %v", err)
	}
}

// refusalHint runs a refused move again and returns its hint.
func refusalHint(t *testing.T, dom, vol string) string {
	t.Helper()
	_, err := runMove(t, dom, vol)
	if err == nil {
		t.Fatal("move was not refused")
	}
	return errs.HintOf(err)
}

// Removal never follows a link out of the tree and never deletes into
// another filesystem mounted inside it.
func TestRemoveTreeStaysInside(t *testing.T) {
	needRoot(t)
	dir := testfs.Scratch(t, "ext4")
	outside := filepath.Join(dir, "outside")
	must(t, os.MkdirAll(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "keep.msg"), []byte("x"), 0o644))
	tree := filepath.Join(dir, "tree")
	must(t, os.MkdirAll(filepath.Join(tree, "a", "b"), 0o755))
	must(t, os.Symlink(outside, filepath.Join(tree, "a", "link-to-outside")))
	must(t, os.Symlink("../../../outside", filepath.Join(tree, "a", "b", "rel-link")))
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	must(t, err)
	defer unix.Close(fd)
	must(t, removeTree(context.Background(), fd, "tree", 2, nil))
	if _, err := os.Stat(filepath.Join(outside, "keep.msg")); err != nil {
		t.Fatalf("removal followed a link: %v", err)
	}
	if _, err := os.Lstat(tree); !os.IsNotExist(err) {
		t.Fatalf("tree still there: %v", err)
	}
	// A filesystem mounted inside the tree stops the removal.
	must(t, os.MkdirAll(filepath.Join(tree, "mnt"), 0o755))
	inner := testfs.Mount(t, 4, "tmpfs")
	must(t, os.WriteFile(filepath.Join(inner, "keep.msg"), []byte("x"), 0o644))
	if out, err := execOut("mount", "--bind", inner, filepath.Join(tree, "mnt")); err != nil {
		t.Fatalf("mount --bind: %v %s", err, out)
	}
	defer execOut("umount", filepath.Join(tree, "mnt"))
	err = removeTree(context.Background(), fd, "tree", 1, nil)
	if err == nil || !strings.Contains(err.Error(), "another filesystem is mounted") {
		t.Fatalf("got %v, want a refusal to delete into a mount", err)
	}
	if _, err := os.Stat(filepath.Join(inner, "keep.msg")); err != nil {
		t.Fatalf("removal deleted into a mounted filesystem: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct{ path, kind, base string }{
		{"/var/CommuniGate/Domains/example.com", KindDomain, "/var/CommuniGate"},
		{"/var/CommuniGate/Domains/e.sub/example.com", KindDomain, "/var/CommuniGate"},
		{"/var/CommuniGate/Domains/e.sub", KindSubdirectory, "/var/CommuniGate"},
		{"/var/CommuniGate/Domains/example.com/j.sub", KindSubdirectory, "/var/CommuniGate"},
		{"/var/CommuniGate/Domains/example.com/j.sub/s.sub", KindSubdirectory, "/var/CommuniGate"},
		{"/var/CommuniGate/Domains/example.com/big.mnt", KindMountPoint, "/var/CommuniGate"},
		{"/var/CommuniGate/Domains/example.com/big.mnt/a.sub", KindSubdirectory, "/var/CommuniGate"},
		{"/var/CommuniGate/Accounts/j.sub", KindSubdirectory, "/var/CommuniGate"},
		{"/srv/cgp/Domains/x.org", KindDomain, "/srv/cgp"},
	} {
		r, err := Classify(c.path)
		if err != nil || r.Kind != c.kind || r.Base != c.base {
			t.Errorf("Classify(%s) = %+v, %v; want %s in %s", c.path, r, err, c.kind, c.base)
		}
	}
	for _, p := range []string{
		"/var/CommuniGate/Domains",
		"/var/CommuniGate/Domains/example.com/jsmith.macnt",
		"/var/CommuniGate/Domains/example.com/Settings",
		"/var/CommuniGate/Domains/example.com/j.sub/jsmith.macnt",
		"/var/CommuniGate/Accounts",
		"/var/CommuniGate/Queue",
		"/home/user/mail",
	} {
		if _, err := Classify(p); errs.KindOf(err) != errs.Refused {
			t.Errorf("Classify(%s): %v, want refused", p, err)
		}
	}
}

// A journal whose last line was cut short by a crash reads up to it; a
// damaged line in the middle is an error.
func TestJournalTornLine(t *testing.T) {
	base := t.TempDir()
	j, err := CreateJournal(base)
	must(t, err)
	must(t, j.Append(Record{Kind: "job", Step: StepBegin}))
	must(t, j.Append(Record{Kind: "move", Step: StepBegin, Src: "/a"}))
	must(t, j.Close())
	f, err := os.OpenFile(j.Path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	f.WriteString(`{"seq":3,"kind":"mo`)
	f.Close()
	recs, err := ReadJournal(j.Path)
	if err != nil || len(recs) != 2 || recs[1].Src != "/a" {
		t.Fatalf("torn journal: %v %+v", err, recs)
	}
	open, err := Unfinished(base)
	if err != nil || len(open) != 1 {
		t.Fatalf("unfinished: %v %v", open, err)
	}
	data, _ := os.ReadFile(j.Path)
	lines := strings.Split(string(data), "\n")
	lines[0] = "garbage"
	must(t, os.WriteFile(j.Path, []byte(strings.Join(lines, "\n")), 0o600))
	if _, err := ReadJournal(j.Path); err == nil {
		t.Fatal("a damaged line in the middle was accepted")
	}
}

// Classify and the walker agree: every relocatable path Classify accepts
// in a generated store is a domain, subdirectory or mount point for the
// walker too, and every account it reports is refused.
func TestClassifyAgreesWithWalker(t *testing.T) {
	base := makeStore(t, t.TempDir(), 40)
	must(t, os.MkdirAll(filepath.Join(base, "Domains", "other.test", "big.mnt", "a.sub", "amy.macnt"), 0o755))
	must(t, os.MkdirAll(filepath.Join(base, "Domains", "d.sub", "deep.test", "j.sub", "jo.macnt"), 0o755))
	rep, err := layout.Walk(context.Background(), base, layout.WalkOptions{OnAccount: func(a layout.Account) {
		if _, err := Classify(a.Path); errs.KindOf(err) != errs.Refused {
			t.Errorf("Classify(account %s): %v, want refused", a.Path, err)
		}
		if dir := filepath.Dir(a.Path); dir != a.DomainPath {
			if r, err := Classify(dir); err != nil || r.Kind == KindDomain {
				t.Errorf("Classify(%s), holding account %s: %+v %v, want a subdirectory or mount point", dir, a.Name, r, err)
			}
		}
	}})
	must(t, err)
	for _, d := range rep.Domains {
		r, err := Classify(d.Path)
		if d.Name == layout.MainDomainName {
			if err == nil {
				t.Errorf("Classify(Accounts/) = %+v, want refused", r)
			}
			continue
		}
		if err != nil || r.Kind != KindDomain {
			t.Errorf("Classify(domain %s) = %+v, %v", d.Path, r, err)
		}
	}
}
