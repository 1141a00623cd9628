package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/layout"
)

// dirBlock is what one new subdirectory costs on disk, for the space check.
const dirBlock = 4096

// NewPlan starts an empty plan for the store at base (an absolute path),
// recording the base's identity so a plan cannot be applied to another store.
func NewPlan(base string, now time.Time) (*Plan, error) {
	abs, err := filepath.Abs(base)
	if err != nil {
		return nil, errs.New(errs.BadInput, "plan", base, err, "")
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return nil, errs.New(errs.BadInput, "plan", abs, err, "give the store base directory, e.g. /var/CommuniGate")
	}
	return &Plan{
		Schema: PlanSchema, Base: abs, BaseDev: uint64(st.Dev), BaseIno: st.Ino,
		Created:     now.UTC().Truncate(time.Second),
		Conversions: []Conversion{}, Relocations: []Relocation{}, Targets: []TargetCheck{},
		Problems: []Problem{}, Ops: []Op{},
	}, nil
}

// AddConversion plans the conversion of c to scheme s. Relocations are
// kept after every conversion's operations, whatever the call order.
func (p *Plan) AddConversion(c Container, s layout.Scheme) {
	conv, ops, problems := BuildConversion(c, s)
	p.Conversions = append(p.Conversions, conv)
	p.Problems = append(p.Problems, problems...)
	var reloc []Op
	for len(p.Ops) > 0 && p.Ops[len(p.Ops)-1].Op == OpRelocate {
		reloc = append([]Op{p.Ops[len(p.Ops)-1]}, reloc...)
		p.Ops = p.Ops[:len(p.Ops)-1]
	}
	p.Ops = append(append(p.Ops, ops...), reloc...)
}

// AddRelocation plans moving r.Source to the volume r.Volume. The
// operation records the source's device and inode when it is there, so
// apply can refuse a directory that was replaced since.
func (p *Plan) AddRelocation(r Relocation) {
	p.Relocations = append(p.Relocations, r)
	op := Op{Op: OpRelocate, Source: r.Source, Target: r.Volume}
	var st unix.Stat_t
	if unix.Lstat(filepath.Join(p.Base, filepath.FromSlash(r.Source)), &st) == nil {
		op.Dev, op.Ino = uint64(st.Dev), st.Ino
	}
	p.Ops = append(p.Ops, op)
}

// firstRelocation is the index of the first relocation operation;
// relocations follow every rename (AddConversion keeps them last).
func (p *Plan) firstRelocation() int {
	for i, op := range p.Ops {
		if op.Op == OpRelocate {
			return i
		}
	}
	return len(p.Ops)
}

// CheckTargets measures free space and inodes on every filesystem the plan
// writes to, and adds a blocking problem for each that is read-only, not
// writable, or too small.
func (p *Plan) CheckTargets() {
	type need struct {
		path          string
		bytes, inodes int64
	}
	var needs []need
	for _, c := range p.Conversions {
		needs = append(needs, need{filepath.Join(p.Base, filepath.FromSlash(c.Dir)), int64(c.NewDirs) * dirBlock, int64(c.NewDirs)})
	}
	for _, r := range p.Relocations {
		needs = append(needs, need{r.Volume, r.NeedBytes, r.NeedInodes})
	}
	byDev := map[uint64]*TargetCheck{}
	var order []uint64
	for _, n := range needs {
		var st unix.Stat_t
		var sfs unix.Statfs_t
		err := unix.Stat(n.path, &st)
		if err == nil {
			err = unix.Statfs(n.path, &sfs)
		}
		if err != nil {
			p.Problems = append(p.Problems, Problem{Code: "not-found", Path: n.path, Blocking: true,
				Detail: fmt.Sprintf("cannot check the target: %v", err)})
			continue
		}
		dev := uint64(st.Dev)
		t, ok := byDev[dev]
		if !ok {
			t = &TargetCheck{Path: n.path, Dev: dev,
				FreeBytes:   int64(sfs.Bavail) * int64(sfs.Bsize),
				FreeInodes:  int64(sfs.Ffree),
				InodesKnown: sfs.Files > 0,
				ReadOnly:    readOnlyFS(&sfs),
			}
			byDev[dev] = t
			order = append(order, dev)
			if t.ReadOnly {
				p.Problems = append(p.Problems, Problem{Code: "read-only", Path: n.path, Blocking: true,
					Detail: "the filesystem is mounted read-only; remount it read-write before apply"})
			}
		}
		if !t.ReadOnly && unix.Access(n.path, unix.W_OK) != nil {
			p.Problems = append(p.Problems, Problem{Code: "read-only", Path: n.path, Blocking: true,
				Detail: "the directory is not writable by this user"})
		}
		t.NeedBytes += n.bytes
		t.NeedInodes += n.inodes
	}
	sort.Slice(order, func(i, j int) bool { return byDev[order[i]].Path < byDev[order[j]].Path })
	for _, dev := range order {
		t := byDev[dev]
		t.Enough = t.FreeBytes >= t.NeedBytes && (!t.InodesKnown || t.FreeInodes >= t.NeedInodes)
		if !t.Enough {
			p.Problems = append(p.Problems, Problem{Code: "space", Path: t.Path, Blocking: true,
				Detail: fmt.Sprintf("needs %d bytes and %d inodes, has %d bytes and %d inodes free", t.NeedBytes, t.NeedInodes, t.FreeBytes, t.FreeInodes)})
		}
		p.Targets = append(p.Targets, *t)
	}
}

// CheckServerBase refuses a base that does not look like a server's base
// directory. A CommuniGate Pro base always holds Settings/; a relocation
// volume (what `cgscale move` and `plan --relocate` fill) holds only
// Domains/ and the trees moved there. Planning or applying there would
// check the wrong ProcessID and lock the wrong store, so a server
// running on the real base, or another cgscale working on it, would go
// unnoticed. A base that is missing or not a directory is left to the
// caller's own checks.
func CheckServerBase(op, base string) error {
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		return nil
	}
	st, err := os.Stat(filepath.Join(base, layout.SettingsDir))
	if err == nil && st.IsDir() {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errs.New(errs.BadInput, op, base, causeOnly(err), "run as root or as the server's user")
	}
	what := "has no " + layout.SettingsDir + "/ directory, so it is not a server base"
	if d, err := os.Stat(filepath.Join(base, layout.DomainsDir)); err == nil && d.IsDir() {
		what += "; it looks like a relocation volume (it holds " + layout.DomainsDir + "/ only)"
	}
	return errs.Errorf(errs.BadInput, op, base,
		"give the server's base directory, the one holding "+layout.SettingsDir+"/ and "+layout.ProcessIDFile+" ("+layout.DefaultBase+" by default); a relocated domain is planned through the link in that base",
		"%s", what)
}
