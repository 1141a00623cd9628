package migrate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/internal/testfs"
	"github.com/cgscale/cgscale/layout"
)

// newBase makes an empty store base (with Domains/ and Settings/) on the
// named volume.
func newBase(t *testing.T, vol string) string {
	t.Helper()
	base := filepath.Join(testfs.Scratch(t, vol), "CommuniGate")
	must(t, os.MkdirAll(filepath.Join(base, "Domains"), 0o755))
	must(t, os.MkdirAll(filepath.Join(base, "Settings"), 0o755))
	return base
}

// genDomain writes a store at base with `cgscale gen --extras`'s
// generator: one secondary domain of about n accounts (flat, or in prefix:1
// subdirectories), every multi-mailbox account shaped by --extras. It
// returns the domain's directory.
func genDomain(t *testing.T, base string, n int, seed uint64, subdirs bool) string {
	t.Helper()
	o := layout.GenOptions{Seed: seed, Accounts: n, Domains: 1, FlatFraction: 1, SingleFraction: 0.2, Extras: true, ForceInto: true}
	if subdirs {
		o.FlatFraction = 0
	}
	res, err := layout.Generate(context.Background(), afero.NewOsFs(), base, o)
	must(t, err)
	for _, d := range res.DomainList {
		if !d.Main {
			return filepath.Join(base, filepath.FromSlash(d.Path))
		}
	}
	t.Fatal("gen wrote no secondary domain")
	return ""
}

// firstExtras returns the account of dom that --extras gave every kind of
// special content (the first of its domain: it has the sparse file and
// the deep path).
func firstExtras(t *testing.T, dom string) string {
	t.Helper()
	for _, pat := range []string{"*.macnt", "*.sub/*.macnt"} {
		found, err := filepath.Glob(filepath.Join(dom, pat, "Nested.mdir"))
		must(t, err)
		if len(found) > 0 {
			return filepath.Dir(found[0])
		}
	}
	t.Fatalf("no account with extras in %s", dom)
	return ""
}

// mkAcct makes a multi-mailbox account directory with one message.
func mkAcct(t *testing.T, dir, name string) string {
	t.Helper()
	a := filepath.Join(dir, name+".macnt")
	must(t, os.MkdirAll(a, 0o700))
	must(t, os.WriteFile(filepath.Join(a, "INBOX.mbox"), []byte("From a@b\nSubject: "+name+"\n\nbody\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(a, "account.settings"), []byte("{}\n"), 0o600))
	return a
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pristine copies dir aside (cp -a keeps links, owners, times, xattrs) to
// compare with the moved tree later.
func pristine(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pristine")
	if b, err := exec.Command("cp", "-a", dir, out).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, b)
	}
	return out
}

// sameTree runs rsync -aHAXn --checksum --itemize-changes from a to b and
// fails on any reported difference.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Fatalf("rsync is needed to compare trees: apt-get install rsync")
	}
	out, err := exec.Command("rsync", "-aHAXn", "--checksum", "--itemize-changes", "--delete", a+"/", b+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("rsync: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("rsync reports differences between %s and %s:\n%s", a, b, s)
	}
}

func runMove(t *testing.T, src, vol string, edit ...func(*MoveOptions)) (*MoveResult, error) {
	t.Helper()
	o := MoveOptions{Src: src, VolumeDir: vol, Jobs: 2}
	for _, f := range edit {
		f(&o)
	}
	return Move(context.Background(), o)
}

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(p, &st))
	return st
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// assertLinked checks that src is now a symbolic link resolving to dest.
func assertLinked(t *testing.T, src, dest string) {
	t.Helper()
	if st := lstat(t, src); st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Fatalf("%s is not a symbolic link after the move", src)
	}
	var a, b unix.Stat_t
	must(t, unix.Stat(src, &a))
	must(t, unix.Stat(dest, &b))
	if a.Dev != b.Dev || a.Ino != b.Ino {
		t.Fatalf("%s does not resolve to %s", src, dest)
	}
}

// assertNoTemp checks that no temporary or kept names are left in dir.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	for _, n := range entries(t, dir) {
		if strings.Contains(n, ".cgscale") {
			t.Errorf("%s left behind in %s", n, dir)
		}
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testfs.Unavailable(t, "this test changes owners and mounts volumes: run it as root (CI does)")
	}
}

func execOut(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// openJob reads the one unfinished job journal of base; it fails the test,
// saying why there should be exactly one, when there is none or more.
func openJob(t *testing.T, base, why string) []Record {
	t.Helper()
	open, err := Unfinished(base)
	must(t, err)
	if len(open) != 1 {
		t.Fatalf("%s: unfinished journals %v", why, open)
	}
	recs, err := ReadJournal(open[0])
	must(t, err)
	return recs
}

// failAt is a swapFault making the step named fail with err.
func failAt(name string, err error) func(string) error {
	return func(step string) error {
		if step == name {
			return err
		}
		return nil
	}
}

// assertMoved checks a finished move of dom: dom is a link resolving to
// dest, the tree there is the same as the pristine copy keep, and nothing
// temporary is left next to dom.
func assertMoved(t *testing.T, dom, dest, keep string) {
	t.Helper()
	assertLinked(t, dom, dest)
	sameTree(t, keep, dom)
	assertNoTemp(t, filepath.Dir(dom))
}

// dirFd opens the directory path for the test; it is closed when the
// test ends.
func dirFd(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Open(path, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	must(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}
