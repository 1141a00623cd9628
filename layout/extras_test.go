package layout

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// osManifest is manifest plus what --extras is about: link count,
// allocated blocks of sparse files, times in nanoseconds, owners, link
// texts and user.* attributes.
func osManifest(t *testing.T, root string) []string {
	t.Helper()
	base := manifest(t, afero.NewOsFs(), root)
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s nlink=%d owner=%d:%d", filepath.ToSlash(rel), st.Nlink, st.Uid, st.Gid)
		// Accounts get a fixed old time; the rest of the store (and the
		// directories above accounts) the time of writing.
		if mt := st.Mtim.Nano(); mt < extrasEpoch.AddDate(1, 0, 0).UnixNano() {
			line += fmt.Sprintf(" mtime=%d", mt)
		} else if st.Mode&unix.S_IFMT != unix.S_IFDIR && strings.Contains(rel, MacntSuffix) {
			line += " mtime=new"
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > 1<<20 {
			line += fmt.Sprintf(" sparse=%v", st.Blocks*512 < st.Size/2)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			text, _ := os.Readlink(p)
			line += " -> " + text
		}
		buf := make([]byte, 1024)
		if n, err := unix.Llistxattr(p, buf); err == nil && n > 0 {
			names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
			sort.Strings(names)
			line += " xattrs=" + strings.Join(names, ",")
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(base, out...)
}

// --extras gives the same tree for the same seed whatever the number of
// writers, down to times, link counts, holes, owners and attributes; and
// each kind it reports is on disk.
func TestGenExtras(t *testing.T) {
	dir := t.TempDir()
	osfs := afero.NewOsFs()
	o := GenOptions{Seed: 3, Accounts: 500, Domains: 3, Skew: 0.6, FlatFraction: 0.5, Scheme: DefaultScheme, SingleFraction: 0.1, Extras: true}
	o.Workers = 1
	res := generate(t, osfs, filepath.Join(dir, "a"), o)
	o.Workers = 16
	generate(t, osfs, filepath.Join(dir, "b"), o)
	ma, mb := osManifest(t, filepath.Join(dir, "a")), osManifest(t, filepath.Join(dir, "b"))
	if d := diff(ma, mb); d != "" {
		t.Fatalf("same seed, different trees with --extras:\n%s", d)
	}
	x := res.Extras
	if x == nil || x.HardLinks == 0 || x.Sparse == 0 || x.Symlinks == 0 || x.OddNames == 0 || x.DeepPaths == 0 {
		t.Fatalf("extras = %+v, want every kind", x)
	}
	var linked, sparse, odd, deep, dangling int64
	err := filepath.WalkDir(filepath.Join(dir, "a"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 2:
			linked++
		case st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 8<<20 && st.Blocks*512 < 1<<20:
			sparse++
		case st.Mode&unix.S_IFMT == unix.S_IFLNK && d.Name() == "dangling":
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s resolves", p)
			}
			dangling++
		}
		if strings.Contains(d.Name(), "\xff") || len(d.Name()) == 250 {
			odd++
		}
		if len(p)-len(dir) > 2000 && d.Name() == "1"+genMsgSuffix {
			deep++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if linked != 2*x.HardLinks || sparse != x.Sparse || odd != x.OddNames || deep != x.DeepPaths || 2*dangling != x.Symlinks {
		t.Errorf("on disk: %d linked names, %d sparse, %d odd names, %d deep, %d dangling; reported %+v", linked, sparse, odd, deep, dangling, x)
	}
	if os.Geteuid() == 0 && !x.Owners {
		t.Error("run as root, but no owners were set")
	}
	// Without --extras the tree is the one it always was.
	o.Extras = false
	plain := generate(t, osfs, filepath.Join(dir, "c"), o)
	if plain.Extras != nil || plain.Accounts != res.Accounts {
		t.Errorf("without --extras: extras %+v, %d accounts (with: %d)", plain.Extras, plain.Accounts, res.Accounts)
	}
}

// --extras refuses a filesystem other than the operating system's before
// writing anything.
func TestGenExtrasNeedsOsFs(t *testing.T) {
	mem := afero.NewMemMapFs()
	_, err := Generate(context.Background(), mem, "/store", GenOptions{Seed: 1, Accounts: 20, Domains: 1, Extras: true})
	if errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), "--extras needs the operating system's filesystem") {
		t.Fatalf("got %v, want a bad-input error about --extras", err)
	}
	if ok, _ := afero.Exists(mem, "/store"); ok {
		t.Error("gen wrote into the in-memory filesystem before refusing")
	}
}
