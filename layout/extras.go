package layout

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// GenExtras counts what --extras added.
type GenExtras struct {
	HardLinks int64 `json:"hard_links"`   // second names of a message file
	Sparse    int64 `json:"sparse_files"` // 8 MiB apparent, a few bytes written
	Xattrs    int64 `json:"xattrs"`       // user.* attributes set (0 where the filesystem refuses them)
	Symlinks  int64 `json:"symlinks"`     // internal and dangling links inside accounts
	OddNames  int64 `json:"odd_names"`    // names that are not UTF-8, and 250-byte names
	DeepPaths int64 `json:"deep_paths"`   // chains of directories deeper than 2,000 bytes
	Owners    bool  `json:"owners"`       // numeric owners other than root were set (root only)
}

type extraCounts struct {
	hardLinks, sparse, xattrs, symlinks, oddNames, deep atomic.Int64
	owners                                              atomic.Bool
}

func (c *extraCounts) result() *GenExtras {
	return &GenExtras{HardLinks: c.hardLinks.Load(), Sparse: c.sparse.Load(), Xattrs: c.xattrs.Load(),
		Symlinks: c.symlinks.Load(), OddNames: c.oddNames.Load(), DeepPaths: c.deep.Load(), Owners: c.owners.Load()}
}

// extrasEpoch is the time every file of an account with extras gets
// (plus one minute per account index): old, and with nanoseconds, so a
// copy that drops sub-second times or resets them shows.
var extrasEpoch = time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)

// extras adds the special content to the multi-mailbox account at dir,
// chosen by the account's index in its domain so that a small domain gets
// every kind from its first account: every 10th a mailbox directory with a
// message hard-linked into a second one and an empty one, every 20th
// user.* attributes, every 50th internal and dangling links, every 100th a
// sparse file, every 200th odd names and a deep path. Then (as root)
// numeric owners, and the times, on everything c recorded for the account
// (stamp). It works on the operating system's paths; Generate has checked that the
// Fs is the OS one.
func (g *generator) extras(c *created, dir string, a acct, key, domName string) error {
	fail := func(op, path string, err error) error {
		return errs.New(errs.Failed, op, path, err, "")
	}
	if a.index%10 == 0 {
		arch := filepath.Join(dir, "Archive"+MdirSuffix)
		sent := filepath.Join(dir, "Sent-copies"+MdirSuffix)
		for _, d := range []string{arch, sent, filepath.Join(dir, "Drafts"+MdirSuffix)} {
			if err := c.mkdir(d); err != nil {
				return err
			}
		}
		for m := range 4 {
			if err := c.write(filepath.Join(arch, fmt.Sprintf("%d%s", m+1, genMsgSuffix)), message(g.o.Seed, key+"/archive", uint64(m), a.name, domName)); err != nil {
				return err
			}
		}
		from, to := filepath.Join(arch, "1"+genMsgSuffix), filepath.Join(sent, "1"+genMsgSuffix)
		if err := os.Link(from, to); err != nil {
			return fail("link", to, err)
		}
		c.paths = append(c.paths, to)
		g.extra.hardLinks.Add(1)
	}
	if a.index%20 == 0 {
		for _, x := range []struct{ path, name, value string }{
			{dir, "user.quota.bytes", "1048576"},
			{filepath.Join(dir, genAcctSet), "user.mail.flags", "Seen"},
		} {
			if unix.Setxattr(x.path, x.name, []byte(x.value), 0) == nil {
				g.extra.xattrs.Add(1)
			}
		}
	}
	if a.index%50 == 0 {
		for link, text := range map[string]string{"Alias" + MboxSuffix: genAcctSet, "dangling": "/nonexistent/" + a.name} {
			if err := os.Symlink(text, filepath.Join(dir, link)); err != nil {
				return fail("symlink", filepath.Join(dir, link), err)
			}
			c.paths = append(c.paths, filepath.Join(dir, link))
			g.extra.symlinks.Add(1)
			g.links.Add(1)
		}
	}
	if a.index%100 == 0 {
		if err := sparseFile(filepath.Join(dir, "account.web")); err != nil {
			return err
		}
		c.paths = append(c.paths, filepath.Join(dir, "account.web"))
		g.extra.sparse.Add(1)
		g.files.Add(1)
	}
	if a.index%200 == 0 {
		for _, n := range []string{"caf\xe9-\xff" + MboxSuffix, strings.Repeat("n", 245) + MboxSuffix} {
			if err := c.write(filepath.Join(dir, n), mbox(g.o.Seed, key+"/"+n, a.name, domName)); err != nil {
				return err
			}
			g.extra.oddNames.Add(1)
		}
		deep := filepath.Join(dir, "Nested"+MdirSuffix)
		for l := range 11 {
			if l > 0 {
				deep = filepath.Join(deep, fmt.Sprintf("%02d-%s", l, strings.Repeat("d", 200)))
			}
			if err := c.mkdir(deep); err != nil {
				return err
			}
		}
		if err := c.write(filepath.Join(deep, "1"+genMsgSuffix), message(g.o.Seed, key+"/deep", 0, a.name, domName)); err != nil {
			return err
		}
		g.extra.deep.Add(1)
	}
	return g.stamp(c, a)
}

// stamp gives everything c recorded for account a its old time and, as
// root, numeric owners. Children were recorded after their directory, so
// going last first sets a directory's time after everything in it.
func (g *generator) stamp(c *created, a acct) error {
	fail := func(op, path string, err error) error {
		return errs.New(errs.Failed, op, path, err, "")
	}
	root := os.Geteuid() == 0
	t := extrasEpoch.Add(time.Duration(a.index) * time.Minute)
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	for i := len(c.paths) - 1; i >= 0; i-- {
		p := c.paths[i]
		if root {
			if err := os.Lchown(p, 1000+a.index%7, 1000+a.index%3); err != nil {
				return fail("chown", p, err)
			}
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail("set times", p, err)
		}
	}
	if root {
		g.extra.owners.Store(true)
	}
	return nil
}

// created records the paths one account's writes make, so --extras can
// set owners and times on exactly those, without reading directories.
type created struct {
	g     *generator
	paths []string
}

func (c *created) write(p string, data []byte) error {
	if err := c.g.write(p, data); err != nil {
		return err
	}
	c.paths = append(c.paths, p)
	return nil
}

func (c *created) mkdir(p string) error {
	if err := c.g.mkdir(p); err != nil {
		return err
	}
	c.paths = append(c.paths, p)
	return nil
}

func sparseFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return errs.New(errs.Failed, "create", path, err, "")
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("header\n"), 0); err != nil {
		return errs.New(errs.Failed, "write", path, err, "")
	}
	if _, err := f.WriteAt([]byte("middle\n"), 4<<20); err != nil {
		return errs.New(errs.Failed, "write", path, err, "")
	}
	if err := f.Truncate(8 << 20); err != nil {
		return errs.New(errs.Failed, "truncate", path, err, "")
	}
	return nil
}
