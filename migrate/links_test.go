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

// outsideStore makes a domain with relative links: two lead out of it
// (one at the top, one deeper), one stays inside and one leaves by ".."
// and comes back in by the domain's own name. It returns the domain and
// the domain the outside links lead to.
func outsideStore(t *testing.T, base string) (dom, other string) {
	t.Helper()
	dom = filepath.Join(base, "Domains", "example-0001.test")
	other = filepath.Join(base, "Domains", "example-0002.test")
	mkAcct(t, dom, "acct0001")
	mkAcct(t, other, "acct0002")
	must(t, os.Symlink("../example-0002.test", filepath.Join(dom, "back.sub")))
	must(t, os.Symlink("../../example-0002.test/acct0002.macnt", filepath.Join(dom, "acct0001.macnt", "shared")))
	must(t, os.Symlink("acct0001.macnt/INBOX.mbox", filepath.Join(dom, "inside")))
	must(t, os.Symlink("../example-0001.test/acct0001.macnt", filepath.Join(dom, "self")))
	return dom, other
}

func readlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	must(t, err)
	return s
}

// D1: a relative link inside the moved tree whose target lies outside it
// would dangle after the move. Pre-flight (and so --dry-run) refuses,
// naming each such link; with RewriteRelativeLinks the copy gets the
// absolute target, journaled and reported, and links that stay inside
// keep their text.
func TestD1_RelativeLinksLeavingTheTree(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom, other := outsideStore(t, base)
	vol := testfs.Scratch(t, "xfs")

	plan, err := PlanMove(context.Background(), MoveOptions{Src: dom, VolumeDir: vol})
	if errs.KindOf(err) != errs.Refused {
		t.Fatalf("pre-flight: %v, want a refusal", err)
	}
	for _, want := range []string{"2 relative symbolic links inside lead out of it",
		filepath.Join(dom, "back.sub") + " -> ../example-0002.test (" + other + ")",
		filepath.Join(dom, "acct0001.macnt", "shared")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q: %v", want, err)
		}
	}
	if !strings.Contains(errs.HintOf(err), "--rewrite-relative-links") {
		t.Errorf("hint does not offer the rewrite: %q", errs.HintOf(err))
	}
	if plan == nil || plan.Totals.OutsideLinks != 2 || len(plan.Totals.OutsideLinkList) != 2 {
		t.Fatalf("the dry run's plan does not list the links: %+v", plan)
	}
	if plan.NeedBytes == 0 || plan.NeedInodes == 0 {
		t.Errorf("the refused plan says it needs %d bytes and %d inodes", plan.NeedBytes, plan.NeedInodes)
	}
	if _, err := runMove(t, dom, vol); errs.KindOf(err) != errs.Refused {
		t.Fatalf("move: %v, want a refusal", err)
	}
	if st := lstat(t, dom); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatal("the refused move changed the source")
	}
	if n := entries(t, vol); len(n) != 0 {
		t.Fatalf("the refused move wrote to the target: %v", n)
	}

	res, err := runMove(t, dom, vol, func(o *MoveOptions) { o.RewriteRelativeLinks = true })
	if err != nil || res.Outcome != "moved" {
		t.Fatalf("move with the rewrite: %+v %v", res, err)
	}
	assertLinked(t, dom, filepath.Join(vol, "Domains", "example-0001.test"))
	if got := readlink(t, filepath.Join(dom, "back.sub")); got != other {
		t.Errorf("back.sub -> %q, want the absolute %q", got, other)
	}
	if got := readlink(t, filepath.Join(dom, "acct0001.macnt", "shared")); got != filepath.Join(other, "acct0002.macnt") {
		t.Errorf("shared -> %q", got)
	}
	if got := readlink(t, filepath.Join(dom, "inside")); got != "acct0001.macnt/INBOX.mbox" {
		t.Errorf("a link inside the tree was changed: %q", got)
	}
	if got := readlink(t, filepath.Join(dom, "self")); got != "../example-0001.test/acct0001.macnt" {
		t.Errorf("a link coming back into the tree was changed: %q", got)
	}
	for _, p := range []string{"back.sub/acct0002.macnt/INBOX.mbox", "acct0001.macnt/shared/INBOX.mbox", "inside", "self/INBOX.mbox"} {
		if _, err := os.Stat(filepath.Join(dom, p)); err != nil {
			t.Errorf("after the move %s does not resolve: %v", p, err)
		}
	}
	if len(res.Copy.RewrittenLinks) != 2 {
		t.Errorf("rewritten links reported: %+v", res.Copy.RewrittenLinks)
	}
	recs, err := ReadJournal(res.Journal)
	must(t, err)
	n := 0
	for _, r := range recs {
		if r.Step == StepLinkRewritten {
			n++
			if !strings.HasPrefix(r.Src, filepath.Join(vol, "Domains", "example-0001.test")) || !filepath.IsAbs(r.Link) || !strings.HasPrefix(r.Note, "was ../") {
				t.Errorf("journal record %+v", r)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d rewrites journaled, want 2", n)
	}
}

// A relative link is resolved by the kernel from the directory it really
// is in: with the store's Domains/ a link to a directory elsewhere, "../.."
// from the domain leads beside that directory, not to the store's base.
// The rewritten link keeps leading to the file the source's led to, and
// the verify checks that it does.
func TestRewrittenLinkUnderLinkedParent(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	elsewhere := filepath.Join(filepath.Dir(base), "elsewhere", "deep")
	must(t, os.MkdirAll(filepath.Join(elsewhere, "Queue"), 0o755))
	must(t, os.WriteFile(filepath.Join(elsewhere, "Queue", "marker"), []byte("elsewhere"), 0o644))
	must(t, os.MkdirAll(filepath.Join(base, "Queue"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "Queue", "marker"), []byte("store"), 0o644))
	must(t, os.Rename(filepath.Join(base, "Domains"), filepath.Join(elsewhere, "Domains")))
	must(t, os.Symlink(filepath.Join(elsewhere, "Domains"), filepath.Join(base, "Domains")))
	dom := filepath.Join(base, "Domains", "example.test")
	mkAcct(t, dom, "acct0001")
	must(t, os.Symlink("../../Queue/marker", filepath.Join(dom, "qm")))
	if b, err := os.ReadFile(filepath.Join(dom, "qm")); err != nil || string(b) != "elsewhere" {
		t.Fatalf("the test's link reads %q %v, want the marker beside Domains/", b, err)
	}
	// through a link inside the tree: deep/../.. is the domain itself
	must(t, os.MkdirAll(filepath.Join(dom, "q.sub", "b"), 0o755))
	must(t, os.WriteFile(filepath.Join(dom, "f"), []byte("inner"), 0o644))
	must(t, os.Symlink("q.sub/b", filepath.Join(dom, "deep")))
	must(t, os.Symlink("deep/../../f", filepath.Join(dom, "x")))
	// out of the tree and back in through a link beside it: after the
	// move ../alias.test is not there, so this one leads out
	must(t, os.Symlink("example.test", filepath.Join(base, "Domains", "alias.test")))
	must(t, os.Symlink("../alias.test/f", filepath.Join(dom, "via-alias")))
	if b, err := os.ReadFile(filepath.Join(dom, "x")); err != nil || string(b) != "inner" {
		t.Fatalf("the test's link x reads %q %v, want f inside the domain", b, err)
	}
	vol := testfs.Scratch(t, "xfs")
	plan, err := PlanMove(context.Background(), MoveOptions{Src: dom, VolumeDir: vol, RewriteRelativeLinks: true})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if plan.Totals.OutsideLinks != 2 {
		t.Fatalf("plan: %d links lead out (%+v), want 2 (qm, via-alias)", plan.Totals.OutsideLinks, plan.Totals.OutsideLinkList)
	}
	res, err := runMove(t, dom, vol, func(o *MoveOptions) { o.RewriteRelativeLinks = true })
	if err != nil || res.Outcome != "moved" {
		t.Fatalf("move with the rewrite: %+v %v", res, err)
	}
	if b, err := os.ReadFile(filepath.Join(dom, "via-alias")); err != nil || string(b) != "inner" {
		t.Errorf("after the move via-alias reads %q %v, want f", b, err)
	}
	if got := readlink(t, filepath.Join(dom, "x")); got != "deep/../../f" {
		t.Errorf("x, which stays inside, was rewritten to %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(dom, "x")); err != nil || string(b) != "inner" {
		t.Errorf("after the move x reads %q %v", b, err)
	}
	if got, want := readlink(t, filepath.Join(dom, "qm")), filepath.Join(elsewhere, "Queue", "marker"); got != want {
		t.Errorf("qm -> %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(dom, "qm")); err != nil || string(b) != "elsewhere" {
		t.Errorf("after the move qm reads %q %v, want what it read before", b, err)
	}
}

// D1 for apply: a relocation in a plan runs the same engine, so a link
// added after planning is refused at apply time with the store unchanged,
// and the rewrite (ApplyOptions.Move) carries the relocation through.
func TestD1_ApplyRelocationRefusesLinksLeavingTheTree(t *testing.T) {
	needRoot(t)
	base := makeStore(t, testfs.Scratch(t, "ext4"), 6)
	other := filepath.Join(base, "Domains", "other.test")
	vol := testfs.Scratch(t, "xfs")

	// planned with the link present: a blocking problem of the plan
	must(t, os.Symlink("../flat.test", filepath.Join(other, "back.sub")))
	planned, _, err := BuildPlan(context.Background(), base, PlanRequest{Relocations: []Relocation{{Source: "Domains/other.test", Volume: vol}}}, time.Now())
	must(t, err)
	blocked := false
	for _, p := range planned.Blocking() {
		if p.Blocking && strings.Contains(p.Detail, "out of it and would dangle") {
			blocked = true
		}
	}
	if !blocked {
		t.Fatalf("the plan does not block on the outside link: %+v", planned.Problems)
	}

	// planned without it, the link made afterwards: apply refuses
	must(t, os.Remove(filepath.Join(other, "back.sub")))
	p := relocPlan(t, base, vol, false, "Domains/other.test")
	must(t, os.Symlink("../flat.test", filepath.Join(other, "back.sub")))
	_, err = Apply(context.Background(), p, ApplyOptions{Move: MoveOptions{Jobs: 2}})
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "back.sub -> ../flat.test") {
		t.Fatalf("apply: %v, want a refusal naming the link", err)
	}
	if st := lstat(t, other); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatal("the refused relocation changed the source")
	}

	res, err := ResumeApply(context.Background(), p, ApplyOptions{Move: MoveOptions{Jobs: 2, RewriteRelativeLinks: true}})
	if err != nil {
		res, err = Apply(context.Background(), p, ApplyOptions{Move: MoveOptions{Jobs: 2, RewriteRelativeLinks: true}})
	}
	if err != nil || res.Relocated != 1 {
		t.Fatalf("apply with the rewrite: %+v %v", res, err)
	}
	assertLinked(t, other, filepath.Join(vol, "Domains", "other.test"))
	if got := readlink(t, filepath.Join(other, "back.sub")); got != filepath.Join(base, "Domains", "flat.test") {
		t.Errorf("back.sub -> %q after apply", got)
	}
}

// D14: every error of the pre-flight scan, the copier, the verifier and
// the remover names the full path of the entry, though they work with
// directory descriptors. Each runs as nobody on a tree holding a
// mode-000 account directory.
func TestD14_ErrorsNameTheFullPath(t *testing.T) {
	needRoot(t)
	root := testfs.Scratch(t, "ext4")
	must(t, os.Chmod(root, 0o777))
	for d := filepath.Dir(root); d != "/"; d = filepath.Dir(d) {
		st := lstat(t, d)
		must(t, os.Chmod(d, os.FileMode(st.Mode&0o7777)|0o755))
	}
	src := filepath.Join(root, "example.test")
	mkAcct(t, src, "fine")
	locked := mkAcct(t, src, "abuse")
	must(t, exec.Command("chmod", "-R", "a+rwX", src).Run())
	// The tree belongs to nobody, so that the copier may give the copy its
	// owners: the locked directory is the one thing that fails, whichever
	// of the parallel walkers and copiers gets there first.
	must(t, exec.Command("chown", "-R", "65534:65534", src).Run())
	copyDir := filepath.Join(root, "copy")
	if out, err := exec.Command("cp", "-a", src, copyDir).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
	must(t, os.Chmod(locked, 0))
	must(t, os.Chmod(filepath.Join(copyDir, "abuse.macnt"), 0))
	defer os.Chmod(locked, 0o700)
	defer os.Chmod(filepath.Join(copyDir, "abuse.macnt"), 0o700)

	for _, c := range []struct{ op, dst, want string }{
		{"scan", "", locked},
		{"copy", filepath.Join(root, "new"), locked},
		{"verify", copyDir, locked},
		{"remove", "", locked},
	} {
		out, err := helper(t, []string{"CGSCALE_MIGRATE_HELPER=tree", "OP=" + c.op, "SRC=" + src, "DST=" + c.dst}, 65534).CombinedOutput()
		if err == nil {
			t.Errorf("%s as nobody succeeded on a mode-000 directory:\n%s", c.op, out)
			continue
		}
		if !strings.Contains(string(out), c.want+": permission denied") {
			t.Errorf("%s: the error does not name the full path %s:\n%s", c.op, c.want, out)
		}
	}
}
