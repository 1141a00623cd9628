package fsbench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/layout"
)

// settingsFile is the small file open-read reads inside an account.
const settingsFile = "account.settings"

// settingsBody stands in for an account's settings: a few hundred bytes.
var settingsBody = []byte("{\n  Password = \"#I1234567890abcdef\";\n  RealName = \"Benchmark Account\";\n" +
	"  MaxAccountSize = 100M;\n  RulesAllowed = Any;\n  PWDAllowed = YES;\n  UseAppPassword = NO;\n" +
	"  AccessModes = (Mail, POP, IMAP, WebMail, PWD, Agent, WebSite, Relay, Roaming, LDAP, AirSync, SIP, XMPP);\n}\n")

// sweep holds the state of the lookup sweep: one directory that grows
// from size to size, and the names in it.
type sweep struct {
	o       *Options
	dir     string // the big directory
	volume  string // the user's directory, for statfs on failure
	dfd     int
	rng     *rand.Rand
	names   *layout.AccountNames
	present []string        // entry names in the directory (with suffix)
	hasFile map[string]bool // entries holding a settings file
	cold    bool
}

// lookupSweep runs the sweep over o.Sizes and appends each finished size
// to res.Sizes. It returns the first error; what was measured stays in res.
func lookupSweep(ctx context.Context, o *Options, scratch, volume string, cold, ext bool, res *Result) error {
	dir := filepath.Join(scratch, "domain")
	if err := unix.Mkdir(dir, 0o700); err != nil {
		return opError("bench: create directory", dir, volume, err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return opError("bench: open directory", dir, volume, err)
	}
	defer unix.Close(dfd)
	s := &sweep{
		o: o, dir: dir, volume: volume, dfd: dfd,
		rng:     rand.New(rand.NewPCG(o.Seed, 1)),
		names:   accountNames(o.Seed),
		hasFile: make(map[string]bool),
		cold:    cold,
	}
	for _, size := range o.Sizes {
		start := time.Now()
		r, err := s.measureSize(ctx, size)
		var ll *linkLimit
		if errors.As(err, &ll) {
			res.DirLimit = &DirLimit{
				Entries: ll.entries,
				Reason: fmt.Sprintf("creating subdirectory %d of one directory failed with EMLINK: "+
					"this filesystem holds at most %d subdirectories in one directory", ll.entries+1, ll.entries),
			}
			return nil
		}
		if err != nil {
			return err
		}
		r.Seconds = round2(time.Since(start).Seconds())
		if ext {
			r.HashedIndex = tri(dirIndexed(dir))
		}
		res.Sizes = append(res.Sizes, r)
	}
	return nil
}

// linkLimit reports that the directory cannot take another subdirectory
// (EMLINK: its link count is at the filesystem's maximum). ext4 without a
// directory index stops at 64998 subdirectories.
type linkLimit struct {
	entries int
	path    string
}

func (l *linkLimit) Error() string {
	return fmt.Sprintf("%s: too many links after %d subdirectories", l.path, l.entries)
}

// checkEvery is how many operations run between looks at the context.
const checkEvery = 256

func (s *sweep) measureSize(ctx context.Context, size int) (SizeResult, error) {
	r := SizeResult{Entries: size, Ops: map[string]Latency{}}
	// Grow the directory to size.
	need := size - len(s.present)
	if need > 0 {
		done, end := s.o.stage(fmt.Sprintf("fill to %d entries", size), int64(need))
		start := time.Now()
		for i := 0; i < need; i++ {
			if i%checkEvery == 0 && ctx.Err() != nil {
				end()
				return r, ctx.Err()
			}
			name := s.names.Next() + layout.MacntSuffix
			if err := unix.Mkdirat(s.dfd, name, 0o700); err != nil {
				end()
				if err == unix.EMLINK {
					return r, &linkLimit{entries: len(s.present), path: s.dir}
				}
				return r, opError(fmt.Sprintf("bench: create entry %d of %d in", len(s.present)+1, size), filepath.Join(s.dir, name), s.volume, err)
			}
			s.present = append(s.present, name)
			done.Add(1)
		}
		r.FillPerSec = float64(need) / time.Since(start).Seconds()
		end()
	}

	n := s.o.Samples
	small := max(1, min(n/5, size/5))
	perRep := int64(2*n + 3*small + 2*size)
	done, end := s.o.stage(fmt.Sprintf("measure %d entries", size), perRep*int64(s.o.Reps))
	defer end()
	var lk, miss, rd, mk, rm, ls samples
	var namesRate, typedRate []float64
	for rep := 0; rep < s.o.Reps; rep++ {
		d, err := s.lookups(ctx, n, done)
		if err != nil {
			return r, err
		}
		lk.addRep(d)
		if d, err = s.missing(ctx, n, done); err != nil {
			return r, err
		}
		miss.addRep(d)
		if d, err = s.openRead(ctx, small, done); err != nil {
			return r, err
		}
		rd.addRep(d)
		perEntry, namesPS, typedPS, err := s.list(ctx, done)
		if err != nil {
			return r, err
		}
		ls.addRep([]time.Duration{perEntry})
		namesRate = append(namesRate, namesPS)
		typedRate = append(typedRate, typedPS)
		if d, err = s.creates(ctx, small, done); err != nil {
			return r, err
		}
		mk.addRep(d)
		if d, err = s.removes(ctx, small, done); err != nil {
			return r, err
		}
		rm.addRep(d)
	}
	r.Ops[OpLookup] = lk.summary()
	r.Ops[OpMissing] = miss.summary()
	r.Ops[OpOpenRead] = rd.summary()
	r.Ops[OpList] = ls.summary()
	r.Ops[OpCreate] = mk.summary()
	r.Ops[OpRemove] = rm.summary()
	r.ListNamesPerSec = median(namesRate)
	r.ListTypedPerSec = median(typedRate)
	return r, nil
}

// phase prepares a timed phase: with cold caches it drops them first.
func (s *sweep) phase() {
	if s.cold {
		_ = dropCaches() // checked once at the start; a failure here only makes this phase warmer
	}
}

// pick returns a random present entry.
func (s *sweep) pick() string {
	return s.present[s.rng.IntN(len(s.present))]
}

func (s *sweep) lookups(ctx context.Context, n int, done *atomic.Int64) ([]time.Duration, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = s.pick()
	}
	return s.timedLookups(ctx, names, false, done)
}

func (s *sweep) missing(ctx context.Context, n int, done *atomic.Int64) ([]time.Duration, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = s.names.Next() + layout.MacntSuffix // never created, never asked before
	}
	return s.timedLookups(ctx, names, true, done)
}

// timedLookups times one lstat per name, relative to the directory's fd.
// Every name must exist, or (missing) none may.
func (s *sweep) timedLookups(ctx context.Context, names []string, missing bool, done *atomic.Int64) ([]time.Duration, error) {
	d := make([]time.Duration, 0, len(names))
	var st unix.Stat_t
	s.phase()
	for i, name := range names {
		if i%checkEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t := time.Now()
		err := unix.Fstatat(s.dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		d = append(d, time.Since(t))
		switch {
		case missing && err == nil:
			return nil, opError("bench: look up a missing name", filepath.Join(s.dir, name), s.volume, errors.New("the name exists, but the scratch directory never created it"))
		case missing && err != unix.ENOENT:
			return nil, opError("bench: look up a missing name", filepath.Join(s.dir, name), s.volume, fmt.Errorf("want ENOENT, got %w", err))
		case !missing && err != nil:
			return nil, opError("bench: look up", filepath.Join(s.dir, name), s.volume, err)
		}
		done.Add(1)
	}
	return d, nil
}

func (s *sweep) openRead(ctx context.Context, n int, done *atomic.Int64) ([]time.Duration, error) {
	paths := make([]string, n)
	for i := range paths {
		name := s.pick()
		if !s.hasFile[name] {
			p := filepath.Join(s.dir, name, settingsFile)
			if err := writeFile(p, settingsBody); err != nil {
				return nil, opError("bench: write", p, s.volume, err)
			}
			s.hasFile[name] = true
		}
		paths[i] = name + "/" + settingsFile
	}
	d := make([]time.Duration, 0, n)
	buf := make([]byte, 4096)
	s.phase()
	for i, p := range paths {
		if i%checkEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t := time.Now()
		fd, err := unix.Openat(s.dfd, p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err == nil {
			_, err = unix.Read(fd, buf)
			unix.Close(fd)
		}
		d = append(d, time.Since(t))
		if err != nil {
			return nil, opError("bench: open and read", filepath.Join(s.dir, p), s.volume, err)
		}
		done.Add(1)
	}
	return d, nil
}

// list reads the whole directory twice, names only and with types, and
// returns the time per entry of the typed listing and both rates.
func (s *sweep) list(ctx context.Context, done *atomic.Int64) (time.Duration, float64, float64, error) {
	if ctx.Err() != nil {
		return 0, 0, 0, ctx.Err()
	}
	s.phase()
	t := time.Now()
	n, err := layout.ReadDir(s.dir, false, nil)
	namesTime := time.Since(t)
	if err != nil {
		return 0, 0, 0, opError("bench: list", s.dir, s.volume, err)
	}
	done.Add(int64(n))
	s.phase()
	t = time.Now()
	m, err := layout.ReadDir(s.dir, true, nil)
	typedTime := time.Since(t)
	if err != nil {
		return 0, 0, 0, opError("bench: list with types", s.dir, s.volume, err)
	}
	done.Add(int64(m))
	if n == 0 || m == 0 {
		return 0, 0, 0, nil
	}
	return typedTime / time.Duration(m), float64(n) / namesTime.Seconds(), float64(m) / typedTime.Seconds(), nil
}

func (s *sweep) creates(ctx context.Context, n int, done *atomic.Int64) ([]time.Duration, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = s.names.Next() + layout.MacntSuffix
	}
	d := make([]time.Duration, 0, n)
	s.phase()
	for i, name := range names {
		if i%checkEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t := time.Now()
		err := unix.Mkdirat(s.dfd, name, 0o700)
		d = append(d, time.Since(t))
		if err == unix.EMLINK {
			return nil, &linkLimit{entries: len(s.present), path: s.dir}
		}
		if err != nil {
			return nil, opError("bench: create", filepath.Join(s.dir, name), s.volume, err)
		}
		s.present = append(s.present, name)
		done.Add(1)
	}
	return d, nil
}

// removes removes n random entries that hold no file, keeping the
// directory at the size it had before creates added n.
func (s *sweep) removes(ctx context.Context, n int, done *atomic.Int64) ([]time.Duration, error) {
	idx := make([]int, 0, n)
	chosen := make(map[int]bool, n)
	for tries := 0; len(idx) < n && tries < 100*n; tries++ {
		i := s.rng.IntN(len(s.present))
		if chosen[i] || s.hasFile[s.present[i]] {
			continue
		}
		chosen[i] = true
		idx = append(idx, i)
	}
	d := make([]time.Duration, 0, len(idx))
	s.phase()
	for k, i := range idx {
		if k%checkEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		name := s.present[i]
		t := time.Now()
		err := unix.Unlinkat(s.dfd, name, unix.AT_REMOVEDIR)
		d = append(d, time.Since(t))
		if err != nil {
			return nil, opError("bench: remove", filepath.Join(s.dir, name), s.volume, err)
		}
		done.Add(1)
	}
	// Drop the removed names from present.
	keep := s.present[:0]
	for i, name := range s.present {
		if !chosen[i] {
			keep = append(keep, name)
		}
	}
	s.present = keep
	return d, nil
}

// writeFile creates path exclusively and writes b to it.
func writeFile(path string, b []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = unix.Write(fd, b)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := slices.Clone(v)
	slices.Sort(c)
	return c[len(c)/2]
}
