// Package sampletree builds small CommuniGate-shaped stores on real
// directories for the move tests, benchmark and crash drill: accounts with
// mailboxes, and every kind of entry a copy must keep (hard links, a sparse
// file, extended attributes, names that are not UTF-8, internal symbolic
// links, empty directories, long names, numeric owners, old times).
package sampletree

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options shape a sample domain.
type Options struct {
	Accounts int    // number of accounts
	Subdirs  bool   // put accounts in one-letter *.sub directories
	Seed     uint64 // same seed, same tree
	// Owners gives files numeric owners other than the caller's (root only).
	Owners bool
	// Xattrs sets user.* attributes on some files and directories.
	Xattrs bool
}

// Domain builds base/Domains/name and returns its path.
func Domain(base, name string, o Options) (string, error) {
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	dom := filepath.Join(base, "Domains", name)
	if err := os.MkdirAll(filepath.Join(dom, "Settings"), 0o750); err != nil {
		return "", err
	}
	if err := write(filepath.Join(dom, "Settings", "Settings.data"), []byte("{ DomainName = "+name+"; }\n")); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(base, "Domains", "README"), nil, 0o644); err != nil {
		return "", err
	}
	past := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	for i := 0; i < o.Accounts; i++ {
		acct := fmt.Sprintf("%c%s%05d", 'a'+rune(i%26), "user", i)
		dir := dom
		if o.Subdirs {
			dir = filepath.Join(dom, acct[:1]+".sub")
		}
		a := filepath.Join(dir, acct+".macnt")
		if err := os.MkdirAll(a, 0o700); err != nil {
			return "", err
		}
		if err := write(filepath.Join(a, "INBOX.mbox"), mbox(rng, 1+rng.IntN(6))); err != nil {
			return "", err
		}
		if err := write(filepath.Join(a, "account.settings"), []byte("{ RealName = \""+acct+"\"; }\n")); err != nil {
			return "", err
		}
		if err := write(filepath.Join(a, "account.info"), []byte(fmt.Sprintf("{ LastLogin = #T%d; }\n", i))); err != nil {
			return "", err
		}
		if i%10 == 0 { // a mailbox directory with a message stored twice (hard link)
			md := filepath.Join(a, "Archive.mdir")
			if err := os.Mkdir(md, 0o700); err != nil {
				return "", err
			}
			for m := 0; m < 4; m++ {
				if err := write(filepath.Join(md, fmt.Sprintf("%d.msg", m)), mbox(rng, 1)); err != nil {
					return "", err
				}
			}
			if err := os.Mkdir(filepath.Join(a, "Sent.mdir"), 0o700); err != nil {
				return "", err
			}
			if err := os.Link(filepath.Join(md, "0.msg"), filepath.Join(a, "Sent.mdir", "0.msg")); err != nil {
				return "", err
			}
			if err := os.Mkdir(filepath.Join(a, "Drafts.mdir"), 0o700); err != nil { // empty
				return "", err
			}
		}
		if i%50 == 0 { // internal links: relative and absolute, text kept as is
			if err := os.Symlink("INBOX.mbox", filepath.Join(a, "Inbox-alias.mbox")); err != nil {
				return "", err
			}
			if err := os.Symlink("/nonexistent/"+acct, filepath.Join(a, "dangling")); err != nil {
				return "", err
			}
		}
		if i%100 == 0 { // a sparse file: 8 MiB apparent, a few KiB written
			if err := sparse(filepath.Join(a, "account.web")); err != nil {
				return "", err
			}
		}
		if i%200 == 0 { // names that are not UTF-8, and a long one
			if err := write(filepath.Join(a, "caf\xe9-\xff.mbox"), mbox(rng, 1)); err != nil {
				return "", err
			}
			long := strings.Repeat("n", 245) + ".mbox"
			if err := write(filepath.Join(a, long), mbox(rng, 1)); err != nil {
				return "", err
			}
		}
		if o.Xattrs && i%20 == 0 {
			_ = unix.Setxattr(a, "user.quota.bytes", []byte("1048576"), 0)
			_ = unix.Setxattr(filepath.Join(a, "INBOX.mbox"), "user.mail.flags", []byte("Seen"), 0)
		}
		if o.Owners {
			uid := 1000 + i%7
			if err := chownTree(a, uid, 1000+i%3); err != nil {
				return "", err
			}
		}
		t := past.Add(time.Duration(i) * time.Minute)
		if err := touchTree(a, t); err != nil {
			return "", err
		}
	}
	return dom, nil
}

func write(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }

func mbox(rng *rand.Rand, n int) []byte {
	var b strings.Builder
	for m := 0; m < n; m++ {
		fmt.Fprintf(&b, "From sender%d@example.org Mon Jan  1 00:00:00 2024\nSubject: message %d\n\n", rng.IntN(1000), m)
		lines := 5 + rng.IntN(40)
		for l := 0; l < lines; l++ {
			fmt.Fprintf(&b, "%x %x %x\n", rng.Uint64(), rng.Uint64(), rng.Uint64())
		}
	}
	return []byte(b.String())
}

func sparse(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("header\n"), 0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte("middle\n"), 4<<20); err != nil {
		return err
	}
	return f.Truncate(8 << 20)
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// touchTree sets every time below root to t, directories last.
func touchTree(root string, t time.Time) error {
	var dirs []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chtimes(dirs[i], t, t); err != nil {
			return err
		}
	}
	return nil
}
