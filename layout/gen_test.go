package layout

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/cgscale/cgscale/errs"
)

// smallStore is a store with every feature switched on, small enough for
// a unit test.
func smallStore(seed uint64) GenOptions {
	return GenOptions{
		Seed: seed, Accounts: 600, Domains: 7, Skew: 0.4, FlatFraction: 0.4,
		Scheme: Scheme{"prefix", 2}, SingleFraction: 0.25, MdirFraction: 0.1,
		MdirMessages: 5, BigMailbox: 300, Queue: 40, Mounts: 2,
	}
}

// manifest lists every entry under root (path, kind, size, content hash),
// read with afero.Walk so that it works on MemMapFs as well as on OsFs.
func manifest(t *testing.T, afs afero.Fs, root string) []string {
	t.Helper()
	var out []string
	err := afero.Walk(afs, root, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %v", filepath.ToSlash(rel), fi.Mode().Type())
		if fi.Mode().IsRegular() {
			data, err := afero.ReadFile(afs, p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %d %x", len(data), sha256.Sum256(data))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func generate(t *testing.T, afs afero.Fs, base string, o GenOptions) *GenResult {
	t.Helper()
	res, err := Generate(context.Background(), afs, base, o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return res
}

func TestGenDeterministic(t *testing.T) {
	dir := t.TempDir()
	osfs := afero.NewOsFs()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	o := smallStore(7)
	o.Workers = 1
	generate(t, osfs, a, o)
	o.Workers = 16 // a different schedule must not change a byte
	generate(t, osfs, b, o)
	ma, mb := manifest(t, osfs, a), manifest(t, osfs, b)
	if len(ma) < 1000 {
		t.Fatalf("only %d entries generated", len(ma))
	}
	if d := diff(ma, mb); d != "" {
		t.Fatalf("same seed, different trees:\n%s", d)
	}
	// The in-memory filesystem gets the same tree (no links asked for).
	mem := afero.NewMemMapFs()
	generate(t, mem, "/store", o)
	if d := diff(ma, manifest(t, mem, "/store")); d != "" {
		t.Fatalf("MemMapFs tree differs from OsFs tree:\n%s", d)
	}
	o.Seed = 8
	generate(t, osfs, c, o)
	if diff(ma, manifest(t, osfs, c)) == "" {
		t.Fatal("seeds 7 and 8 gave identical trees")
	}
}

func diff(a, b []string) string {
	var out []string
	sa, sb := map[string]bool{}, map[string]bool{}
	for _, x := range a {
		sa[x] = true
	}
	for _, x := range b {
		sb[x] = true
	}
	for _, x := range a {
		if !sb[x] {
			out = append(out, "- "+x)
		}
	}
	for _, x := range b {
		if !sa[x] {
			out = append(out, "+ "+x)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}

// diskCount is what the test finds on disk, independently of Generate.
type diskCount struct {
	dirs, files, links, bytes int64
	multi, single, mdirs      int
	mdirMsgs                  int64
	largest                   int
}

// countTree counts entries below root without following links.
func countTree(t *testing.T, root string, c *diskCount) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			c.links++
		case d.IsDir():
			c.dirs++
		default:
			fi, err := d.Info()
			if err != nil {
				return err
			}
			c.files++
			c.bytes += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countAccounts counts the accounts of one domain directory, following
// relocation links, by the layout rules of the design notes.
func countAccounts(t *testing.T, dir string, top bool, c *diskCount) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name, p := e.Name(), filepath.Join(dir, e.Name())
		fi, err := os.Stat(p) // follows a relocation link
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		switch {
		case top && name == SettingsDir:
		case fi.IsDir() && strings.HasSuffix(name, MacntSuffix):
			c.multi++
			if msgs, err := os.ReadDir(filepath.Join(p, "INBOX"+MdirSuffix)); err == nil {
				c.mdirs++
				c.mdirMsgs += int64(len(msgs))
				c.largest = max(c.largest, len(msgs))
			}
		case fi.IsDir() && (strings.HasSuffix(name, SubSuffix) || strings.HasSuffix(name, MntSuffix)):
			countAccounts(t, p, false, c)
		case !fi.IsDir() && strings.HasSuffix(name, MboxSuffix):
			bare := strings.TrimSuffix(name, MboxSuffix)
			for _, sib := range []string{SettingsSuffix, InfoSuffix} {
				if _, err := os.Stat(filepath.Join(dir, bare+sib)); err != nil {
					t.Errorf("single-mailbox account %s lacks its %s sibling", p, sib)
				}
			}
			c.single++
		case strings.HasSuffix(name, SettingsSuffix), strings.HasSuffix(name, InfoSuffix):
		default:
			t.Errorf("unexpected entry %s in a domain", p)
		}
	}
}

func TestGenCountsMatchDisk(t *testing.T) {
	dir := t.TempDir()
	base, second := filepath.Join(dir, "store"), filepath.Join(dir, "vol2")
	o := smallStore(3)
	o.RelocateTo, o.Relocate = second, 3
	o.DomainSubdirs = &Scheme{"hash", 4}
	res := generate(t, afero.NewOsFs(), base, o)

	var disk diskCount
	countTree(t, base, &disk)
	countTree(t, second, &disk)
	got := diskCount{dirs: res.Dirs, files: res.Files, links: res.Links, bytes: res.Bytes}
	want := diskCount{dirs: disk.dirs, files: disk.files, links: disk.links, bytes: disk.bytes}
	if got != want {
		t.Errorf("result says %+v, disk holds %+v", got, want)
	}
	if res.Links != 3 || len(res.Relocations) != 3 {
		t.Errorf("want 3 relocation links, got %d (%d listed)", res.Links, len(res.Relocations))
	}

	var total diskCount
	sum := 0
	for _, d := range res.DomainList {
		var c diskCount
		countAccounts(t, filepath.Join(base, filepath.FromSlash(d.Path)), true, &c)
		if c.multi != d.Multi || c.single != d.Single || c.mdirs != d.MailboxDirs {
			t.Errorf("domain %q: result says %d multi, %d single, %d mailbox dirs; disk has %d, %d, %d",
				d.Name, d.Multi, d.Single, d.MailboxDirs, c.multi, c.single, c.mdirs)
		}
		if d.Multi+d.Single != d.Accounts {
			t.Errorf("domain %q: %d+%d != %d accounts", d.Name, d.Multi, d.Single, d.Accounts)
		}
		sum += d.Accounts
		total.multi += c.multi
		total.single += c.single
		total.mdirs += c.mdirs
		total.mdirMsgs += c.mdirMsgs
		total.largest = max(total.largest, c.largest)
	}
	if sum != o.Accounts || res.Accounts != o.Accounts || total.multi+total.single != o.Accounts {
		t.Errorf("asked for %d accounts; domains sum to %d, result says %d, disk has %d", o.Accounts, sum, res.Accounts, total.multi+total.single)
	}
	if res.MdirMsgs != total.mdirMsgs || res.Largest != total.largest || res.Largest != o.BigMailbox {
		t.Errorf("mailbox dir messages: result %d (largest %d), disk %d (largest %d)", res.MdirMsgs, res.Largest, total.mdirMsgs, total.largest)
	}
	q, err := os.ReadDir(filepath.Join(base, QueueDir))
	if err != nil || len(q) != o.Queue || res.Queue != o.Queue {
		t.Errorf("queue: %d files on disk (%v), result %d, want %d", len(q), err, res.Queue, o.Queue)
	}
	for _, top := range []string{SettingsDir, "SystemLogs", "Directory", "WebSkins", AccountsDir, DomainsDir} {
		if fi, err := os.Stat(filepath.Join(base, top)); err != nil || !fi.IsDir() {
			t.Errorf("missing top-level directory %s: %v", top, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(base, ProcessIDFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("gen wrote %s (the mark of a live server): %v", ProcessIDFile, err)
	}
}

func TestGenSkewAndDomains(t *testing.T) {
	o := GenOptions{Seed: 1, Accounts: 10000, Domains: 20, Skew: 0.3, FlatFraction: 1, Scheme: DefaultScheme}
	doms := planDomains(o)
	if !doms[0].Main || doms[0].Path != AccountsDir {
		t.Fatalf("first entry is not the Main Domain: %+v", doms[0].GenDomain)
	}
	rest := o.Accounts - doms[0].Accounts
	if want := 3000 - doms[0].Accounts*3/10; doms[1].Accounts < want-1 || doms[1].Accounts > want+1 {
		t.Errorf("first domain has %d accounts, want about %d (30%% of %d)", doms[1].Accounts, want, rest)
	}
	sum, names := 0, map[string]bool{}
	for i, d := range doms {
		sum += d.Accounts
		if i > 1 && d.Accounts >= doms[1].Accounts {
			t.Errorf("domain %s (%d) is not smaller than the skewed first (%d)", d.Name, d.Accounts, doms[1].Accounts)
		}
		if names[d.Name] {
			t.Errorf("domain name %q repeats", d.Name)
		}
		names[d.Name] = true
	}
	if sum != o.Accounts {
		t.Errorf("domains hold %d accounts, want %d", sum, o.Accounts)
	}
	if doms[len(doms)-1].Accounts*4 > doms[2].Accounts {
		t.Errorf("no long tail: domain 2 has %d, last has %d", doms[2].Accounts, doms[len(doms)-1].Accounts)
	}
}

func TestGenAccountNames(t *testing.T) {
	names := uniqueNames(newTestRand(5), 20000)
	seen := map[string]bool{}
	var short, dot, dash, under, digit int
	for _, n := range names {
		if seen[n] {
			t.Fatalf("name %q repeats", n)
		}
		seen[n] = true
		if n != strings.ToLower(n) || n == "" {
			t.Fatalf("name %q is empty or not lowercase", n)
		}
		if len(n) <= 2 {
			short++
		}
		if strings.Contains(n, ".") {
			dot++
		}
		if strings.Contains(n, "-") {
			dash++
		}
		if strings.Contains(n, "_") {
			under++
		}
		if strings.ContainsAny(n, "0123456789") {
			digit++
		}
	}
	for what, n := range map[string]int{"short": short, "dotted": dot, "dashed": dash, "underscored": under, "with digits": digit} {
		if n < 20 {
			t.Errorf("only %d %s names among 20000", n, what)
		}
	}
	again := uniqueNames(newTestRand(5), 20000)
	if strings.Join(again, ",") != strings.Join(names, ",") {
		t.Error("names are not deterministic for a seed")
	}
}

// TestGenPlacement checks, on the in-memory filesystem, that every
// account of a subdirectory domain sits where its scheme puts it, flat
// domains hold accounts directly, and domain subdirectories follow theirs.
func TestGenPlacement(t *testing.T) {
	for _, s := range []Scheme{{"prefix", 1}, {"prefix", 2}, {"hash", 16}} {
		t.Run(s.String(), func(t *testing.T) {
			mem := afero.NewMemMapFs()
			o := smallStore(11)
			o.Scheme = s
			o.DomainSubdirs = &Scheme{"prefix", 1}
			res := generate(t, mem, "/s", o)
			checked := 0
			for _, d := range res.DomainList {
				if !d.Main {
					want := "Domains/" + strings.Join(o.DomainSubdirs.Dirs(d.Name), "/") + "/" + d.Name
					if d.Path != want {
						t.Errorf("domain %s at %s, want %s", d.Name, d.Path, want)
					}
				}
				root := "/s/" + d.Path
				_ = afero.Walk(mem, root, func(p string, fi fs.FileInfo, err error) error {
					if err != nil {
						t.Fatal(err)
					}
					name := fi.Name()
					var bare string
					switch {
					case fi.IsDir() && strings.HasSuffix(name, MacntSuffix):
						bare = strings.TrimSuffix(name, MacntSuffix)
					case !fi.IsDir() && strings.HasSuffix(name, MboxSuffix) && !strings.Contains(p, MacntSuffix+"/"):
						bare = strings.TrimSuffix(name, MboxSuffix)
					default:
						return nil
					}
					rel := strings.TrimPrefix(filepath.Dir(p), root)
					rel = strings.TrimPrefix(rel, "/")
					if d.Mount != "" && (rel == d.Mount) {
						return skipIfDir(fi)
					}
					want := ""
					if d.Layout != "flat" {
						want = strings.Join(s.Dirs(bare), "/")
					}
					if rel != want {
						t.Errorf("%s account %s is in %q, want %q", d.Layout, p, rel, want)
					}
					checked++
					return skipIfDir(fi)
				})
			}
			if checked < o.Accounts*8/10 {
				t.Errorf("checked only %d of %d accounts", checked, o.Accounts)
			}
		})
	}
}

func skipIfDir(fi fs.FileInfo) error {
	if fi.IsDir() {
		return filepath.SkipDir
	}
	return nil
}

// TestGenRelocationLinks checks on a real filesystem (C24: MemMapFs has
// no symlinks) that each link resolves into the second directory, below
// it rather than to it (C22), with absolute or relative text.
func TestGenRelocationLinks(t *testing.T) {
	for _, relative := range []bool{false, true} {
		t.Run(fmt.Sprint("relative=", relative), func(t *testing.T) {
			dir := t.TempDir()
			base, second := filepath.Join(dir, "store"), filepath.Join(dir, "vol2")
			o := smallStore(5)
			o.Domains, o.Mounts, o.Relocate, o.RelocateTo, o.RelativeLinks = 9, 4, 6, second, relative
			res := generate(t, afero.NewOsFs(), base, o)
			if len(res.Relocations) != 6 {
				t.Fatalf("%d links, want 6", len(res.Relocations))
			}
			realSecond, _ := filepath.EvalSymlinks(second)
			kinds := map[string]bool{}
			for _, l := range res.Relocations {
				link := filepath.Join(base, filepath.FromSlash(l.Path))
				fi, err := os.Lstat(link)
				if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
					t.Fatalf("%s is not a symlink: %v", link, err)
				}
				text, _ := os.Readlink(link)
				if filepath.IsAbs(text) == relative {
					t.Errorf("%s says %q; relative=%v", link, text, relative)
				}
				resolved, err := filepath.EvalSymlinks(link)
				if err != nil {
					t.Fatalf("%s does not resolve: %v", link, err)
				}
				rel, err := filepath.Rel(realSecond, resolved)
				if err != nil || rel == "." || strings.HasPrefix(rel, "..") || !strings.Contains(rel, string(filepath.Separator)) {
					t.Errorf("%s resolves to %s, not to a directory below %s", link, resolved, realSecond)
				}
				ents, err := os.ReadDir(resolved)
				if err != nil || len(ents) == 0 {
					t.Errorf("relocated %s is empty or unreadable: %v", resolved, err)
				}
				switch {
				case strings.HasSuffix(l.Path, MntSuffix):
					kinds["mount"] = true
				case strings.HasSuffix(l.Path, SubSuffix):
					kinds["sub"] = true
				default:
					kinds["domain"] = true
				}
			}
			if len(kinds) != 3 {
				t.Errorf("relocated kinds %v; want domains, mount points and subdirectories", kinds)
			}
		})
	}
}

func TestGenRefusals(t *testing.T) {
	osfs := afero.NewOsFs()
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "keep.txt"), []byte("precious"), 0o644)
	o := GenOptions{Seed: 1, Accounts: 20, Domains: 2, Scheme: DefaultScheme}

	_, err := Generate(context.Background(), osfs, full, o)
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), full) {
		t.Errorf("non-empty DIR: got %v (kind %v), want a refusal naming %s", err, errs.KindOf(err), full)
	}
	if ents, _ := os.ReadDir(full); len(ents) != 1 {
		t.Errorf("a refused run wrote %d entries", len(ents))
	}
	o.ForceInto = true
	generate(t, osfs, full, o)
	if b, _ := os.ReadFile(filepath.Join(full, "keep.txt")); string(b) != "precious" {
		t.Error("--force-into lost an existing file")
	}

	live := filepath.Join(dir, "live")
	os.MkdirAll(live, 0o755)
	os.WriteFile(filepath.Join(live, ProcessIDFile), []byte("123\n"), 0o644)
	if _, err := Generate(context.Background(), osfs, live, o); errs.KindOf(err) != errs.Refused {
		t.Errorf("DIR with ProcessID: got %v, want a refusal even with ForceInto", err)
	}

	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Generate(context.Background(), osfs, file, o); errs.KindOf(err) != errs.BadInput {
		t.Errorf("DIR is a file: got %v, want bad input", err)
	}

	o.ForceInto = false
	o.Relocate = 1
	o.RelocateTo = filepath.Join(dir, "new", "inside")
	if _, err := Generate(context.Background(), osfs, filepath.Join(dir, "new"), o); errs.KindOf(err) != errs.Usage {
		t.Errorf("--relocate-to inside DIR: got %v, want a usage error", err)
	}
	o.RelocateTo = full
	if _, err := Generate(context.Background(), osfs, filepath.Join(dir, "new2"), o); errs.KindOf(err) != errs.Refused {
		t.Errorf("non-empty --relocate-to: got %v, want a refusal", err)
	}
}

// TestC24_NoSymlinksInMemory: asked for relocation links on a filesystem
// that cannot hold them, gen stops with a clear error before writing.
func TestC24_NoSymlinksInMemory(t *testing.T) {
	mem := afero.NewMemMapFs()
	o := GenOptions{Seed: 1, Accounts: 20, Domains: 2, Scheme: DefaultScheme, Relocate: 1, RelocateTo: "/vol2"}
	_, err := Generate(context.Background(), mem, "/store", o)
	if err == nil || !strings.Contains(err.Error(), "cannot hold symlinks") {
		t.Fatalf("got %v, want a 'cannot hold symlinks' error", err)
	}
	if ok, _ := afero.Exists(mem, "/store/Domains"); ok {
		t.Error("gen wrote the store before finding out links are impossible")
	}
}

func TestGenBadOptions(t *testing.T) {
	base := GenOptions{Seed: 1, Accounts: 10, Domains: 2}
	for name, mod := range map[string]func(*GenOptions){
		"negative accounts":    func(o *GenOptions) { o.Accounts = -1 },
		"skew above one":       func(o *GenOptions) { o.Skew = 1.5 },
		"NaN fraction":         func(o *GenOptions) { o.FlatFraction = nan() },
		"more mounts":          func(o *GenOptions) { o.Mounts = 3 },
		"more relocations":     func(o *GenOptions) { o.Relocate, o.RelocateTo = 3, "/x" },
		"relocate without dir": func(o *GenOptions) { o.Relocate = 1 },
		"negative queue":       func(o *GenOptions) { o.Queue = -5 },
	} {
		o := base
		mod(&o)
		if err := o.Validate(); errs.KindOf(err) != errs.Usage {
			t.Errorf("%s: got %v, want a usage error", name, err)
		}
	}
	o := base
	o.BigMailbox, o.Accounts = 10, 1 // the one account goes to the Main Domain
	if _, err := Generate(context.Background(), afero.NewMemMapFs(), "/s", o); err == nil {
		t.Error("a big mailbox with no account in the first domain was accepted")
	}
}

func TestGenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Generate(ctx, afero.NewMemMapFs(), "/s", smallStore(1))
	if errs.KindOf(err) != errs.Interrupted || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: got %v, want interrupted", err)
	}
}

func newTestRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func nan() float64 { return math.NaN() }
