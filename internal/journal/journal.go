// Package journal is the on-disk format of the state cgscale keeps in a
// store's base: the journals of apply and move (BASE/.cgscale/journal/
// *.jsonl, one JSON record a line) and the copies of the plans apply
// carries out (BASE/.cgscale/plans). Package migrate writes them with
// Encode, package layout reads them for scan; both read a journal with
// Read, so they agree on which records it holds and on when it is damaged.
package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cgscale/cgscale/internal/rawjson"
)

// Where the state lives, relative to the store base.
const (
	StateDir      = ".cgscale" // journals, plan copies and kept source trees
	JournalSubdir = "journal"  // in StateDir
	PlansSubdir   = "plans"    // in StateDir
	Ext           = ".jsonl"   // of a journal file
)

// Dir is the directory holding the journals of the store at base.
func Dir(base string) string { return filepath.Join(base, StateDir, JournalSubdir) }

// PlansDir is the directory holding apply's copies of the plans it runs.
func PlansDir(base string) string { return filepath.Join(base, StateDir, PlansSubdir) }

// PlanID names a plan in PlansDir by its checksum ("sha256:<hex>"): the
// first 16 hex digits.
func PlanID(checksum string) string {
	id := strings.TrimPrefix(checksum, "sha256:")
	return id[:min(16, len(id))]
}

// PlanCopy is where apply keeps its copy of the plan with that checksum.
func PlanCopy(base, checksum string) string {
	return filepath.Join(PlansDir(base), PlanID(checksum)+".json")
}

// Record is one line of a journal (the steps are documented in package
// migrate). Its strings are paths and link texts, which are bytes, not
// text: each is kept byte for byte, a JSON string when it is valid UTF-8
// and {"b64": "..."} when it is not (internal/rawjson), so a resumed run
// finds the very names the interrupted one worked on. Journals written
// before, with plain strings only, read the same.
type Record struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	Op   int       `json:"op"`
	Kind string    `json:"kind"` // KindJob, KindMove, "rename", KindUndo
	Step string    `json:"step"`
	Src  string    `json:"src,omitempty"`
	Dst  string    `json:"dst,omitempty"`
	Link string    `json:"link,omitempty"` // text of the symbolic link put at Src
	Temp string    `json:"temp,omitempty"` // name, in Src's directory, used by the swap
	Kept string    `json:"kept,omitempty"` // where the old tree was kept
	// Made lists directories the operation created above Dst, outermost first.
	Made []string `json:"made,omitempty"`
	Dev  uint64   `json:"dev,omitempty"`  // device of the target volume
	FSID string   `json:"fsid,omitempty"` // filesystem id of the target volume (statfs f_fsid)
	Ino  uint64   `json:"ino,omitempty"`  // with Dev: the inode of the directory a "created" record names
	// Opts holds the options a resumed run needs, as flag-like strings.
	Opts map[string]string `json:"opts,omitempty"`
	Note string            `json:"note,omitempty"`
}

// Record kinds, steps and option keys that both writer and readers use.
const (
	KindJob   = "job"
	KindMove  = "move" // a relocation's records, written by the move engine
	KindUndo  = "undo"
	StepBegin = "begin"
	StepEnd   = "end"
	// StepSwapped: the link now stands at Src, the copy is in service.
	StepSwapped = "swapped"
	OptCommand  = "command"   // of the job's begin record: "apply" (move writes none)
	OptPlanSum  = "plan"      // the checksum of the plan apply carries out
	OptPlanCopy = "plan_copy" // the path of apply's copy of that plan
)

// DamagedError is a journal holding a line that is not a record before
// its last line: not a write cut short by a crash, so something else
// changed the file.
type DamagedError struct {
	Path string
	Line int // from 1
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s: line %d is not a journal record: %v", e.Path, e.Line, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// Whole is the length of the part of a journal's content that holds
// whole lines: up to and including the last newline. What follows is a
// write torn by a crash.
func Whole(data []byte) int { return bytes.LastIndexByte(data, '\n') + 1 }

// Encode returns r as one line of a journal, its newline included.
func Encode(r Record) ([]byte, error) {
	line, err := rawjson.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(line, '\n'), nil
}

// Parse returns the records of a journal's content read from path. A
// record is a line ending in a newline; bytes after the last newline are
// a torn write and are dropped, blank lines are skipped. A line that is
// not a record is a *DamagedError, returned with the records before it.
func Parse(path string, data []byte) ([]Record, error) {
	var recs []Record
	data = data[:Whole(data)]
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Record
		if err := rawjson.Unmarshal(line, &r); err != nil {
			return recs, &DamagedError{Path: path, Line: i + 1, Err: err}
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// Read reads and parses the journal at path (see Parse). It only reads.
func Read(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// TrimTorn cuts a torn last line off the journal open for writing as f
// and syncs it, so the next record appended starts a line of its own.
func TrimTorn(f *os.File) error {
	data, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	whole := Whole(data)
	if whole == len(data) {
		return nil
	}
	if err := f.Truncate(int64(whole)); err != nil {
		return err
	}
	return f.Sync()
}
