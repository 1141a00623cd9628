package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		vol := testfs.Scratch(t, "xfs")
		late := func(p string) {
			if p != "swap" {
				return
			}
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
		if _, err := os.Lstat(filepath.Join(res.Kept, rel, "untouched.msg")); !os.IsNotExist(err) {
			t.Errorf("meta %v: an unchanged file was kept too (%v)", meta, err)
		}
		if open, _ := Unfinished(base); len(open) != 0 {
			t.Errorf("meta %v: the job is left open: %v", meta, open)
		}
	}
}
