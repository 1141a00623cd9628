package migrate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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
			killMoveAt(t, dom, vol, phase)
			open, err := Unfinished(base)
			must(t, err)
			if len(open) != 1 {
				t.Fatalf("unfinished journals: %v", open)
			}
			// The refusal names the unfinished move and offers --abort
			// only before its swap.
			_, err = runMove(t, dom, vol)
			swapped := phase == "remove"
			if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), dom) || strings.Contains(errs.HintOf(err), "--abort") == swapped ||
				!strings.Contains(errs.HintOf(err), "cgscale move --resume "+base) {
				t.Fatalf("a new move over an unfinished one: %v (hint %q), want refused naming %s, with --abort offered only before the swap", err, errs.HintOf(err), dom)
			}
			res, err := Resume(context.Background(), base, false, MoveOptions{Jobs: 2})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != "moved" || !res.Resumed {
				t.Fatalf("resume: %+v", res)
			}
			if p := res.Plan; p.Kind == "" || p.Base != base || p.Source != dom || p.LinkWhy == "" {
				t.Errorf("the resumed result's plan lacks what the move's had: %+v", p)
			}
			assertMoved(t, dom, filepath.Join(vol, "Domains", filepath.Base(dom)), keep)
			if open, _ := Unfinished(base); len(open) != 0 {
				t.Errorf("still unfinished after resume: %v", open)
			}
			// D13: nothing pending is a refusal, as for apply --resume.
			res, err = Resume(context.Background(), base, false, MoveOptions{})
			if res != nil || errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "nothing to resume") {
				t.Errorf("second resume: %+v %v, want refused: nothing to resume", res, err)
			}
			res, err = Resume(context.Background(), base, true, MoveOptions{})
			if res != nil || errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "nothing to abort") {
				t.Errorf("abort with nothing pending: %+v %v, want refused: nothing to abort", res, err)
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
	assertMoved(t, dom, filepath.Join(vol, "Domains", filepath.Base(dom)), keep)
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
	// A stale PID (a process that has ended) does not block.
	ended := exec.Command("true")
	must(t, ended.Run())
	must(t, os.WriteFile(filepath.Join(base, "ProcessID"), []byte(strconv.Itoa(ended.Process.Pid)+"\n"), 0o644))
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
	fd := dirFd(t, dir)
	must(t, removeTree(context.Background(), fd, "tree", tree, 2, nil))
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
	err := removeTree(context.Background(), fd, "tree", tree, 1, nil)
	if err == nil || !strings.Contains(err.Error(), mountedHere) {
		t.Fatalf("got %v, want a refusal to delete into a mount", err)
	}
	// D14: the error names the mount by its full path.
	if !strings.Contains(err.Error(), "remove "+filepath.Join(tree, "mnt")+":") {
		t.Fatalf("the error does not name the full path %s: %v", filepath.Join(tree, "mnt"), err)
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

// D21c: a ProcessID that is not a process id cannot be judged: the move
// is refused, naming the file and what it holds, unless forced. An empty
// file, like a dead process id, means the server is stopped.
func TestD21c_GarbageProcessID(t *testing.T) {
	base := newBase(t, "tmpfs")
	dom := filepath.Join(base, "Domains", "example.test")
	mkAcct(t, dom, "acct0001")
	vol := testfs.Scratch(t, "ext4")
	pidFile := filepath.Join(base, "ProcessID")
	for _, garbage := range []string{"abc\n", "-5\n", "12abc", "99999999999\n"} {
		must(t, os.WriteFile(pidFile, []byte(garbage), 0o644))
		_, err := runMove(t, dom, vol)
		if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), pidFile) ||
			!strings.Contains(err.Error(), strconv.Quote(strings.TrimSpace(garbage))) {
			t.Fatalf("ProcessID %q: %v, want a refusal naming the file and its content", garbage, err)
		}
		if !strings.Contains(errs.HintOf(err), "--force") {
			t.Errorf("the refusal does not name --force: %q", errs.HintOf(err))
		}
		if st := lstat(t, dom); st.Mode&unix.S_IFMT != unix.S_IFDIR {
			t.Fatal("source changed")
		}
	}
	if _, err := runMove(t, dom, vol, func(o *MoveOptions) { o.Force = true }); err != nil {
		t.Fatalf("--force over an unreadable ProcessID: %v", err)
	}
	// An empty file: the server is stopped.
	for _, empty := range []string{"", " \n"} {
		must(t, os.WriteFile(pidFile, []byte(empty), 0o644))
		if _, running, err := ServerRunning(base); err != nil || running {
			t.Errorf("ProcessID %q: running %v, %v; want stopped", empty, running, err)
		}
	}
}

// D19: each new job prunes the completed journals beyond the newest
// KeepJournals; unfinished ones stay whatever their age.
func TestD19_JournalsArePruned(t *testing.T) {
	base := newBase(t, "tmpfs")
	dir := JournalDir(base)
	must(t, os.MkdirAll(dir, 0o700))
	write := func(name string, finished bool) {
		body := `{"seq":1,"kind":"job","step":"begin","note":"move"}` + "\n"
		if finished {
			body += `{"seq":2,"kind":"job","step":"end","note":"moved"}` + "\n"
		}
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	// The oldest two are unfinished; then KeepJournals+10 completed ones.
	write("20000101T000000000000000Z-1.jsonl", false)
	write("20000101T000000000000001Z-1.jsonl", false)
	for i := 0; i < KeepJournals+10; i++ {
		write(fmt.Sprintf("20100101T000000%09dZ-1.jsonl", i), true)
	}
	// An old completed move whose link still stands: scan needs its record.
	src := filepath.Join(base, "Domains", "moved.test")
	must(t, os.Symlink("/vol/Domains/moved.test", src))
	live := "20050101T000000000000000Z-1.jsonl"
	must(t, os.WriteFile(filepath.Join(dir, live), []byte(`{"seq":1,"kind":"job","step":"begin","note":"move"}
{"seq":2,"op":0,"kind":"move","step":"begin","src":"`+src+`","dst":"/vol/Domains/moved.test","link":"/vol/Domains/moved.test"}
{"seq":3,"op":0,"kind":"move","step":"swapped"}
{"seq":4,"op":0,"kind":"move","step":"done"}
{"seq":5,"kind":"job","step":"end","note":"moved"}
`), 0o600))
	j, err := CreateJournal(base)
	must(t, err)
	j.Close()
	names := entries(t, dir)
	if len(names) != KeepJournals+4 {
		t.Fatalf("%d journals after pruning, want %d completed, the live relocation's, 2 unfinished and the new one: %v", len(names), KeepJournals, names)
	}
	if _, err := os.Stat(filepath.Join(dir, live)); err != nil {
		t.Errorf("the journal of a relocation whose link stands was pruned: %v", err)
	}
	for _, old := range []string{"20000101T000000000000000Z-1.jsonl", "20000101T000000000000001Z-1.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, old)); err != nil {
			t.Errorf("unfinished journal %s was pruned: %v", old, err)
		}
	}
	for i := 0; i < 10; i++ {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("20100101T000000%09dZ-1.jsonl", i))); !os.IsNotExist(err) {
			t.Errorf("old completed journal %d kept: %v", i, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("20100101T000000%09dZ-1.jsonl", KeepJournals+9))); err != nil {
		t.Errorf("the newest completed journal was pruned: %v", err)
	}
	if open, _ := Unfinished(base); len(open) != 3 {
		t.Errorf("unfinished journals: %v", open)
	}
}

// A move killed before its swap is not resumed onto another filesystem:
// with the target volume unmounted (a reboot) and its path present on the
// root filesystem, resume refuses, names both filesystems and says to
// mount the volume; the source stays a directory, unchanged. --abort then
// works without the target: the job is closed as rolled back, and the
// result says that the partial copy is still on the volume and how to
// know it; nothing is deleted on the filesystem now holding the path.
func TestResumeRefusesUnmountedVolume(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := genDomain(t, base, 20, 6, false)
	keep := pristine(t, dom)
	vol := testfs.Mount(t, 16, "tmpfs")
	killMoveAt(t, dom, vol, "verify")
	dest := filepath.Join(vol, "Domains", filepath.Base(dom))
	if _, err := os.Lstat(dest); err != nil {
		t.Fatalf("killed at the verify, the move has no copy at %s: %v", dest, err)
	}
	if out, err := execOut("umount", vol); err != nil {
		t.Fatalf("umount %s: %v\n%s", vol, err, out)
	}
	must(t, os.MkdirAll(filepath.Join(vol, "Domains"), 0o755))
	res, err := Resume(context.Background(), base, false, MoveOptions{Jobs: 2})
	if errs.KindOf(err) != errs.Refused {
		t.Fatalf("resume with the volume unmounted: %+v %v, want refused", res, err)
	}
	for _, want := range []string{"journal records", "device 0:", vol} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "(ext)") {
		t.Errorf("refusal %q names a filesystem family, not its type", err)
	}
	if h := errs.HintOf(err); !strings.Contains(h, "mount the target volume") {
		t.Errorf("hint %q does not say to mount the volume", h)
	}
	if st := lstat(t, dom); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatalf("%s is no longer a directory", dom)
	}
	sameTree(t, keep, dom)
	if ents := entries(t, filepath.Join(vol, "Domains")); len(ents) != 0 {
		t.Errorf("resume wrote onto the root filesystem: %v", ents)
	}
	if open, _ := Unfinished(base); len(open) != 1 {
		t.Fatalf("the journal should stay unfinished for a later resume: %v", open)
	}

	res, err = Resume(context.Background(), base, true, MoveOptions{Jobs: 2})
	if err != nil || res.Outcome != "rolled back" {
		t.Fatalf("abort with the volume unmounted: %+v %v, want rolled back", res, err)
	}
	w := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"partial copy at " + dest, "not mounted", "inode", "made above it: " + filepath.Join(vol, "Domains")} {
		if !strings.Contains(w, want) {
			t.Errorf("the warnings %q do not say %q", w, want)
		}
	}
	if ents := entries(t, filepath.Join(vol, "Domains")); len(ents) != 0 {
		t.Errorf("abort wrote onto the root filesystem: %v", ents)
	}
	sameTree(t, keep, dom)
	assertNoTemp(t, filepath.Dir(dom))
	if open, _ := Unfinished(base); len(open) != 0 {
		t.Errorf("the job is still open: %v", open)
	}
}

// Resume and abort delete at the copy's path only the directory the move
// created (its device and inode are journaled). A move killed before it
// made its copy, whose target path another move (of the same domain name
// from another store) took meanwhile, or killed after, whose partial copy
// someone replaced with a directory of their own: --resume refuses to copy
// there, without deleting it and without advising to, and rolls the move
// back; --abort rolls it back too. Either way the result says the
// directory was left alone, the job is closed and the source untouched.
func TestResumeKeepsForeignDest(t *testing.T) {
	needRoot(t)
	for _, phase := range []string{"copy", "verify"} {
		for _, abort := range []bool{false, true} {
			base := newBase(t, "ext4")
			dom := genDomain(t, base, 20, 9, false)
			keep := pristine(t, dom)
			vol := testfs.Scratch(t, "tmpfs")
			killMoveAt(t, dom, vol, phase)
			dest := filepath.Join(vol, "Domains", filepath.Base(dom))
			_, err := os.Lstat(dest)
			if phase == "copy" && !os.IsNotExist(err) {
				t.Fatalf("killed as the copy began, the move already made %s (%v)", dest, err)
			}
			if phase == "verify" && err != nil {
				t.Fatalf("killed at the verify, the move has no copy at %s: %v", dest, err)
			}
			must(t, os.RemoveAll(dest))
			must(t, os.MkdirAll(dest, 0o755))
			theirs := filepath.Join(dest, "precious")
			must(t, os.WriteFile(theirs, []byte("another store's mail"), 0o644))

			res, err := Resume(context.Background(), base, abort, MoveOptions{Jobs: 2})
			if abort {
				if err != nil || res.Outcome != "rolled back" {
					t.Fatalf("%s, abort: %+v %v, want rolled back", phase, res, err)
				}
			} else {
				if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), dest) || !strings.Contains(err.Error(), "did not create it") {
					t.Fatalf("%s: resume over another move's copy: %v, want refused naming %s", phase, err, dest)
				}
				if h := errs.HintOf(err); !strings.Contains(h, "look before removing anything") || strings.Contains(h, "--abort") {
					t.Errorf("%s: the hint %q should warn before any removal, and offer no abort of a closed job", phase, h)
				}
			}
			if res == nil || res.Outcome != "rolled back" || !strings.Contains(strings.Join(res.Warnings, "\n"), dest+" was not made by this move") {
				t.Errorf("%s, abort %v: the result does not say it left %s alone: %+v", phase, abort, dest, res)
			}
			if b, err := os.ReadFile(theirs); err != nil || string(b) != "another store's mail" {
				t.Fatalf("%s: the other copy at %s was touched: %q %v", phase, dest, b, err)
			}
			if open, _ := Unfinished(base); len(open) != 0 {
				t.Errorf("%s, abort %v: the job is still open: %v", phase, abort, open)
			}
			if st := lstat(t, dom); st.Mode&unix.S_IFMT != unix.S_IFDIR {
				t.Fatalf("%s is no longer a directory", dom)
			}
			sameTree(t, keep, dom)
		}
	}
}
