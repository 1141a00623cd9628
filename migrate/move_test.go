package migrate

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
)

// A generated domain with every kind of entry moves from ext4 to xfs and
// rsync finds no difference with a pristine copy; deep paths beyond
// PATH_MAX and 254-byte names come along (C08).
func TestMoveFidelity(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := genDomain(t, base, 120, 7, true)
	a := firstExtras(t, dom)
	arel, err := filepath.Rel(dom, a)
	must(t, err)
	must(t, unix.Mkfifo(filepath.Join(a, "fifo"), 0o640))
	deep := filepath.Join(a, "Deep.mdir")
	must(t, os.Mkdir(deep, 0o700))
	fd, err := unix.Open(deep, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	must(t, err)
	seg := strings.Repeat("f", 200)
	for i := 0; i < 25; i++ { // 25 × 201 bytes: beyond PATH_MAX
		must(t, unix.Mkdirat(fd, seg, 0o700))
		nfd, err := unix.Openat(fd, seg, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		must(t, err)
		unix.Close(fd)
		fd = nfd
	}
	f, err := unix.Openat(fd, "deep.msg", unix.O_CREAT|unix.O_WRONLY, 0o600)
	must(t, err)
	unix.Write(f, []byte("deep message\n"))
	unix.Close(f)
	unix.Close(fd)
	keep := pristineDeep(t, dom)
	vol := testfs.Scratch(t, "xfs")
	res, err := runMove(t, dom, vol)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(vol, "Domains", filepath.Base(dom))
	assertLinked(t, dom, dest)
	assertNoTemp(t, filepath.Join(base, "Domains"))
	if res.Swap != "exchange" {
		t.Errorf("swap %q, want exchange on xfs", res.Swap)
	}
	if res.Verify.Count != 0 || res.Verify.Checksums == 0 {
		t.Errorf("verify: %+v", res.Verify)
	}
	// rsync cannot descend beyond PATH_MAX: compare everything but Deep.mdir
	// with it, and the deep file by descriptor.
	sameTreeExcept(t, keep, dest, "Deep.mdir")
	if got := readDeep(t, filepath.Join(dest, arel, "Deep.mdir"), seg, 25); got != "deep message\n" {
		t.Errorf("deep file reads %q", got)
	}
	sp := lstat(t, filepath.Join(dest, arel, "account.web"))
	if sp.Size != 8<<20 || sp.Blocks*512 > 256<<10 {
		t.Errorf("sparse file: size %d, allocated %d bytes: holes were filled", sp.Size, sp.Blocks*512)
	}
}

func pristineDeep(t *testing.T, dom string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pristine")
	cmd := exec.Command("rsync", "-aHAX", "--exclude=Deep.mdir", dom+"/", out+"/")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rsync: %v\n%s", err, b)
	}
	return out
}

func sameTreeExcept(t *testing.T, a, b, exclude string) {
	t.Helper()
	out, err := exec.Command("rsync", "-aHAXn", "--checksum", "--itemize-changes", "--delete", "--exclude="+exclude, a+"/", b+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("rsync: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("rsync reports differences:\n%s", s)
	}
}

func readDeep(t *testing.T, dir, seg string, depth int) string {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	must(t, err)
	for i := 0; i < depth; i++ {
		nfd, err := unix.Openat(fd, seg, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		must(t, err)
		unix.Close(fd)
		fd = nfd
	}
	defer unix.Close(fd)
	f, err := unix.Openat(fd, "deep.msg", unix.O_RDONLY, 0)
	must(t, err)
	defer unix.Close(f)
	buf := make([]byte, 100)
	n, _ := unix.Read(f, buf)
	return string(buf[:n])
}

// C09: a move across filesystems is a copy, verify, swap and delete; on a
// bind mount of the same filesystem (same st_dev, rename gives EXDEV) too;
// on the same mount it is refused with a rename offered.
func TestC09_CrossDeviceMove(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := filepath.Join(base, "Domains", "example.test")
	for _, s := range []string{"a.sub", "b.sub", "c.sub"} {
		mkAcct(t, filepath.Join(dom, s), "acct0001")
	}
	keep := pristine(t, filepath.Join(dom, "a.sub"))
	vol := testfs.Scratch(t, "tmpfs")
	if _, err := runMove(t, filepath.Join(dom, "a.sub"), vol); err != nil {
		t.Fatal(err)
	}
	assertLinked(t, filepath.Join(dom, "a.sub"), filepath.Join(vol, "Domains/example.test/a.sub"))
	sameTree(t, keep, filepath.Join(dom, "a.sub"))
	assertNoTemp(t, dom)

	// Same filesystem, same mount: refused, with the rename offered.
	same := filepath.Join(filepath.Dir(base), "samefs")
	must(t, os.Mkdir(same, 0o755))
	_, err := runMove(t, filepath.Join(dom, "b.sub"), same)
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "same filesystem") || !strings.Contains(errs.HintOf(err), "mv ") {
		t.Fatalf("same filesystem: got %v (hint %q), want a refusal offering a rename", err, errs.HintOf(err))
	}
	// Same filesystem through a bind mount: rename gives EXDEV, so copy.
	bind := filepath.Join(t.TempDir(), "bind")
	must(t, os.Mkdir(bind, 0o755))
	if out, err := exec.Command("mount", "--bind", same, bind).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind: %v %s", err, out)
	}
	defer exec.Command("umount", bind).Run()
	if err := os.Rename(filepath.Join(dom, "b.sub"), filepath.Join(bind, "probe")); !errors.Is(err, unix.EXDEV) {
		t.Fatalf("rename into the bind mount: %v, the test needs EXDEV", err)
	}
	keepB := pristine(t, filepath.Join(dom, "b.sub"))
	if _, err := runMove(t, filepath.Join(dom, "b.sub"), bind); err != nil {
		t.Fatal(err)
	}
	assertLinked(t, filepath.Join(dom, "b.sub"), filepath.Join(bind, "Domains/example.test/b.sub"))
	sameTree(t, keepB, filepath.Join(dom, "b.sub"))
	assertNoTemp(t, dom)

	// The offered rename is a command line that works as printed, for a
	// target whose path a shell would otherwise split.
	odd := filepath.Join(filepath.Dir(base), "same fs 'x'")
	must(t, os.Mkdir(odd, 0o755))
	keepC := pristine(t, filepath.Join(dom, "c.sub"))
	_, err = runMove(t, filepath.Join(dom, "c.sub"), odd)
	hint := errs.HintOf(err)
	i := strings.Index(hint, "mkdir -p ")
	if errs.KindOf(err) != errs.Refused || i < 0 {
		t.Fatalf("same filesystem, odd path: got %v (hint %q), want a refusal offering a rename", err, hint)
	}
	if out, err := exec.Command("sh", "-c", hint[i:]).CombinedOutput(); err != nil {
		t.Fatalf("the offered command %q: %v %s", hint[i:], err, out)
	}
	assertLinked(t, filepath.Join(dom, "c.sub"), filepath.Join(odd, "Domains/example.test/c.sub"))
	sameTree(t, keepC, filepath.Join(dom, "c.sub"))

	// With --relative, the offered link is relative too.
	mkAcct(t, filepath.Join(dom, "e.sub"), "acct0001")
	_, err = runMove(t, filepath.Join(dom, "e.sub"), odd, func(o *MoveOptions) { o.Relative = true })
	hint = errs.HintOf(err)
	if i = strings.Index(hint, "mkdir -p "); i < 0 {
		t.Fatalf("same filesystem, --relative: got %v (hint %q), want a rename offered", err, hint)
	}
	if out, err := exec.Command("sh", "-c", hint[i:]).CombinedOutput(); err != nil {
		t.Fatalf("the offered command %q: %v %s", hint[i:], err, out)
	}
	if text := readlink(t, filepath.Join(dom, "e.sub")); filepath.IsAbs(text) {
		t.Errorf("with --relative the offered link is absolute: %q", text)
	}
	if _, err := os.Stat(filepath.Join(dom, "e.sub", "acct0001.macnt")); err != nil {
		t.Errorf("the offered relative link does not resolve: %v", err)
	}

	// With the path at the target taken, no rename is offered: it would
	// put the directory inside the one standing there.
	mkAcct(t, filepath.Join(dom, "d.sub"), "acct0001")
	must(t, os.MkdirAll(filepath.Join(odd, "Domains/example.test/d.sub"), 0o755))
	_, err = runMove(t, filepath.Join(dom, "d.sub"), odd)
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "already exists") || strings.Contains(errs.HintOf(err), "mv ") {
		t.Fatalf("same filesystem, target taken: got %v (hint %q), want a refusal that offers no rename", err, errs.HintOf(err))
	}
}

func randomFiles(t *testing.T, dir string, n, size int) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o700))
	for i := 0; i < n; i++ {
		b := make([]byte, size)
		rand.Read(b)
		must(t, os.WriteFile(filepath.Join(dir, strings.Repeat("m", 1)+string(rune('0'+i))+".msg"), b, 0o600))
	}
}

// assertUntouched checks that src still matches its pristine copy and is a
// directory, and that nothing of the move is left on the target volume.
func assertUntouched(t *testing.T, src, keep, vol string) {
	t.Helper()
	if st := lstat(t, src); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatalf("%s is no longer a directory", src)
	}
	sameTree(t, keep, src)
	for _, n := range entries(t, vol) {
		if n != "lost+found" {
			t.Errorf("left on the target: %s", n)
		}
	}
	assertNoTemp(t, filepath.Dir(src))
}

// tooSmallTarget is a store on ext4 whose domain dom holds 4.5 MB (keep is
// its pristine copy) and a 2 MB tmpfs volume small it cannot fit on.
func tooSmallTarget(t *testing.T) (base, dom, keep, small string) {
	t.Helper()
	needRoot(t)
	base = newBase(t, "ext4")
	dom = filepath.Join(base, "Domains", "example.test")
	randomFiles(t, filepath.Join(mkAcct(t, dom, "acct0001"), "INBOX.mdir"), 3, 1536<<10)
	return base, dom, pristine(t, dom), testfs.Mount(t, 2, "tmpfs")
}

// C11: a target too small is refused up front; if space runs out anyway
// the copy error stops the move, the partial copy goes, the source stays,
// and a later move to a larger target completes.
func TestC11_TargetFull(t *testing.T) {
	base, dom, keep, small := tooSmallTarget(t)

	_, err := runMove(t, dom, small)
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "not enough space") {
		t.Fatalf("got %v, want a refusal for space", err)
	}
	assertUntouched(t, dom, keep, small)

	res, err := runMove(t, dom, small, func(o *MoveOptions) { o.skipSpaceCheck = true })
	if err == nil || errs.KindOf(err) != errs.Failed || !strings.Contains(err.Error(), "out of space, inodes, or directory index") {
		t.Fatalf("got %v, want a failure naming a full target", err)
	}
	if res == nil || res.Outcome != "rolled back" || res.Swap != "" {
		t.Fatalf("result %+v, want rolled back without a swap", res)
	}
	assertUntouched(t, dom, keep, small)
	if open, _ := Unfinished(base); len(open) != 0 {
		t.Errorf("journal left unfinished: %v", open)
	}
	big := testfs.Scratch(t, "tmpfs")
	if _, err := runMove(t, dom, big); err != nil {
		t.Fatalf("move to a larger target: %v", err)
	}
	sameTree(t, keep, dom)
}

// C12: few inodes on the target: refused up front from statfs; when it
// runs out anyway the message says inodes may be the cause.
func TestC12_OutOfInodes(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := filepath.Join(base, "Domains", "example.test")
	cur := filepath.Join(mkAcct(t, dom, "acct0001"), "INBOX.mdir")
	must(t, os.Mkdir(cur, 0o700))
	for j := 0; j < 700; j++ {
		must(t, os.WriteFile(filepath.Join(cur, strings.Repeat("x", 3)+itoa(j)+".msg"), nil, 0o600))
	}
	keep := pristine(t, dom)
	tgt := testfs.Mount(t, 64, "mkfs.ext4", "-q", "-N", "512")
	_, err := runMove(t, dom, tgt)
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "not enough inodes") {
		t.Fatalf("got %v, want a refusal for inodes", err)
	}
	assertUntouched(t, dom, keep, tgt)
	_, err = runMove(t, dom, tgt, func(o *MoveOptions) { o.skipSpaceCheck = true })
	if errs.KindOf(err) != errs.Failed || !strings.Contains(err.Error(), "out of space, inodes, or directory index") {
		t.Fatalf("got %v, want a failure naming inodes", err)
	}
	assertUntouched(t, dom, keep, tgt)
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)))
}

// C13: a part of the source that cannot be read refuses the move, naming
// it; nothing is swapped or deleted. A target already holding a copy is
// refused and left alone.
func TestC13_UnreadableSource(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := filepath.Join(base, "Domains", "example.test")
	a := mkAcct(t, filepath.Join(dom, "a.sub"), "acct0001")
	arch := filepath.Join(a, "Archive.mdir")
	randomFiles(t, arch, 1, 100)
	vol := testfs.Scratch(t, "tmpfs")
	must(t, os.Chmod(vol, 0o1777))
	for d := base; d != "/"; d = filepath.Dir(d) {
		st := lstat(t, d)
		must(t, os.Chmod(d, os.FileMode(st.Mode&0o7777)|0o755))
	}
	must(t, exec.Command("chmod", "-R", "a+rwX", base).Run())
	must(t, os.Chmod(arch, 0))
	cmd := helper(t, []string{"CGSCALE_MIGRATE_HELPER=move", "SRC=" + filepath.Join(dom, "a.sub"), "VOL=" + vol}, 65534)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the move of an unreadable tree succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "Archive.mdir") {
		t.Fatalf("error does not name the unreadable directory:\n%s", out)
	}
	must(t, os.Chmod(arch, 0o700))
	if st := lstat(t, filepath.Join(dom, "a.sub")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatal("source swapped")
	}
	if _, err := os.Stat(filepath.Join(arch, "m0.msg")); err != nil {
		t.Fatalf("source lost a file: %v", err)
	}
	if len(entries(t, vol)) != 0 {
		t.Errorf("target not empty: %v", entries(t, vol))
	}

	// A complete copy already at the destination: refused, left as it is.
	dest := filepath.Join(vol, "Domains/example.test/a.sub")
	if b, err := exec.Command("cp", "-a", filepath.Join(dom, "a.sub"), dest+"/").CombinedOutput(); err != nil {
		must(t, os.MkdirAll(filepath.Dir(dest), 0o755))
		if b, err = exec.Command("cp", "-a", filepath.Join(dom, "a.sub"), dest).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, b)
		}
	}
	_, err = runMove(t, filepath.Join(dom, "a.sub"), vol)
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("got %v, want a refusal: the destination exists", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "acct0001.macnt", "Archive.mdir", "m0.msg")); err != nil {
		t.Fatalf("the existing copy was touched: %v", err)
	}
}

// C16: hard links stay hard links, sparse files stay sparse, and a hard
// link to outside the moved tree is reported before the move.
func TestC16_HardLinksAndSparse(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := filepath.Join(base, "Domains", "example.test")
	a := mkAcct(t, filepath.Join(dom, "a.sub"), "acct0001")
	randomFiles(t, filepath.Join(a, "INBOX.mdir"), 1, 65536)
	must(t, os.Mkdir(filepath.Join(a, "Archive.mdir"), 0o700))
	must(t, os.Link(filepath.Join(a, "INBOX.mdir", "m0.msg"), filepath.Join(a, "Archive.mdir", "m0.msg")))
	f, err := os.Create(filepath.Join(a, "cache.bin"))
	must(t, err)
	must(t, f.Truncate(64<<20))
	f.Close()
	b := mkAcct(t, filepath.Join(dom, "b.sub"), "acct0002")
	must(t, os.Link(filepath.Join(a, "INBOX.mdir", "m0.msg"), filepath.Join(b, "shared.msg")))
	vol := testfs.Scratch(t, "xfs")

	plan, err := PlanMove(context.Background(), MoveOptions{Src: filepath.Join(dom, "a.sub"), VolumeDir: vol})
	must(t, err)
	if plan.Totals.SharedOut != 1 || !strings.Contains(strings.Join(plan.Warnings, "\n"), "hard links outside") {
		t.Fatalf("plan does not report the link leaving the tree: %+v %v", plan.Totals, plan.Warnings)
	}
	if plan.Totals.Allocated > 1<<20 {
		t.Errorf("space estimate %d counts holes or counts an inode twice", plan.Totals.Allocated)
	}
	if _, err := runMove(t, filepath.Join(dom, "a.sub"), vol); err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(vol, "Domains/example.test/a.sub/acct0001.macnt")
	x, y := lstat(t, filepath.Join(d, "INBOX.mdir/m0.msg")), lstat(t, filepath.Join(d, "Archive.mdir/m0.msg"))
	if x.Ino != y.Ino || x.Nlink != 2 {
		t.Errorf("hard link split: inodes %d %d, links %d", x.Ino, y.Ino, x.Nlink)
	}
	sp := lstat(t, filepath.Join(d, "cache.bin"))
	if sp.Size != 64<<20 || sp.Blocks*512 > 64<<10 {
		t.Errorf("sparse file: size %d, %d bytes allocated", sp.Size, sp.Blocks*512)
	}
	if st := lstat(t, filepath.Join(b, "shared.msg")); st.Nlink != 1 {
		t.Errorf("the link left behind still has %d names", st.Nlink)
	}
}

// C17: extended attributes on files and directories arrive; one the
// target refuses is named, and nothing is swapped unless the loss is
// accepted.
func TestC17_ExtendedAttributes(t *testing.T) {
	needRoot(t)
	base := newBase(t, "tmpfs")
	dom := filepath.Join(base, "Domains", "example.test")
	a := mkAcct(t, filepath.Join(dom, "a.sub"), "acct0001")
	msg := filepath.Join(a, "INBOX.mbox")
	must(t, unix.Setxattr(a, "user.quota.bytes", []byte("1048576"), 0))
	must(t, unix.Setxattr(msg, "user.mail.flags", []byte("Seen"), 0))
	must(t, unix.Setxattr(msg, "user.big", bytes.Repeat([]byte("x"), 3000), 0))
	keep := pristine(t, filepath.Join(dom, "a.sub"))

	small := testfs.Mount(t, 16, "mkfs.ext4", "-q", "-b", "1024")
	_, err := runMove(t, filepath.Join(dom, "a.sub"), small)
	if err == nil || !strings.Contains(err.Error(), "user.big") {
		t.Fatalf("got %v, want a failure naming user.big", err)
	}
	assertUntouched(t, filepath.Join(dom, "a.sub"), keep, small)

	res, err := runMove(t, filepath.Join(dom, "a.sub"), small, func(o *MoveOptions) { o.AllowXattrLoss = true })
	if err != nil {
		t.Fatalf("with --allow-xattr-loss: %v", err)
	}
	if len(res.Copy.XattrLosses) != 1 || res.Copy.XattrLosses[0].Name != "user.big" {
		t.Errorf("losses %+v, want user.big only", res.Copy.XattrLosses)
	}
	d := filepath.Join(small, "Domains/example.test/a.sub/acct0001.macnt")
	for p, want := range map[string]string{d: "user.quota.bytes", filepath.Join(d, "INBOX.mbox"): "user.mail.flags"} {
		got, err := xattrs(-1, p)
		must(t, err)
		if _, ok := got[want]; !ok {
			t.Errorf("%s lost %s (has %v)", p, want, got)
		}
	}

	// A target that takes them all: every attribute arrives.
	other := mkAcct(t, filepath.Join(dom, "b.sub"), "acct0002")
	must(t, unix.Setxattr(other, "user.quota.bytes", []byte("7"), 0))
	must(t, unix.Setxattr(filepath.Join(other, "INBOX.mbox"), "user.big", bytes.Repeat([]byte("y"), 3000), 0))
	keepB := pristine(t, filepath.Join(dom, "b.sub"))
	if _, err := runMove(t, filepath.Join(dom, "b.sub"), testfs.Scratch(t, "ext4")); err != nil {
		t.Fatal(err)
	}
	sameTree(t, keepB, filepath.Join(dom, "b.sub"))
}

// C19: readers never see the path missing during an exchange swap; the
// fallback of two renames works too; no temporary names remain.
func TestC19_AtomicSwap(t *testing.T) {
	needRoot(t)
	for _, twoRenames := range []bool{false, true} {
		base := newBase(t, "ext4")
		dom := filepath.Join(base, "Domains", "example.test")
		for i := 0; i < 200; i++ {
			mkAcct(t, filepath.Join(dom, "a.sub"), "acct"+itoa(i))
		}
		src := filepath.Join(dom, "a.sub")
		msg := filepath.Join(src, "acct000.macnt", "INBOX.mbox")
		var reads, misses atomic.Int64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := os.ReadFile(msg); err != nil {
					misses.Add(1)
				}
				reads.Add(1)
			}
		}()
		res, err := runMove(t, src, testfs.Scratch(t, "xfs"), func(o *MoveOptions) { o.forceTwoRenames = twoRenames; o.KeepSource = twoRenames })
		close(stop)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		want := "exchange"
		if twoRenames {
			want = "two renames"
		}
		if res.Swap != want {
			t.Errorf("swap %q, want %q", res.Swap, want)
		}
		if !twoRenames && misses.Load() != 0 {
			t.Errorf("%d of %d reads failed during an exchange swap", misses.Load(), reads.Load())
		}
		if twoRenames {
			if res.Kept == "" || lstat(t, res.Kept).Mode&unix.S_IFMT != unix.S_IFDIR {
				t.Errorf("--keep-source: kept tree missing (%q)", res.Kept)
			}
			must(t, os.RemoveAll(res.Kept))
		}
		assertNoTemp(t, dom)
		t.Logf("%s: %d reads, %d misses", want, reads.Load(), misses.Load())
	}
}

// C21: the command explains the link and warns when the server's view
// (a container, a chroot) would not resolve it; the link gets the owner of
// the directory it replaces; --relative resolves from where the link is.
func TestC21_ServerView(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := filepath.Join(base, "Domains", "example.test")
	mkAcct(t, dom, "acct0001")
	must(t, os.Lchown(dom, 1234, 2345))
	vol := testfs.Scratch(t, "tmpfs")
	views := []View{{Host: base, Server: "/var/CommuniGate"}}
	plan, err := PlanMove(context.Background(), MoveOptions{Src: dom, VolumeDir: vol, Views: views})
	must(t, err)
	if !strings.Contains(strings.Join(plan.Warnings, "\n"), "does not resolve") {
		t.Fatalf("no warning for a link the server cannot follow: %v", plan.Warnings)
	}
	views = append(views, View{Host: vol, Server: vol})
	plan, err = PlanMove(context.Background(), MoveOptions{Src: dom, VolumeDir: vol, Views: views})
	must(t, err)
	if len(plan.Warnings) != 0 {
		t.Fatalf("warnings with the volume visible at the same path: %v", plan.Warnings)
	}
	if !strings.Contains(plan.LinkWhy, "absolute") {
		t.Errorf("the reason for an absolute link is not given: %q", plan.LinkWhy)
	}
	if _, err := runMove(t, dom, vol, func(o *MoveOptions) { o.Relative = true }); err != nil {
		t.Fatal(err)
	}
	text, err := os.Readlink(dom)
	must(t, err)
	if filepath.IsAbs(text) {
		t.Errorf("--relative made %q", text)
	}
	assertLinked(t, dom, filepath.Join(vol, "Domains/example.test"))
	if st := lstat(t, dom); st.Uid != 1234 || st.Gid != 2345 {
		t.Errorf("link owned by %d:%d, want 1234:2345 like the directory it replaced", st.Uid, st.Gid)
	}
}

// C22: the data goes into a subdirectory of the volume, never its mount
// point, so an unmounted volume leaves a dangling link, not an empty tree;
// the journal records the target's device and filesystem id.
func TestC22_LinkIntoVolumeSubdirectory(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := filepath.Join(base, "Domains", "example.test")
	mkAcct(t, dom, "acct0001")
	vol := testfs.Mount(t, 8, "tmpfs")
	res, err := runMove(t, dom, vol)
	must(t, err)
	text, _ := os.Readlink(dom)
	if text != filepath.Join(vol, "Domains", "example.test") {
		t.Fatalf("link text %q, want a subdirectory of the volume", text)
	}
	recs, err := ReadJournal(res.Journal)
	must(t, err)
	b, _ := beginRecord(recs, 0, "move")
	var st unix.Stat_t
	must(t, unix.Stat(vol, &st))
	if b.Dev != st.Dev || b.FSID == "" {
		t.Errorf("journal records device %d fsid %q, volume is device %d", b.Dev, b.FSID, st.Dev)
	}
	if out, err := exec.Command("umount", vol).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dom, "acct0001.macnt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("with the volume unmounted the link still resolves (%v): it must dangle", err)
	}
}

// C23: the probe refuses a target where the mail server's operations fail.
func TestC23_ProbeRefusesTarget(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := filepath.Join(base, "Domains", "example.test")
	mkAcct(t, dom, "acct0001")
	vol := testfs.Scratch(t, "tmpfs")
	plan, err := PlanMove(context.Background(), MoveOptions{Src: dom, VolumeDir: vol})
	must(t, err)
	ops := []string{}
	for _, p := range plan.Target.Probe {
		if p.Err != "" {
			t.Errorf("probe %s failed on tmpfs: %s", p.Op, p.Err)
		}
		ops = append(ops, p.Op)
	}
	for _, want := range []string{"exclusive create", "hard link", "rename", "symbolic link", "user.* extended attribute"} {
		if !strings.Contains(strings.Join(ops, ","), want) {
			t.Errorf("probe does not try %s (tried %v)", want, ops)
		}
	}
	ro := testfs.Mount(t, 8, "tmpfs")
	if out, err := exec.Command("mount", "-o", "remount,ro", ro).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	_, err = runMove(t, dom, ro)
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "fails there") {
		t.Fatalf("got %v, want the probe to refuse a read-only target", err)
	}
	if st := lstat(t, dom); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatal("source changed")
	}
}

// When the two-renames swap cannot rename the link in and then cannot put
// the directory back either, nothing is rolled back: the copy stays, the
// journal stays open, and --resume (or --abort) completes from there.
func TestSwapPutBackFails(t *testing.T) {
	needRoot(t)
	for _, abort := range []bool{false, true} {
		t.Run(map[bool]string{false: "resume", true: "abort"}[abort], func(t *testing.T) {
			base := newBase(t, "ext4")
			dom := genDomain(t, base, 10, 7, false)
			keep := pristine(t, dom)
			vol := testfs.Scratch(t, "tmpfs")
			injected := errors.New("injected failure")
			_, err := runMove(t, dom, vol, func(o *MoveOptions) {
				o.forceTwoRenames = true
				o.swapFault = func(step string) error {
					if step == "link in" || step == "put back" {
						return injected
					}
					return nil
				}
			})
			if err == nil || !errors.Is(err, injected) || !strings.Contains(errs.HintOf(err), "--resume") {
				t.Fatalf("move: %v (hint %q), want the put-back failure with a hint to resume", err, errs.HintOf(err))
			}
			recs := openJob(t, base, "the journal was closed after a half-done swap")
			if reached(recs, 0, "move", "rolling back") {
				t.Fatalf("a half-done swap was rolled back")
			}
			b, _ := beginRecord(recs, 0, "move")
			dest := filepath.Join(vol, "Domains", filepath.Base(dom))
			sameTree(t, keep, filepath.Join(filepath.Dir(dom), b.Temp+".old"))
			sameTree(t, keep, dest)
			res, err := Resume(context.Background(), base, abort, MoveOptions{Jobs: 2})
			if err != nil {
				t.Fatalf("resume (abort %v): %v", abort, err)
			}
			if abort {
				if res.Outcome != "rolled back" {
					t.Fatalf("abort: %+v", res)
				}
				assertUntouched(t, dom, keep, vol)
				return
			}
			if res.Outcome != "moved" {
				t.Fatalf("resume: %+v", res)
			}
			assertMoved(t, dom, dest, keep)
		})
	}
}

// --keep-source never replaces what stands at the kept name: an empty
// directory put there during the move stays, the rename is refused, and
// the old tree stays under its temporary name for --resume.
func TestKeepNameNotReplaced(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := genDomain(t, base, 10, 8, false)
	keep := pristine(t, dom)
	vol := testfs.Scratch(t, "tmpfs")
	var blocker string
	_, err := runMove(t, dom, vol, func(o *MoveOptions) {
		o.KeepSource = true
		o.Phase = func(p string) {
			if p != "swap" {
				return
			}
			open, err := Unfinished(base)
			if err != nil || len(open) != 1 {
				t.Errorf("unfinished journals: %v %v", open, err)
				return
			}
			id := strings.TrimSuffix(filepath.Base(open[0]), ".jsonl")
			blocker = filepath.Join(filepath.Dir(dom), "."+filepath.Base(dom)+".cgscale-kept-"+id)
			must(t, os.Mkdir(blocker, 0o755))
		}
	})
	if err == nil || !strings.Contains(err.Error(), "keep") {
		t.Fatalf("move: %v, want the keep rename refused", err)
	}
	if ents := entries(t, blocker); len(ents) != 0 {
		t.Fatalf("the directory at the kept name was replaced: %v", ents)
	}
	assertLinked(t, dom, filepath.Join(vol, "Domains", filepath.Base(dom)))
	sameTree(t, keep, dom)
}

// A failed fsync of the store directory after the swap is an error: the
// step is not journaled, nothing is rolled back, the job stays open, and
// --resume finishes from what it finds on disk.
func TestSwapSyncFails(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := genDomain(t, base, 10, 10, false)
	keep := pristine(t, dom)
	vol := testfs.Scratch(t, "tmpfs")
	injected := errors.New("injected fsync failure")
	_, err := runMove(t, dom, vol, func(o *MoveOptions) {
		o.swapFault = failAt("sync", injected)
	})
	if !errors.Is(err, injected) || !strings.Contains(errs.HintOf(err), "--resume") {
		t.Fatalf("move: %v (hint %q), want the sync failure with a hint to resume", err, errs.HintOf(err))
	}
	recs := openJob(t, base, "the job was closed after a failed sync")
	for _, s := range []string{"swapped", "rolling back"} {
		if reached(recs, 0, "move", s) {
			t.Errorf("%q journaled after the sync failed", s)
		}
	}
	res, err := Resume(context.Background(), base, false, MoveOptions{Jobs: 2})
	if err != nil || res.Outcome != "moved" {
		t.Fatalf("resume: %+v %v", res, err)
	}
	assertMoved(t, dom, filepath.Join(vol, "Domains", filepath.Base(dom)), keep)
}

// --keep-source journals the kept path before the old tree is renamed
// there: when the job stops right after the rename (here a failed sync),
// the journal already names where the old tree is, and --resume reports it.
func TestKeepJournaledBeforeRename(t *testing.T) {
	needRoot(t)
	base := newBase(t, "ext4")
	dom := genDomain(t, base, 10, 11, false)
	vol := testfs.Scratch(t, "tmpfs")
	injected := errors.New("injected fsync failure")
	syncs := 0
	_, err := runMove(t, dom, vol, func(o *MoveOptions) {
		o.KeepSource = true
		o.swapFault = func(step string) error {
			if step == "sync" {
				if syncs++; syncs == 2 { // the sync after the keep rename
					return injected
				}
			}
			return nil
		}
	})
	if !errors.Is(err, injected) {
		t.Fatalf("move: %v, want the injected sync failure after the keep", err)
	}
	recs := openJob(t, base, "the job was closed after a failed sync")
	kept := ""
	for _, r := range recs {
		if r.Op == 0 && r.Kind == "move" && r.Step == "keeping" {
			kept = r.Kept
		}
	}
	if kept == "" {
		t.Fatalf("no record names the kept path before the rename: %+v", recs)
	}
	if st := lstat(t, kept); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatalf("the journaled kept path %s is not the old tree", kept)
	}
	res, err := Resume(context.Background(), base, false, MoveOptions{Jobs: 2})
	if err != nil || res.Outcome != "moved" || res.Kept != kept {
		t.Fatalf("resume: %+v %v, want moved with kept %s", res, err, kept)
	}
	assertLinked(t, dom, filepath.Join(vol, "Domains", filepath.Base(dom)))
}

// Files are created with their permission bits and then given only the
// owner and mode that still differ: set-id bits survive a change of owner,
// bits the umask took away are put back, and a file already owned right
// keeps its owner; each whether the copy runs under umask 022 or 077.
func TestCopyOwnersAndModes(t *testing.T) {
	needRoot(t)
	type want struct {
		mode     uint32
		uid, gid int
	}
	files := map[string]want{
		"setuid.bin":   {0o4755, 1234, 5678},
		"setgid.bin":   {0o2750, 0, 0},
		"sticky.msg":   {0o1644, 0, 0},
		"none.msg":     {0o000, 42, 42},
		"open.msg":     {0o777, 0, 0},
		"group.msg":    {0o660, 0, 8},
		"mine.msg":     {0o644, 0, 0},
		"private.msg":  {0o600, 1000, 1000},
		"readonly.msg": {0o444, 1000, 0},
	}
	// Directories get theirs only where they differ from those a new
	// directory has: one made in a set-group-ID directory starts with
	// that bit and that group, as the copy's top one does here.
	dirs := map[string]want{
		".":                   {0o750, 1000, 1000},
		"a.macnt":             {0o700, 0, 0},
		"b.macnt":             {0o700, 1234, 5678},
		"c.macnt":             {0o2770, 0, 8},
		"c.macnt/INBOX.mdir":  {0o2770, 1000, 8},
		"d.macnt":             {0o1777, 42, 42},
		"d.macnt/Trash.mdir":  {0o000, 0, 0},
		"e.macnt":             {0o755, 0, 99},
		"e.macnt/Drafts.mdir": {0o700, 0, 99},
	}
	for _, mask := range []int{0o022, 0o077} {
		t.Run(fmt.Sprintf("umask%03o", mask), func(t *testing.T) {
			base := newBase(t, "ext4")
			dom := filepath.Join(base, "Domains", "modes.test")
			for rel := range dirs {
				must(t, os.MkdirAll(filepath.Join(dom, rel), 0o755))
			}
			for name, w := range files {
				p := filepath.Join(dom, "a.macnt", name)
				must(t, os.WriteFile(p, []byte(name), 0o600))
				must(t, os.Lchown(p, w.uid, w.gid))
				must(t, unix.Chmod(p, w.mode))
			}
			for rel, w := range dirs {
				p := filepath.Join(dom, rel)
				must(t, os.Lchown(p, w.uid, w.gid))
				must(t, unix.Chmod(p, w.mode))
			}
			old := unix.Umask(mask)
			defer unix.Umask(old)
			vol := testfs.Scratch(t, "tmpfs")
			must(t, os.Mkdir(filepath.Join(vol, "Domains"), 0o755))
			must(t, os.Chown(filepath.Join(vol, "Domains"), 0, 77))
			must(t, unix.Chmod(filepath.Join(vol, "Domains"), 0o2775))
			if _, err := runMove(t, dom, vol, func(o *MoveOptions) { o.MetaOnly = true }); err != nil {
				t.Fatal(err)
			}
			copied := filepath.Join(vol, "Domains", "modes.test")
			if st := lstat(t, filepath.Join(vol, "Domains")); st.Mode&unix.S_ISGID == 0 || st.Gid != 77 {
				t.Fatalf("the copy's parent: mode %04o group %d; the test needs it set-group-ID with group 77", st.Mode&0o7777, st.Gid)
			}
			for name, w := range files {
				st := lstat(t, filepath.Join(copied, "a.macnt", name))
				if st.Mode&0o7777 != w.mode || int(st.Uid) != w.uid || int(st.Gid) != w.gid {
					t.Errorf("%s: mode %04o owner %d:%d in the copy, want %04o %d:%d", name, st.Mode&0o7777, st.Uid, st.Gid, w.mode, w.uid, w.gid)
				}
			}
			for rel, w := range dirs {
				st := lstat(t, filepath.Join(copied, rel))
				if st.Mode&0o7777 != w.mode || int(st.Uid) != w.uid || int(st.Gid) != w.gid {
					t.Errorf("directory %s: mode %04o owner %d:%d in the copy, want %04o %d:%d", rel, st.Mode&0o7777, st.Uid, st.Gid, w.mode, w.uid, w.gid)
				}
			}
		})
	}
}

// A rollback whose final sync fails (after the partial copy is deleted)
// does not close the job as rolled back: the journal stays open, and
// --abort syncs again and closes it, with the source untouched throughout.
func TestRollbackSyncFails(t *testing.T) {
	base, dom, keep, small := tooSmallTarget(t)
	injected := errors.New("injected syncfs failure")
	_, err := runMove(t, dom, small, func(o *MoveOptions) {
		o.skipSpaceCheck = true
		o.swapFault = failAt("rollback sync", injected)
	})
	if !errors.Is(err, injected) || !strings.Contains(errs.HintOf(err), "--abort") {
		t.Fatalf("move: %v (hint %q), want the sync failure with a hint to abort", err, errs.HintOf(err))
	}
	recs := openJob(t, base, "the job was closed although the rollback was not durable")
	if reached(recs, 0, "move", StepRolledBack) {
		t.Errorf("%q journaled after the sync failed", StepRolledBack)
	}
	res, err := Resume(context.Background(), base, true, MoveOptions{Jobs: 2})
	if err != nil || res.Outcome != "rolled back" {
		t.Fatalf("abort: %+v %v", res, err)
	}
	assertUntouched(t, dom, keep, small)
	if open, _ := Unfinished(base); len(open) != 0 {
		t.Errorf("journal left unfinished after --abort: %v", open)
	}
}
