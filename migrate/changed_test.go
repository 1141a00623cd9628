package migrate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
)

// A message delivered into the source after the copy was verified (here:
// as the swap begins) is not deleted with the old tree: the move ends
// with the link in place and an error that needs attention, and the
// changed entries are kept, alone, under the kept name for the admin to
// merge. Unchanged entries are deleted as usual.
func TestChangeAfterVerifyIsKept(t *testing.T) {
	needRoot(t)
	for _, meta := range []bool{false, true} {
		base := newBase(t, "ext4")
		dom := genDomain(t, base, 120, 7, true)
		acct := firstExtras(t, dom)
		mbox := filepath.Join(acct, "INBOX.mbox")
		must(t, os.WriteFile(mbox, []byte("From a\n\nfirst\n"), 0o600))
		untouched := filepath.Join(acct, "untouched.msg")
		must(t, os.WriteFile(untouched, []byte("x"), 0o600))
		rel, err := filepath.Rel(dom, acct)
		must(t, err)
		// a mailbox directory written before the move, renamed into the
		// source after the verify: its entries keep their older times
		box := filepath.Join(base, "box.mdir")
		must(t, os.MkdirAll(filepath.Join(box, "sub"), 0o700))
		must(t, os.WriteFile(filepath.Join(box, "m1.msg"), []byte("renamed in"), 0o600))
		must(t, os.WriteFile(filepath.Join(box, "sub", "m2.msg"), []byte("renamed in, deeper"), 0o600))
		vol := testfs.Scratch(t, "xfs")
		late := func(p string) {
			if p != "swap" {
				return
			}
			must(t, os.Rename(box, filepath.Join(acct, "box.mdir")))
			f, err := os.OpenFile(mbox, os.O_APPEND|os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteString("From b\n\nlate\n")
			must(t, err)
			must(t, f.Close())
			must(t, os.WriteFile(filepath.Join(acct, "new.msg"), []byte("late too"), 0o600))
		}
		res, err := runMove(t, dom, vol, func(o *MoveOptions) { o.MetaOnly = meta; o.Phase = late })
		if errs.KindOf(err) != errs.Attention || !strings.Contains(err.Error(), "changed after the copy was verified") {
			t.Fatalf("meta %v: move: %v (kind %v), want attention about changes after the verify", meta, err, errs.KindOf(err))
		}
		dest := filepath.Join(vol, "Domains", filepath.Base(dom))
		assertLinked(t, dom, dest)
		if res.Outcome != "moved" || res.Kept == "" || res.Changed == nil || res.Changed.Count < 2 {
			t.Fatalf("meta %v: result outcome %q kept %q changed %+v", meta, res.Outcome, res.Kept, res.Changed)
		}
		if !strings.Contains(err.Error(), res.Kept) || !strings.Contains(errs.HintOf(err), dest) {
			t.Errorf("the error does not name the kept tree %s and the copy %s: %v (hint %q)", res.Kept, dest, err, errs.HintOf(err))
		}
		paths := strings.Join(res.Changed.Paths, "\n")
		for _, want := range []string{filepath.Join(rel, "INBOX.mbox"), filepath.Join(rel, "new.msg")} {
			if !strings.Contains(paths, want) {
				t.Errorf("meta %v: changed paths %q lack %s", meta, paths, want)
			}
		}
		b, err := os.ReadFile(filepath.Join(res.Kept, rel, "INBOX.mbox"))
		if err != nil || !strings.Contains(string(b), "late") {
			t.Errorf("meta %v: the kept mailbox: %q, %v; want the late message", meta, b, err)
		}
		if _, err := os.Stat(filepath.Join(res.Kept, rel, "new.msg")); err != nil {
			t.Errorf("meta %v: the late message file is not kept: %v", meta, err)
		}
		for _, m := range []string{"box.mdir/m1.msg", "box.mdir/sub/m2.msg"} {
			if _, err := os.Stat(filepath.Join(res.Kept, rel, m)); err != nil {
				t.Errorf("meta %v: %s of the directory renamed in is not kept: %v", meta, m, err)
			}
		}
		if _, err := os.Lstat(filepath.Join(res.Kept, rel, "untouched.msg")); !os.IsNotExist(err) {
			t.Errorf("meta %v: an unchanged file was kept too (%v)", meta, err)
		}
		if open, _ := Unfinished(base); len(open) != 0 {
			t.Errorf("meta %v: the job is left open: %v", meta, open)
		}
	}
}

// A move killed after its swap is finished by resume, which deletes the
// old tree but keeps what reached it after the verify: a message renamed
// in (its modification time older than the verify, as a rename-delivery
// or an IMAP APPEND with a date leaves it) and a new hard link to an old
// file. When the interrupted run had begun deleting (its "removing"
// record) and so changed the status of the files whose other names it
// unlinked, such a file is still deleted when the copy holds it
// identical, and kept otherwise.
func TestResumedRemovalKeepsLateNames(t *testing.T) {
	needRoot(t)
	for _, removing := range []bool{false, true} {
		base := newBase(t, "ext4")
		dom := genDomain(t, base, 40, 7, false)
		acct := firstExtras(t, dom)
		rel, err := filepath.Rel(dom, acct)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(acct, "h1.msg"), []byte("a pair"), 0o600))
		must(t, os.Link(filepath.Join(acct, "h1.msg"), filepath.Join(acct, "h2.msg")))
		must(t, os.WriteFile(filepath.Join(acct, "m.msg"), []byte("old"), 0o600))
		must(t, os.WriteFile(filepath.Join(acct, "x.msg"), []byte("flags change"), 0o600))
		must(t, os.Mkdir(filepath.Join(acct, "sub.mdir"), 0o700))
		box := filepath.Join(base, "box.mdir")
		must(t, os.MkdirAll(filepath.Join(box, "empty.mdir"), 0o700))
		must(t, os.WriteFile(filepath.Join(box, "m1.msg"), []byte("renamed in"), 0o600))
		vol := testfs.Scratch(t, "xfs")
		killMoveAt(t, dom, vol, "remove")
		olds, err := filepath.Glob(filepath.Join(filepath.Dir(dom), ".cgscale-*"))
		must(t, err)
		if len(olds) != 1 {
			t.Fatalf("killed after the swap: old trees %v, want one", olds)
		}
		oldAcct := filepath.Join(olds[0], rel)
		outside := filepath.Join(base, "late.tmp")
		must(t, os.WriteFile(outside, []byte("late"), 0o600))
		old := time.Unix(1500000000, 0)
		must(t, os.Chtimes(outside, old, old))
		must(t, os.Rename(outside, filepath.Join(oldAcct, "late.msg")))
		must(t, os.Link(filepath.Join(oldAcct, "m.msg"), filepath.Join(oldAcct, "m-link.msg")))
		must(t, os.Rename(box, filepath.Join(oldAcct, "box.mdir")))
		// attributes changed late, on a file and on a directory
		must(t, unix.Setxattr(filepath.Join(oldAcct, "x.msg"), "user.flags", []byte("seen"), 0))
		must(t, os.Chmod(filepath.Join(oldAcct, "sub.mdir"), 0o750))
		if removing {
			// as the interrupted run would have: one name of the pair gone
			must(t, os.Remove(filepath.Join(oldAcct, "h1.msg")))
			open, err := Unfinished(base)
			must(t, err)
			j, _, err := OpenJournal(open[0])
			must(t, err)
			must(t, j.Append(Record{Op: 0, Kind: "move", Step: StepRemoving}))
			must(t, j.Close())
		}
		res, err := Resume(context.Background(), base, false, MoveOptions{Jobs: 2})
		if errs.KindOf(err) != errs.Attention || res == nil || res.Changed == nil || res.Kept == "" {
			t.Fatalf("removing %v: resume: %+v %v, want attention with kept changes", removing, res, err)
		}
		paths := strings.Join(res.Changed.Paths, "\n")
		for _, want := range []string{filepath.Join(rel, "late.msg"), filepath.Join(rel, "m-link.msg")} {
			if !strings.Contains(paths, want) {
				t.Errorf("removing %v: changed paths %q lack %s", removing, paths, want)
			}
		}
		if b, err := os.ReadFile(filepath.Join(res.Kept, rel, "late.msg")); err != nil || string(b) != "late" {
			t.Errorf("removing %v: the late message is not kept: %q %v", removing, b, err)
		}
		for _, m := range []string{"box.mdir/m1.msg", "box.mdir/empty.mdir", "x.msg", "sub.mdir"} {
			if _, err := os.Stat(filepath.Join(res.Kept, rel, m)); err != nil {
				t.Errorf("removing %v: %s, changed late, is not kept: %v", removing, m, err)
			}
		}
		if _, err := os.Lstat(filepath.Join(res.Kept, rel, "h2.msg")); !os.IsNotExist(err) {
			t.Errorf("removing %v: h2.msg, unchanged and in the copy, was kept (%v)", removing, err)
		}
		if b, err := os.ReadFile(filepath.Join(dom, rel, "h2.msg")); err != nil || string(b) != "a pair" {
			t.Errorf("removing %v: the copy lacks h2.msg: %q %v", removing, b, err)
		}
		if open, _ := Unfinished(base); len(open) != 0 {
			t.Errorf("removing %v: the job is left open: %v", removing, open)
		}
	}
}

// Within one run, a file whose other name the run itself unlinked has a
// later change time for that reason alone; it goes only if the copy
// holds it with the same contents and attributes, so a rewrite in place
// with the modification time set back is kept.
func TestOwnUnlinkJudgedByCopy(t *testing.T) {
	needRoot(t)
	root := testfs.Scratch(t, "ext4")
	src, cp := filepath.Join(root, "src"), filepath.Join(root, "copy")
	must(t, os.Mkdir(src, 0o755))
	for _, n := range []string{"same.msg", "rewritten.msg"} {
		must(t, os.WriteFile(filepath.Join(src, n), []byte("original"), 0o600))
		must(t, os.Link(filepath.Join(src, n), filepath.Join(src, n+".twin")))
	}
	if out, err := exec.Command("cp", "-a", src, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
	time.Sleep(20 * time.Millisecond)
	since := time.Now()
	time.Sleep(20 * time.Millisecond)
	// as if the run had unlinked each .twin: both files' change times move
	for _, n := range []string{"same.msg", "rewritten.msg"} {
		must(t, os.Remove(filepath.Join(src, n+".twin")))
	}
	p := filepath.Join(src, "rewritten.msg")
	st := lstat(t, p)
	must(t, os.WriteFile(p, []byte("REWRITE!"), 0o600))
	mt := time.Unix(st.Mtim.Unix())
	must(t, os.Chtimes(p, mt, mt))

	dfd := dirFd(t, src)
	cfd := dirFd(t, cp)
	r := &remover{keeping: true, since: unix.NsecToTimespec(since.UnixNano()), copyFd: cfd, unlinked: map[uint64]bool{}}
	for _, c := range []struct {
		name    string
		changed bool
	}{{"same.msg", false}, {"rewritten.msg", true}} {
		st := lstat(t, filepath.Join(src, c.name))
		r.unlinked[st.Ino] = true
		if got := r.fileChanged(dfd, c.name, c.name, &st, false); got != c.changed {
			t.Errorf("%s: changed %v, want %v", c.name, got, c.changed)
		}
	}
}
