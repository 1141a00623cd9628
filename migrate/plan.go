package migrate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/durable"
	"github.com/cgscale/cgscale/layout"
)

// PlanSchema names the plan file format. A reader refuses any other value.
const PlanSchema = "cgscale.plan/v1"

// Operation kinds of a plan.
const (
	OpMkdir    = "mkdir"    // create a subdirectory (Target)
	OpRename   = "rename"   // rename Source to Target on the same volume
	OpRelocate = "relocate" // move Source to the volume Target, leave a link
)

// Plan is the reviewable description of a change to a store. It is pure
// data: building one reads the store, applying one is the executor's job.
// Paths in operations are relative to Base, with '/' separators.
//
// In the plan file every string keeps its exact bytes: a valid UTF-8
// string is a JSON string, any other (a file name in Latin-1, say) is the
// object {"b64": "<standard base64 of its bytes>"} (see plan_raw.go). The
// checksum is computed over that encoding, so what apply reads back is
// what plan wrote, byte for byte.
type Plan struct {
	Schema  string    `json:"schema"`
	Base    string    `json:"base"`
	BaseDev uint64    `json:"base_dev"`
	BaseIno uint64    `json:"base_ino"`
	Created time.Time `json:"created"`
	// Conversions has one entry per container (a domain directory, the
	// main domain's Accounts/, or Domains/ itself) that moves into
	// subdirectories.
	Conversions []Conversion `json:"conversions"`
	// Relocations lists directories that move to another volume.
	Relocations []Relocation `json:"relocations"`
	// Targets are the filesystems the plan writes to, with the free space
	// and inodes found there when the plan was made.
	Targets []TargetCheck `json:"targets"`
	// Problems are what planning found in the way. A plan with a blocking
	// problem is refused by apply.
	Problems []Problem `json:"problems"`
	// Ops is the ordered list of operations apply carries out.
	Ops []Op `json:"operations"`
	// Checksum is the SHA-256 of the plan encoded with this field empty;
	// apply refuses a plan whose checksum does not match (a hand edit).
	Checksum string `json:"checksum"`
	// File is where the plan was read from (ReadPlan), for the commands
	// hints print; not part of the plan file.
	File string `json:"-"`
}

// applyCmd is the command line that runs apply on this plan with flags
// (e.g. "--resume"), for hints.
func (p *Plan) applyCmd(flags string) string {
	f := "PLAN"
	if p.File != "" {
		f = layout.ShellQuote(p.File)
	}
	if flags != "" {
		return "cgscale apply " + flags + " " + f
	}
	return "cgscale apply " + f
}

// Conversion is one container moving into subdirectories.
type Conversion struct {
	Dir     string `json:"dir"`              // relative to Base: "Domains/example.com"
	Domain  string `json:"domain,omitempty"` // the domain, "" for Domains/ itself
	Entity  string `json:"entity"`           // "accounts" or "domains"
	Scheme  string `json:"scheme"`
	Entries int    `json:"entries"` // accounts (or domains) that move
	// FromSubdirs of them are in a subdirectory already, not the one the
	// scheme gives (misplaced, or the scheme changes).
	FromSubdirs int    `json:"from_subdirs,omitempty"`
	Files       int    `json:"files"` // directory entries that move (an account may have siblings)
	NewDirs     int    `json:"new_dirs"`
	Dev         uint64 `json:"dev"`
	Ino         uint64 `json:"ino"`
	MtimeNS     int64  `json:"mtime_ns"` // of the container, restored by undo
	AtimeNS     int64  `json:"atime_ns"`
	// LinkedTo is set when Dir is a relocation link (the domain was moved
	// to another volume): the directory it led to when planned. The
	// renames then happen in that directory, on its filesystem; Dev, Ino
	// and the times are that directory's, and apply opens Dir through the
	// link and refuses if it leads anywhere else. The lock and the server
	// check stay on Base.
	LinkedTo string `json:"linked_to,omitempty"`
	// Existing lists subdirectories (relative to Base) that were already
	// there and are used as they are.
	Existing []string  `json:"existing_dirs,omitempty"`
	Examples []Example `json:"examples,omitempty"`
	// Server says what to change in the server's settings for the new layout.
	Server string `json:"server"`
}

// Example is an account (or domain) and its path after the conversion,
// for the administrator's spot check with GETACCOUNTLOCATION.
type Example struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	NewPath string `json:"new_path"` // relative to the container
}

// Relocation is a directory that moves to another volume and is replaced by
// a symbolic link. The figures come from the move engine's pre-flight
// (PlanMove) when the plan is made; apply runs it again before copying.
type Relocation struct {
	Source string `json:"source"`         // relative to Base
	Volume string `json:"volume"`         // absolute path of the target volume
	Dest   string `json:"dest,omitempty"` // where the tree lands: Volume/<Source>
	Files  int64  `json:"files"`          // regular files to copy
	Dirs   int64  `json:"dirs"`
	Bytes  int64  `json:"bytes"`  // apparent size of the files to copy
	Inodes int64  `json:"inodes"` // inodes to create, each hard-linked file once
	// NeedBytes and NeedInodes are what the target must have free: the
	// tree's size in the target's blocks (see Totals.TargetBytes) and its
	// inodes, plus the engine's margin.
	NeedBytes  int64 `json:"need_bytes"`
	NeedInodes int64 `json:"need_inodes"`
	// The target volume as the pre-flight found it.
	FSType      string `json:"fstype,omitempty"`
	FreeBytes   int64  `json:"free_bytes"`
	FreeInodes  int64  `json:"free_inodes"`
	InodesKnown bool   `json:"inodes_known"`
	// RewriteRelativeLinks: relative links inside Source that lead out
	// of it get their absolute targets in the copy (plan
	// --rewrite-relative-links); without it such links block the plan.
	RewriteRelativeLinks bool `json:"rewrite_relative_links,omitempty"`
}

// TargetCheck is the free space of one filesystem the plan writes to.
type TargetCheck struct {
	Path        string `json:"path"`
	Dev         uint64 `json:"dev"`
	FreeBytes   int64  `json:"free_bytes"`
	FreeInodes  int64  `json:"free_inodes"`
	NeedBytes   int64  `json:"need_bytes"`
	NeedInodes  int64  `json:"need_inodes"`
	Enough      bool   `json:"enough"`
	ReadOnly    bool   `json:"read_only"`
	InodesKnown bool   `json:"inodes_known"` // false on filesystems without an inode count (btrfs)
}

// Problem is something planning found in the way.
type Problem struct {
	Code     string `json:"code"` // "collision", "unreadable", "space", "read-only", "not-found"
	Path     string `json:"path"` // relative to Base
	Detail   string `json:"detail"`
	Blocking bool   `json:"blocking"`
}

// Op is one operation. Source identity (device, inode, modification time)
// is what apply compares with the store before it changes anything.
type Op struct {
	Op      string `json:"op"`
	Dir     string `json:"dir,omitempty"`     // the container it belongs to
	Account string `json:"account,omitempty"` // the account (or domain) it moves
	Source  string `json:"source,omitempty"`
	Target  string `json:"target"`
	Dev     uint64 `json:"dev,omitempty"`
	Ino     uint64 `json:"ino,omitempty"`
	MtimeNS int64  `json:"mtime_ns,omitempty"`
}

// Blocking returns the problems that make apply refuse the plan.
func (p *Plan) Blocking() []Problem {
	var out []Problem
	for _, pr := range p.Problems {
		if pr.Blocking {
			out = append(out, pr)
		}
	}
	return out
}

// Seal sets the schema and the checksum. Call it last, before writing.
// It reads the encoded plan back and refuses one that does not decode to
// the same checksum: whatever a plan holds, apply must see exactly what
// plan wrote.
func (p *Plan) Seal() error {
	p.Schema = PlanSchema
	sum, err := p.sum()
	if err != nil {
		return err
	}
	p.Checksum = sum
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		return fmt.Errorf("the encoded plan does not decode: %v", err)
	}
	if again, err := back.sum(); err != nil || again != sum {
		return fmt.Errorf("the encoded plan does not read back as written (checksum %s, read back %s)", short(sum), short(again))
	}
	return nil
}

func (p *Plan) sum() (string, error) {
	c := *p
	c.Checksum = ""
	data, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(h[:]), nil
}

// WritePlan writes the sealed plan to path atomically (writeDurable).
// "-" writes to w.
func WritePlan(p *Plan, path string, w io.Writer) error {
	if err := p.Seal(); err != nil {
		return errs.New(errs.Failed, "encode plan", path, err, "")
	}
	data, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		return errs.New(errs.Failed, "encode plan", path, err, "")
	}
	data = append(data, '\n')
	if path == "-" {
		_, err := w.Write(data)
		return err
	}
	return writeDurable("write plan", path, data)
}

// writeDurable replaces path with data, mode 0600, whole or not at all
// and synced (durable.WriteFile).
func writeDurable(op, path string, data []byte) error {
	if err := durable.WriteFile(path, data, 0o600); err != nil {
		return errs.New(errs.Failed, op, path, err, "check that the directory exists and is writable")
	}
	return nil
}

// ReadPlan reads and validates a plan file: it must be JSON of this schema
// version, its checksum must match, and its operations must be consistent
// with the conversions they belong to. Every failure is BadInput and names
// what is wrong.
func ReadPlan(path string) (*Plan, error) {
	const hint = "give the file that `cgscale plan --out` wrote"
	fi, err := os.Stat(path)
	if err == nil && !fi.Mode().IsRegular() {
		what := "not a regular file"
		if fi.IsDir() {
			what = "a directory"
		}
		return nil, errs.Errorf(errs.BadInput, "read plan", path, hint, "is %s, not a plan file", what)
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, errs.New(errs.BadInput, "read plan", path, causeOnly(err), hint)
	}
	p, err := DecodePlan(path, data)
	if p != nil {
		p.File = path
		if abs, err := filepath.Abs(path); err == nil {
			p.File = abs
		}
	}
	return p, err
}

// causeOnly strips the operation and path from an *os.PathError, so a
// message that names the path already does not repeat it.
func causeOnly(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// DecodePlan is ReadPlan on bytes already read; path is for messages.
// Every failure is BadInput (the file is not a usable plan).
func DecodePlan(path string, data []byte) (*Plan, error) {
	bad := func(hint, format string, args ...any) error {
		return errs.Errorf(errs.BadInput, "read plan", path, hint, format, args...)
	}
	const hint = "give the file that `cgscale plan --out` wrote, or make a new plan"
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, bad(hint, "the file is empty")
	}
	if t := bytes.TrimSpace(data); t[0] != '{' {
		return nil, bad(hint, "not a cgscale plan: a plan is a JSON object, this file starts with %q", string(t[:min(len(t), 12)]))
	}
	if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se) && strings.Contains(se.Error(), "unexpected end"):
			return nil, bad(hint, "the JSON is truncated at byte %d (a write cut short, or a partial copy)", se.Offset)
		case errors.As(err, &se):
			return nil, bad(hint, "the JSON is corrupt at byte %d: %v", se.Offset, err)
		}
		return nil, bad(hint, "not JSON: %v", err)
	}
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil || head.Schema == nil {
		return nil, bad(hint, "not a cgscale plan (a JSON value without a \"schema\" field)")
	}
	if *head.Schema != PlanSchema {
		if strings.HasPrefix(*head.Schema, "cgscale.plan/") {
			return nil, bad("make a new plan with this version of cgscale", "plan version %q is not supported (this cgscale reads %q)", *head.Schema, PlanSchema)
		}
		return nil, bad("give the file that `cgscale plan --out` wrote", "not a cgscale plan (schema %q)", *head.Schema)
	}
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, bad("make a new plan; do not edit plan files by hand", "plan does not decode: %v", err)
	}
	sum, err := p.sum()
	if err != nil {
		return nil, bad("", "plan does not encode: %v", err)
	}
	if sum != p.Checksum {
		return nil, bad("the file was changed after `cgscale plan` wrote it; make a new plan instead of editing one",
			"plan checksum does not match its contents (recorded %s, computed %s)", short(p.Checksum), short(sum))
	}
	if err := p.Validate(); err != nil {
		return nil, bad("make a new plan with `cgscale plan`", "plan is inconsistent: %v", err)
	}
	return &p, nil
}

func short(s string) string {
	if len(s) > 19 {
		return s[:19] + "…"
	}
	if s == "" {
		return "none"
	}
	return s
}

// Validate checks that the plan is consistent in itself: paths are
// relative and clean, every rename lands where its conversion's scheme
// says, every subdirectory it needs is created first, and no path is used
// twice. It does not look at the store.
func (p *Plan) Validate() error {
	if !filepath.IsAbs(p.Base) {
		return fmt.Errorf("base %q is not an absolute path", p.Base)
	}
	convs := map[string]*Conversion{}
	schemes := map[string]layout.Scheme{}
	for i := range p.Conversions {
		c := &p.Conversions[i]
		if err := relPath(c.Dir); err != nil {
			return fmt.Errorf("conversion %d: %v", i, err)
		}
		s, err := layout.ParseScheme(c.Scheme)
		if err != nil {
			return fmt.Errorf("conversion of %s: %v", c.Dir, err)
		}
		if _, dup := convs[c.Dir]; dup {
			return fmt.Errorf("%s is converted twice", c.Dir)
		}
		convs[c.Dir] = c
		schemes[c.Dir] = s
	}
	made := map[string]bool{}
	sources := map[string]bool{}
	targets := map[string]bool{}
	files := map[string]int{}
	for i, op := range p.Ops {
		where := fmt.Sprintf("operation %d (%s %s)", i+1, op.Op, op.Target)
		switch op.Op {
		case OpMkdir, OpRename:
			if _, ok := convs[op.Dir]; !ok {
				return fmt.Errorf("%s: belongs to %q, which the plan does not convert", where, op.Dir)
			}
			if err := relPath(op.Target); err != nil {
				return fmt.Errorf("%s: %v", where, err)
			}
			if !strings.HasPrefix(op.Target, op.Dir+"/") {
				return fmt.Errorf("%s: target is outside %s", where, op.Dir)
			}
			if targets[op.Target] {
				return fmt.Errorf("%s: target is used twice", where)
			}
			targets[op.Target] = true
		case OpRelocate:
			if err := relPath(op.Source); err != nil {
				return fmt.Errorf("%s: %v", where, err)
			}
			if !filepath.IsAbs(op.Target) {
				return fmt.Errorf("%s: volume is not an absolute path", where)
			}
			continue
		default:
			return fmt.Errorf("%s: unknown operation %q", where, op.Op)
		}
		if op.Op == OpMkdir {
			parent := path.Dir(op.Target)
			if parent != op.Dir && !made[parent] && !slices.Contains(convs[op.Dir].Existing, parent) {
				return fmt.Errorf("%s: created before its parent %s", where, parent)
			}
			if !strings.HasSuffix(op.Target, layout.SubSuffix) {
				return fmt.Errorf("%s: a subdirectory name must end in %s", where, layout.SubSuffix)
			}
			made[op.Target] = true
			continue
		}
		if err := relPath(op.Source); err != nil {
			return fmt.Errorf("%s: %v", where, err)
		}
		if !inSubdirs(op.Dir, op.Source) {
			return fmt.Errorf("%s: source %s is neither directly in %s nor in a subdirectory of it", where, op.Source, op.Dir)
		}
		if sources[op.Source] {
			return fmt.Errorf("%s: source %s is moved twice", where, op.Source)
		}
		sources[op.Source] = true
		if op.Account == "" {
			return fmt.Errorf("%s: no account named", where)
		}
		want := path.Join(append(append([]string{op.Dir}, schemes[op.Dir].Dirs(op.Account)...), path.Base(op.Source))...)
		if op.Target != want {
			return fmt.Errorf("%s: target should be %s under scheme %s", where, want, schemes[op.Dir])
		}
		if parent := path.Dir(op.Target); !made[parent] {
			if !slices.Contains(convs[op.Dir].Existing, parent) {
				return fmt.Errorf("%s: its directory %s is not created by an earlier operation", where, parent)
			}
		}
		files[op.Dir]++
	}
	for dir, c := range convs {
		if files[dir] != c.Files {
			return fmt.Errorf("conversion of %s says %d entries move, the operations move %d", dir, c.Files, files[dir])
		}
	}
	return nil
}

func relPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q is absolute, want one relative to the base", p)
	}
	if path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("path %q is not clean or leaves the base", p)
	}
	return nil
}

// inSubdirs reports whether src is directly in dir or in its *.sub
// subdirectories (where a misplaced account, or one of a scheme being
// changed, sits).
func inSubdirs(dir, src string) bool {
	if !strings.HasPrefix(src, dir+"/") {
		return false
	}
	parts := strings.Split(strings.TrimPrefix(src, dir+"/"), "/")
	for _, p := range parts[:len(parts)-1] {
		if !strings.HasSuffix(p, layout.SubSuffix) {
			return false
		}
	}
	return true
}
