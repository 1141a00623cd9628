package layout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/afero"

	"github.com/cgscale/cgscale/errs"
)

// GenSchema versions the machine-readable result of Generate.
const GenSchema = "cgscale.gen/v1"

// Names of the files and mailboxes the generator writes. They follow the
// store layout of the design notes; the server itself writes many more.
const (
	genInbox     = "INBOX"
	genSent      = "Sent Items"
	genTrash     = "Trash"
	genAcctSet   = "account.settings"
	genAcctInfo  = "account.info"
	genMsgSuffix = ".msg"
)

// GenOptions describes the store to generate. The same options and seed
// give the same tree, byte for byte, whatever the number of workers.
type GenOptions struct {
	Seed     uint64
	Accounts int     // accounts in all, Main Domain included
	Domains  int     // secondary domains under Domains/
	Skew     float64 // share of the secondary domains' accounts that the first one gets

	FlatFraction  float64 // share of secondary domains kept flat; the first domain is flat whenever any is
	Scheme        Scheme  // account subdirectories of the other domains
	DomainSubdirs *Scheme // when set, domains live under Domains/<Dirs(domain)...>/

	SingleFraction float64 // share of single-mailbox accounts
	MdirFraction   float64 // share of multi-mailbox accounts whose INBOX is a mailbox directory
	MdirMessages   int     // messages in each such mailbox directory
	BigMailbox     int     // when > 0, the first domain's first account gets an INBOX.mdir of this many messages
	Queue          int     // message files in Queue/
	Mounts         int     // secondary domains that get a storage mount point (<name>.mnt) holding some accounts

	RelocateTo    string // second directory; relocated directories live under it
	Relocate      int    // how many secondary domains have a directory relocated
	RelativeLinks bool   // write relative link text instead of absolute

	// Extras adds to multi-mailbox accounts what a copy of a real store
	// must keep (see extras.go): hard links, sparse files, user.* extended
	// attributes, names that are not UTF-8, long names and deep paths,
	// internal and dangling symbolic links, empty mailbox directories, old
	// times with nanoseconds and (as root) numeric owners. It needs the
	// operating system's filesystem (*afero.OsFs).
	Extras bool

	ForceInto bool // write into a non-empty base directory
	Workers   int  // parallel file writers; 0 means 8

	// Filesystem names the filesystem holding the base in messages (the
	// command gives fsbench's identity); default "the filesystem holding BASE".
	Filesystem string

	// Progress, when set, is bumped as the work is done (for a progress bar).
	Progress *GenProgress
}

// GenProgress counts work done; Generate updates it atomically.
type GenProgress struct {
	AccountsTotal atomic.Int64
	AccountsDone  atomic.Int64
}

// GenDomain is one domain of the generated store.
type GenDomain struct {
	Name        string `json:"name"`           // domain name; empty for the Main Domain
	Main        bool   `json:"main,omitempty"` // the Main Domain, whose accounts are in Accounts/
	Path        string `json:"path"`           // directory, relative to the base, slash-separated
	Layout      string `json:"layout"`         // "flat" or the account subdirectory scheme
	Accounts    int    `json:"accounts"`
	Multi       int    `json:"multi_mailbox"`
	Single      int    `json:"single_mailbox"`
	MailboxDirs int    `json:"mailbox_dirs"`
	Mount       string `json:"mount,omitempty"` // storage mount point, relative to the domain directory
	MountAccts  int    `json:"mount_accounts,omitempty"`
	Relocated   string `json:"relocated,omitempty"` // relocated directory, relative to the base
}

// GenLink is one relocation link.
type GenLink struct {
	Path   string `json:"path"`   // the link, relative to the base
	Text   string `json:"text"`   // what the link says
	Target string `json:"target"` // the absolute directory it resolves to
}

// GenResult says what Generate wrote.
type GenResult struct {
	Schema      string      `json:"schema"`
	Base        string      `json:"base"`
	RelocateTo  string      `json:"relocate_to,omitempty"`
	Seed        uint64      `json:"seed"`
	Domains     int         `json:"domains"` // secondary domains
	Accounts    int         `json:"accounts"`
	Multi       int         `json:"multi_mailbox"`
	Single      int         `json:"single_mailbox"`
	MailboxDirs int         `json:"mailbox_dirs"`
	MdirMsgs    int64       `json:"mailbox_dir_messages"`
	Largest     int         `json:"largest_mailbox_dir"`
	Queue       int         `json:"queue_messages"`
	Dirs        int64       `json:"directories"` // created below the base and the second directory
	Files       int64       `json:"files"`
	Links       int64       `json:"symlinks"`
	Bytes       int64       `json:"bytes"`
	Relocations []GenLink   `json:"relocation_links"`
	DomainList  []GenDomain `json:"domain_list"`
	Extras      *GenExtras  `json:"extras,omitempty"`
}

// Validate checks the options without touching any file.
func (o *GenOptions) Validate() error {
	bad := func(format string, args ...any) error {
		return errs.Errorf(errs.Usage, "gen", "", "run `cgscale help gen`", format, args...)
	}
	switch {
	case o.Accounts < 0 || o.Accounts > 50_000_000:
		return bad("--accounts %d: want 0 to 50000000", o.Accounts)
	case o.Domains < 0 || o.Domains > 1_000_000:
		return bad("--domains %d: want 0 to 1000000", o.Domains)
	case o.MdirMessages < 0 || o.BigMailbox < 0 || o.Queue < 0 || o.Mounts < 0 || o.Relocate < 0 || o.Workers < 0:
		return bad("counts must not be negative")
	case o.Mounts > o.Domains:
		return bad("--mounts %d: only %d secondary domains", o.Mounts, o.Domains)
	case o.Relocate > o.Domains:
		return bad("--relocate %d: only %d secondary domains", o.Relocate, o.Domains)
	case o.Relocate > 0 && o.RelocateTo == "":
		return bad("--relocate needs --relocate-to DIR2")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"--skew", o.Skew}, {"--flat-fraction", o.FlatFraction}, {"--single-fraction", o.SingleFraction}, {"--mdir-fraction", o.MdirFraction}} {
		if !(f.v >= 0 && f.v <= 1) {
			return bad("%s %v: want a fraction from 0 to 1", f.name, f.v)
		}
	}
	if o.Scheme.Kind == "" {
		o.Scheme = DefaultScheme
	}
	return nil
}

// planned is one domain before its accounts are named.
type planned struct {
	GenDomain
	index    int
	flat     bool
	mount    int    // accounts under the mount point
	relocate string // "", "domain", "mount" or "sub"
}

// Generate writes a sample store under base through fs. It decides the
// whole shape from the seed first (domain sizes, layouts, relocations),
// then names and writes one domain at a time, with a bounded pool of
// writers; contents depend on names and the seed only.
func Generate(ctx context.Context, fs afero.Fs, base string, o GenOptions) (*GenResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Workers == 0 {
		o.Workers = 8
	}
	base = filepath.Clean(base)
	// Every check comes before the first write.
	if o.Extras {
		if _, ok := fs.(*afero.OsFs); !ok {
			return nil, errs.Errorf(errs.BadInput, "gen", base, "write the store to a real directory (the command always does)",
				"--extras needs the operating system's filesystem for hard links, sparse files and extended attributes; this one is %T", fs)
		}
	}
	if o.RelocateTo != "" {
		if _, ok := fs.(afero.Linker); !ok {
			return nil, errs.Errorf(errs.BadInput, "gen", o.RelocateTo, "write to a real directory", "this file system cannot hold symlinks, so relocation links cannot be made")
		}
		var err error
		if o.RelocateTo, err = checkSecond(base, o.RelocateTo); err != nil {
			return nil, err
		}
		if err := checkRoot(fs, o.RelocateTo, false, "", "give an empty or new --relocate-to directory"); err != nil {
			return nil, err
		}
	}
	if err := checkRoot(fs, base, o.ForceInto, "--force-into", ""); err != nil {
		return nil, err
	}
	for _, dir := range []string{base, o.RelocateTo} {
		if dir == "" {
			continue
		}
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return nil, errs.New(errs.Failed, "create directory", dir, err, "check the parent directory's permissions")
		}
	}

	doms := planDomains(o)
	g := &generator{fs: fs, base: base, o: o, made: map[string]bool{}}
	res := &GenResult{Schema: GenSchema, Base: base, RelocateTo: o.RelocateTo, Seed: o.Seed, Domains: o.Domains, Relocations: []GenLink{}}
	if o.Progress != nil {
		o.Progress.AccountsTotal.Store(int64(o.Accounts))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan func() error, 4*o.Workers)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				if ctx.Err() != nil || g.failed() {
					continue
				}
				if err := job(); err != nil {
					g.fail(err)
					cancel()
				}
			}
		}()
	}
	send := func(job func() error) bool {
		select {
		case jobs <- job:
			return true
		case <-ctx.Done():
			return false
		}
	}

	err := g.produce(ctx, doms, res, send)
	close(jobs)
	wg.Wait()
	// A writer's real error wins over the cancellation it caused: the
	// producer then only saw its context cancelled.
	if werr := g.firstErr(); werr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = werr
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, g.failure(err)
	}
	res.Dirs, res.Files, res.Links, res.Bytes = g.dirs.Load(), g.files.Load(), g.links.Load(), g.bytes.Load()
	if o.Extras {
		res.Extras = g.extra.result()
	}
	res.MdirMsgs = g.mdirMsgs.Load()
	for _, d := range doms {
		res.DomainList = append(res.DomainList, d.GenDomain)
		res.Accounts += d.Accounts
		res.Multi += d.Multi
		res.Single += d.Single
		res.MailboxDirs += d.MailboxDirs
	}
	res.Queue = o.Queue
	if res.MailboxDirs > 0 {
		res.Largest = max(o.BigMailbox, o.MdirMessages)
		if res.MailboxDirs == 1 && o.BigMailbox > 0 {
			res.Largest = o.BigMailbox
		}
	}
	return res, nil
}

// checkRoot accepts a missing or empty directory; it refuses one that
// holds anything (unless force) or that looks like a live server's base.
func checkRoot(fs afero.Fs, dir string, force bool, forceFlag, hint string) error {
	fi, err := fs.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return errs.New(errs.BadInput, "stat", dir, err, "")
	case !fi.IsDir():
		return errs.Errorf(errs.BadInput, "gen", dir, "give a directory path", "not a directory")
	}
	if _, err := fs.Stat(filepath.Join(dir, ProcessIDFile)); err == nil {
		return errs.Errorf(errs.Refused, "gen", dir, "gen never writes into a server's base directory; choose an empty directory",
			"holds %s, the mark of a running server's store", ProcessIDFile)
	}
	f, err := fs.Open(dir)
	if err != nil {
		return errs.New(errs.BadInput, "open directory", dir, err, "")
	}
	names, err := f.Readdirnames(1)
	f.Close()
	if err != nil && err != io.EOF {
		return errs.New(errs.BadInput, "read directory", dir, err, "")
	}
	if len(names) > 0 && !force {
		if hint == "" {
			hint = "choose an empty or new directory, or pass " + forceFlag + " to write into it anyway"
		}
		return errs.Errorf(errs.Refused, "gen", dir, hint, "directory is not empty (it holds %q)", names[0])
	}
	return nil
}

// checkSecond makes the relocation directory absolute and checks that it
// and the base do not overlap.
func checkSecond(base, second string) (string, error) {
	abs, err := filepath.Abs(second)
	if err != nil {
		return "", errs.New(errs.BadInput, "gen", second, err, "")
	}
	absBase, err := filepath.Abs(base)
	if err != nil {
		return "", errs.New(errs.BadInput, "gen", base, err, "")
	}
	if within(abs, absBase) || within(absBase, abs) {
		return "", errs.Errorf(errs.Usage, "gen", abs, "give a --relocate-to directory outside the store", "--relocate-to and the store directory %s overlap", absBase)
	}
	return abs, nil
}

func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// planDomains decides every domain's name, size, layout, mount point and
// relocation from the seed.
func planDomains(o GenOptions) []*planned {
	rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	mainN := 0
	if o.Domains == 0 {
		mainN = o.Accounts
	} else {
		mainN = min(o.Accounts, max(1, o.Accounts/100))
	}
	rest := o.Accounts - mainN
	doms := []*planned{{GenDomain: GenDomain{Main: true, Path: AccountsDir, Layout: "flat", Accounts: mainN}, index: -1, flat: true}}
	if o.Domains == 0 {
		return doms
	}
	sizes := make([]int, o.Domains)
	first := int(math.Round(o.Skew * float64(rest)))
	if o.Domains == 1 {
		first = rest
	}
	sizes[0] = first
	// A long tail: weight 1/rank, jittered, shared out by largest remainder.
	if o.Domains > 1 {
		left := rest - first
		w := make([]float64, o.Domains-1)
		sum := 0.0
		for i := range w {
			w[i] = (0.5 + rng.Float64()) / float64(i+1)
			sum += w[i]
		}
		type rem struct {
			i int
			f float64
		}
		rems := make([]rem, len(w))
		given := 0
		for i := range w {
			exact := float64(left) * w[i] / sum
			sizes[i+1] = int(exact)
			given += sizes[i+1]
			rems[i] = rem{i + 1, exact - float64(sizes[i+1])}
		}
		sort.SliceStable(rems, func(a, b int) bool { return rems[a].f > rems[b].f })
		for k := 0; given < left; k++ {
			sizes[rems[k%len(rems)].i]++
			given++
		}
	}
	nflat := int(math.Round(o.FlatFraction * float64(o.Domains)))
	flat := make([]bool, o.Domains)
	if nflat > 0 {
		flat[0] = true
		for _, i := range rng.Perm(o.Domains - 1)[:nflat-1] {
			flat[i+1] = true
		}
	}
	mounts := make([]bool, o.Domains)
	for _, i := range rng.Perm(o.Domains)[:o.Mounts] {
		mounts[i] = true
	}
	reloc := make([]string, o.Domains)
	for k, i := range rng.Perm(o.Domains)[:o.Relocate] {
		// Take turns: a whole domain, a mount point, a subdirectory,
		// falling back to the whole domain when the domain has neither.
		canSub := !flat[i] && sizes[i]-mountSize(sizes[i], mounts[i]) > 0
		switch {
		case k%3 == 1 && mounts[i], k%3 == 2 && !canSub && mounts[i]:
			reloc[i] = "mount"
		case k%3 == 2 && canSub, k%3 == 1 && canSub:
			reloc[i] = "sub"
		default:
			reloc[i] = "domain"
		}
	}
	for i := range o.Domains {
		name := domainName(i)
		d := &planned{index: i, flat: flat[i], relocate: reloc[i]}
		d.Name, d.Accounts = name, sizes[i]
		parts := []string{DomainsDir}
		if o.DomainSubdirs != nil {
			parts = append(parts, o.DomainSubdirs.Dirs(name)...)
		}
		d.Path = strings.Join(append(parts, name), "/")
		d.Layout = "flat"
		if !flat[i] {
			d.Layout = o.Scheme.String()
		}
		if mounts[i] {
			d.Mount = fmt.Sprintf("vol%d%s", i%4+1, MntSuffix)
			d.mount = mountSize(d.Accounts, true)
			d.MountAccts = d.mount
		}
		doms = append(doms, d)
	}
	return doms
}

// mountSize is how many of a domain's n accounts live under its mount point.
func mountSize(n int, mount bool) int {
	if !mount || n == 0 {
		return 0
	}
	return max(1, n/10)
}

var realDomains = []string{"mail.northwind.test", "acme-widgets.test", "riverside-clinic.test", "uni-lakeshore.test", "hotel.bellevue.test", "city-of-ashford.test", "globex.test", "kestrel-law.test"}

// domainName is the name of secondary domain i: mostly numbered, with a
// few realistic ones among them.
func domainName(i int) string {
	if i%5 == 2 && i/5 < len(realDomains) {
		return realDomains[i/5]
	}
	return fmt.Sprintf("example-%04d.test", i+1)
}

type generator struct {
	fs   afero.Fs
	base string
	o    GenOptions
	made map[string]bool // containers the producer has made (producer only)

	dirs, files, links, bytes, mdirMsgs atomic.Int64
	extra                               extraCounts

	mu  sync.Mutex
	err error
}

// failure describes a run that stopped early: what stopped it and what
// was written. The partial tree is left as it is (gen never deletes: DIR
// may have been given with --force-into) and the hint says to remove it.
func (g *generator) failure(err error) error {
	written := fmt.Sprintf("%d directories and %d files (%d bytes) were written under %s",
		g.dirs.Load(), g.files.Load(), g.bytes.Load(), g.base)
	if g.o.RelocateTo != "" {
		written += " and " + g.o.RelocateTo
	}
	switch {
	case errors.Is(err, context.Canceled):
		return errs.New(errs.Interrupted, "gen", g.base, err, "the store is incomplete: "+written+"; remove it and run gen again")
	case isNoSpace(err):
		fs := g.o.Filesystem
		if fs == "" {
			fs = "the filesystem holding " + g.base
		}
		return errs.New(errs.Failed, "gen", g.base, fmt.Errorf("out of space or inodes on %s: %w", fs, err),
			"the store is incomplete: "+written+"; remove it, then run gen again on a larger volume or with fewer --accounts")
	case errs.KindOf(err) == errs.Failed:
		return errs.New(errs.Failed, "gen", g.base, err, "the store is incomplete: "+written+"; remove it and run gen again")
	}
	return err
}

// isNoSpace tells errors that mean the filesystem is full: blocks, inodes
// (ENOSPC too), quota, file size limit.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

func (g *generator) fail(err error) {
	g.mu.Lock()
	if g.err == nil {
		g.err = err
	}
	g.mu.Unlock()
}

func (g *generator) failed() bool { return g.firstErr() != nil }

func (g *generator) firstErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// mkdir makes one directory; an existing directory is accepted (and not
// counted), which lets --force-into write over an earlier store.
func (g *generator) mkdir(p string) error {
	err := g.fs.Mkdir(p, 0o755)
	if err == nil {
		g.dirs.Add(1)
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		if fi, serr := g.fs.Stat(p); serr == nil && fi.IsDir() {
			return nil
		}
	}
	return errs.New(errs.Failed, "create directory", p, err, "check free space, inodes and permissions")
}

// mkdirAll makes root/rel level by level (the producer only).
func (g *generator) mkdirAll(root, rel string) error {
	p := root
	for _, part := range strings.Split(rel, "/") {
		p = filepath.Join(p, part)
		if g.made[p] {
			continue
		}
		if err := g.mkdir(p); err != nil {
			return err
		}
		g.made[p] = true
	}
	return nil
}

func (g *generator) write(p string, data []byte) error {
	if err := afero.WriteFile(g.fs, p, data, 0o644); err != nil {
		return errs.New(errs.Failed, "write", p, err, "check free space, inodes and permissions")
	}
	g.files.Add(1)
	g.bytes.Add(int64(len(data)))
	return nil
}

// relocate makes rel in the second directory and a link to it at rel in
// the store.
func (g *generator) relocate(rel string, res *GenResult) error {
	if err := g.mkdirAll(g.o.RelocateTo, rel); err != nil {
		return err
	}
	target := filepath.Join(g.o.RelocateTo, filepath.FromSlash(rel))
	link := filepath.Join(g.base, filepath.FromSlash(rel))
	text := target
	if g.o.RelativeLinks {
		absLink, err := filepath.Abs(link)
		if err != nil {
			return errs.New(errs.Failed, "relocate", link, err, "")
		}
		if text, err = filepath.Rel(filepath.Dir(absLink), target); err != nil {
			return errs.New(errs.Failed, "relocate", link, err, "")
		}
	}
	if err := g.fs.(afero.Linker).SymlinkIfPossible(text, link); err != nil {
		return errs.New(errs.Failed, "create symlink", link, err, "")
	}
	g.made[link] = true
	g.links.Add(1)
	res.Relocations = append(res.Relocations, GenLink{Path: rel, Text: text, Target: target})
	return nil
}

// acct is one account to write; it is decided by the producer.
type acct struct {
	index  int // in its domain, in name order of generation
	name   string
	dir    string // containing directory, absolute
	single bool
	mdir   bool
	big    bool // INBOX.mdir written by chunk jobs
	sent   bool
	trash  bool
}

func (g *generator) produce(ctx context.Context, doms []*planned, res *GenResult, send func(func() error) bool) error {
	for _, top := range []string{SettingsDir, QueueDir, "SystemLogs", "Directory", "WebSkins", "Submitted", AccountsDir, DomainsDir} {
		if err := g.mkdirAll(g.base, top); err != nil {
			return err
		}
	}
	if err := g.write(filepath.Join(g.base, SettingsDir, "Main.settings"), dictFile(g.o.Seed, "Main", 6)); err != nil {
		return err
	}
	if err := g.write(filepath.Join(g.base, "SystemLogs", "2024-01-15.log"), []byte("00:00:00.001 2 SYSTEM CommuniGate Pro sample store log\n")); err != nil {
		return err
	}
	// The queue backlog, in chunks.
	qbase := 10000 + int(g.o.Seed%50000)
	for lo := 0; lo < g.o.Queue; lo += 500 {
		lo, hi := lo, min(lo+500, g.o.Queue)
		if !send(func() error {
			for i := lo; i < hi; i++ {
				id := qbase + i
				if err := g.write(filepath.Join(g.base, QueueDir, fmt.Sprintf("%d%s", id, genMsgSuffix)), message(g.o.Seed, "queue", uint64(id), "postmaster", "remote.test")); err != nil {
					return err
				}
			}
			return nil
		}) {
			return ctx.Err()
		}
	}
	bigDone := g.o.BigMailbox == 0
	for _, d := range doms {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := g.domain(ctx, d, res, &bigDone, send); err != nil {
			return err
		}
	}
	if !bigDone {
		return errs.Errorf(errs.Usage, "gen", "", "give more --accounts or fewer --domains", "--big-mailbox: the first domain has no account to hold it")
	}
	return nil
}

func (g *generator) domain(ctx context.Context, d *planned, res *GenResult, bigDone *bool, send func(func() error) bool) error {
	rel := d.Path
	if d.relocate == "domain" {
		if parent := pathDir(rel); parent != "" {
			if err := g.mkdirAll(g.base, parent); err != nil {
				return err
			}
		}
		if err := g.relocate(rel, res); err != nil {
			return err
		}
		d.Relocated = rel
	} else if err := g.mkdirAll(g.base, rel); err != nil {
		return err
	}
	dom := filepath.Join(g.base, filepath.FromSlash(rel))
	domName := d.Name
	if d.Main {
		domName = "main.test"
	} else {
		if err := g.mkdirAll(dom, SettingsDir); err != nil {
			return err
		}
		if err := g.write(filepath.Join(dom, SettingsDir, "Settings.settings"), dictFile(g.o.Seed, d.Name, 4)); err != nil {
			return err
		}
		if err := g.write(filepath.Join(dom, SettingsDir, "Aliases.data"), []byte("abuse: postmaster\nwebmaster: postmaster\n")); err != nil {
			return err
		}
	}
	if d.Mount != "" {
		if d.relocate == "mount" {
			mrel := rel + "/" + d.Mount
			if err := g.relocate(mrel, res); err != nil {
				return err
			}
			d.Relocated = mrel
		} else if err := g.mkdirAll(dom, d.Mount); err != nil {
			return err
		}
	}

	// Name the accounts and decide their kinds.
	rng := rand.New(rand.NewPCG(g.o.Seed, uint64(d.index+2)*0x2545f4914f6cdd1d))
	names := uniqueNames(rng, d.Accounts)
	accts := make([]acct, len(names))
	subs := map[string]bool{}
	for i, name := range names {
		a := acct{index: i, name: name}
		bigHere := !*bigDone && i == 0 && (d.index == 0 || d.Main && g.o.Domains == 0)
		a.single = !bigHere && rng.Float64() < g.o.SingleFraction
		if !a.single {
			a.mdir = bigHere || rng.Float64() < g.o.MdirFraction
			a.big = bigHere
			a.sent = rng.Float64() < 0.2
			a.trash = rng.Float64() < 0.1
		}
		if bigHere {
			*bigDone = true
		}
		switch {
		case i < d.mount:
			a.dir = filepath.Join(dom, d.Mount)
		case d.flat:
			a.dir = dom
		default:
			sub := strings.Join(g.o.Scheme.Dirs(name), "/")
			subs[sub] = true
			a.dir = filepath.Join(dom, filepath.FromSlash(sub))
		}
		accts[i] = a
		if a.single {
			d.Single++
		} else {
			d.Multi++
			if a.mdir {
				d.MailboxDirs++
			}
		}
	}
	subList := make([]string, 0, len(subs))
	for s := range subs {
		subList = append(subList, s)
	}
	sort.Strings(subList)
	if d.relocate == "sub" && len(subList) > 0 {
		first := strings.Split(subList[0], "/")[0]
		srel := rel + "/" + first
		if err := g.relocate(srel, res); err != nil {
			return err
		}
		d.Relocated = srel
	}
	for _, s := range subList {
		if err := g.mkdirAll(dom, s); err != nil {
			return err
		}
	}
	g.forget(dom)

	// Write: the big mailbox in chunks, accounts in batches.
	for _, a := range accts {
		if a.big {
			if err := g.bigMailbox(ctx, a, domName, send); err != nil {
				return err
			}
		}
	}
	const batch = 64
	for lo := 0; lo < len(accts); lo += batch {
		part := accts[lo:min(lo+batch, len(accts))]
		if !send(func() error {
			for _, a := range part {
				if err := g.account(a, domName); err != nil {
					return err
				}
				if g.o.Progress != nil {
					g.o.Progress.AccountsDone.Add(1)
				}
			}
			return nil
		}) {
			return ctx.Err()
		}
	}
	return nil
}

// forget drops the producer's record of directories below dom once they
// are made, so memory follows one domain, not the whole store.
func (g *generator) forget(dom string) {
	prefix := dom + string(filepath.Separator)
	for p := range g.made {
		if strings.HasPrefix(p, prefix) {
			delete(g.made, p)
		}
	}
}

func pathDir(rel string) string {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return ""
	}
	return rel[:i]
}

// bigMailbox makes the big INBOX.mdir (before any job that writes into
// it is sent) and sends its messages as parallel chunks.
func (g *generator) bigMailbox(ctx context.Context, a acct, domName string, send func(func() error) bool) error {
	mdir := filepath.Join(a.dir, a.name+MacntSuffix, genInbox+MdirSuffix)
	if err := g.mkdir(filepath.Join(a.dir, a.name+MacntSuffix)); err != nil {
		return err
	}
	if err := g.mkdir(mdir); err != nil {
		return err
	}
	for lo := 0; lo < g.o.BigMailbox; lo += 500 {
		lo, hi := lo, min(lo+500, g.o.BigMailbox)
		if !send(func() error {
			for i := lo; i < hi; i++ {
				if err := g.write(filepath.Join(mdir, fmt.Sprintf("%d%s", i+1, genMsgSuffix)), message(g.o.Seed, a.name+"@"+domName, uint64(i), a.name, domName)); err != nil {
					return err
				}
			}
			g.mdirMsgs.Add(int64(hi - lo))
			return nil
		}) {
			return ctx.Err()
		}
	}
	return nil
}

// account writes one account's files.
func (g *generator) account(a acct, domName string) error {
	key := a.name + "@" + domName
	c := &created{g: g}
	if a.single {
		if err := c.write(filepath.Join(a.dir, a.name+MboxSuffix), mbox(g.o.Seed, key, a.name, domName)); err != nil {
			return err
		}
		if err := c.write(filepath.Join(a.dir, a.name+SettingsSuffix), dictFile(g.o.Seed, key, 3)); err != nil {
			return err
		}
		if err := c.write(filepath.Join(a.dir, a.name+InfoSuffix), infoFile(g.o.Seed, key)); err != nil {
			return err
		}
		if g.o.Extras {
			return g.stamp(c, a)
		}
		return nil
	}
	dir := filepath.Join(a.dir, a.name+MacntSuffix)
	if !a.big {
		if err := c.mkdir(dir); err != nil {
			return err
		}
	}
	switch {
	case a.big:
	case a.mdir:
		mdir := filepath.Join(dir, genInbox+MdirSuffix)
		if err := c.mkdir(mdir); err != nil {
			return err
		}
		for i := range g.o.MdirMessages {
			if err := c.write(filepath.Join(mdir, fmt.Sprintf("%d%s", i+1, genMsgSuffix)), message(g.o.Seed, key, uint64(i), a.name, domName)); err != nil {
				return err
			}
		}
		g.mdirMsgs.Add(int64(g.o.MdirMessages))
	default:
		if err := c.write(filepath.Join(dir, genInbox+MboxSuffix), mbox(g.o.Seed, key, a.name, domName)); err != nil {
			return err
		}
	}
	if err := c.write(filepath.Join(dir, genAcctSet), dictFile(g.o.Seed, key, 3)); err != nil {
		return err
	}
	if err := c.write(filepath.Join(dir, genAcctInfo), infoFile(g.o.Seed, key)); err != nil {
		return err
	}
	if a.sent {
		if err := c.write(filepath.Join(dir, genSent+MboxSuffix), mbox(g.o.Seed, key+"/sent", a.name, domName)); err != nil {
			return err
		}
	}
	if a.trash {
		if err := c.write(filepath.Join(dir, genTrash+MboxSuffix), mbox(g.o.Seed, key+"/trash", a.name, domName)); err != nil {
			return err
		}
	}
	if g.o.Extras && !a.big {
		return g.extras(c, dir, a, key, domName)
	}
	return nil
}

// Name material for accounts.
var (
	givenNames = []string{"anna", "ben", "carla", "david", "elena", "frank", "grace", "henry", "irene", "jack", "kate", "liam", "maria", "nick", "olga", "paul", "quinn", "rosa", "sam", "tina", "ugo", "vera", "will", "xenia", "yusuf", "zoe"}
	surnames   = []string{"smith", "johnson", "brown", "garcia", "miller", "davis", "martin", "lopez", "wilson", "moore", "taylor", "thomas", "white", "harris", "clark", "lewis", "walker", "young", "allen", "king", "wright", "scott", "green", "baker", "adams", "nelson", "hill", "campbell", "mitchell", "roberts", "carter", "phillips", "evans", "turner", "torres", "parker", "collins", "edwards", "stewart", "morris", "murphy", "cook", "rogers", "morgan", "peterson", "cooper", "reed", "bailey", "bell", "kelly", "howard", "ward", "cox", "diaz", "richardson", "wood", "watson", "brooks", "bennett", "gray", "james", "reyes", "cruz", "hughes", "price", "myers", "long", "foster", "sanders", "ross", "morales", "powell", "sullivan", "russell", "ortiz", "jenkins", "gutierrez", "perry", "butler", "barnes", "fisher", "henderson", "coleman", "simmons", "patterson", "jordan", "reynolds", "hamilton", "graham", "kim", "gonzales", "alexander", "ramos", "wallace", "griffin", "west", "cole", "hayes", "chavez", "gibson", "bryant", "ellis", "stevens", "murray", "ford", "marshall", "owens", "mcdonald", "harrison", "ruiz", "kennedy", "wells", "alvarez", "woods", "mendoza", "castillo", "olson", "webb", "washington", "tucker", "freeman", "burns", "henry", "vasquez", "snyder", "simpson", "crawford", "jimenez", "porter", "mason", "shaw", "gordon", "wagner", "hunter", "romero", "hicks", "dixon", "hunt", "palmer", "robertson", "black", "holmes", "stone", "meyer", "boyd", "mills", "warren", "fox", "rose", "rice", "moreno", "schmidt", "patel", "ferguson", "nichols", "herrera", "medina", "ryan", "fernandez", "weaver", "daniels", "stephens", "gardner", "payne", "kelley", "dunn", "pierce", "arnold", "tran", "spencer", "peters", "hawkins", "grant", "hansen", "castro", "hoffman", "hart", "elliott", "cunningham", "knight", "bradley"}
	roleNames  = []string{"info", "sales", "support", "billing", "office", "hr", "jobs", "press", "admin", "noc", "abuse", "help-desk", "front.desk", "it_ops", "team-a", "news"}
)

// AccountNames hands out distinct lowercase account names in a mix of
// the styles real stores use: initial+surname, given.surname, with
// digits, short ones, roles. A name already handed out gets a number
// appended, so the supply never runs out. The sequence depends only on
// the generator it is given.
type AccountNames struct {
	rng  *rand.Rand
	seen map[string]struct{}
}

// NewAccountNames returns a source of names drawing from rng.
func NewAccountNames(rng *rand.Rand) *AccountNames {
	return &AccountNames{rng: rng, seen: make(map[string]struct{})}
}

// Next returns a name never returned before, without a suffix.
func (a *AccountNames) Next() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	seps := [...]string{".", "_", "-"}
	rng := a.rng
	var name string
	given := givenNames[rng.IntN(len(givenNames))]
	sur := surnames[rng.IntN(len(surnames))]
	switch r := rng.IntN(100); {
	case r < 45:
		name = given[:1] + sur
	case r < 60:
		name = given + seps[rng.IntN(len(seps))] + sur
	case r < 70:
		name = given[:1] + sur + fmt.Sprint(rng.IntN(100))
	case r < 78:
		name = given + fmt.Sprint(1950+rng.IntN(60))
	case r < 85:
		name = sur + fmt.Sprintf("%02d", rng.IntN(100))
	case r < 90:
		k := 1 + rng.IntN(2)
		b := make([]byte, k)
		for i := range b {
			b[i] = letters[rng.IntN(26)]
		}
		if k == 2 && rng.IntN(3) == 0 {
			b[1] = letters[26+rng.IntN(10)]
		}
		name = string(b)
	case r < 95:
		name = roleNames[rng.IntN(len(roleNames))]
	default:
		name = given[:1] + seps[rng.IntN(len(seps))] + sur
	}
	if _, dup := a.seen[name]; dup {
		base := name
		for k := 2; ; k++ {
			name = fmt.Sprintf("%s%d", base, k)
			if _, dup := a.seen[name]; !dup {
				break
			}
		}
	}
	a.seen[name] = struct{}{}
	return name
}

// uniqueNames returns n distinct account names (see AccountNames).
func uniqueNames(rng *rand.Rand, n int) []string {
	a := NewAccountNames(rng)
	out := make([]string, 0, n)
	for len(out) < n {
		out = append(out, a.Next())
	}
	return out
}

// contentRand gives the generator of one file's contents: it depends on the
// seed and the file's key only, never on the order of writing.
func contentRand(seed uint64, key string, n uint64) *rand.Rand {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return rand.New(rand.NewPCG(seed^h, n*0x9e3779b97f4a7c15+1))
}

var subjects = []string{"meeting", "invoice", "report", "lunch", "quarterly", "plan", "update", "holiday", "schedule", "review", "draft", "contract", "minutes", "budget", "offer", "question"}

var epoch = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)

// message is one RFC 5322 message of a few hundred bytes.
func message(seed uint64, key string, n uint64, to, domain string) []byte {
	r := contentRand(seed, key, n)
	from := givenNames[r.IntN(len(givenNames))] + "." + surnames[r.IntN(len(surnames))]
	date := epoch.Add(time.Duration(r.IntN(365*24*3600)) * time.Second).Format(time.RFC1123Z)
	subj := subjects[r.IntN(len(subjects))] + " " + subjects[r.IntN(len(subjects))]
	b := make([]byte, 0, 512)
	b = fmt.Appendf(b, "Return-Path: <%s@remote.test>\nDate: %s\nFrom: %s@remote.test\nTo: %s@%s\nSubject: %s\nMessage-ID: <%016x@remote.test>\n\n",
		from, date, from, to, domain, subj, r.Uint64())
	for range 2 + r.IntN(4) {
		for range 6 + r.IntN(6) {
			b = append(b, subjects[r.IntN(len(subjects))]...)
			b = append(b, ' ')
		}
		b[len(b)-1] = '\n'
	}
	return b
}

// mbox is a text mailbox of one to three messages.
func mbox(seed uint64, key, to, domain string) []byte {
	r := contentRand(seed, key, 0)
	var b []byte
	for i := range 1 + r.IntN(3) {
		m := message(seed, key, uint64(i+1), to, domain)
		b = fmt.Appendf(b, "From sender@remote.test %s\n", epoch.Add(time.Duration(i)*time.Hour).Format(time.ANSIC))
		b = append(b, m...)
		b = append(b, '\n')
	}
	return b
}

// dictFile is a small settings dictionary in the server's text format.
func dictFile(seed uint64, key string, n int) []byte {
	r := contentRand(seed, key, 7)
	keys := []string{"RealName", "ServiceClass", "MaxAccountSize", "PasswordEncryption", "Language", "TimeZone", "DeliveryMode", "RulesAllowed"}
	vals := []string{"Standard", "100M", "U-crpt", "English", "HostOS", "Unlimited", "\"Any\"", "Default"}
	b := []byte("{\n")
	for i := range min(n, len(keys)) {
		b = fmt.Appendf(b, "  %s = %s;\n", keys[i], vals[r.IntN(len(vals))])
	}
	return append(b, "}\n"...)
}

func infoFile(seed uint64, key string) []byte {
	r := contentRand(seed, key, 11)
	t := epoch.Add(time.Duration(r.IntN(365*24*3600)) * time.Second)
	return fmt.Appendf(nil, "{\n  LastLogin = #T%s;\n  LastAddress = #I[192.0.2.%d];\n}\n", t.Format("02-01-2006_15:04:05"), 1+r.IntN(254))
}
