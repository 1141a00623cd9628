package migrate

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/durable"
	"github.com/cgscale/cgscale/internal/journal"
)

// Record is one line of a journal (see the package documentation).
type Record = journal.Record

// Journal steps shared by all operations.
const (
	StepBegin      = journal.StepBegin
	StepEnd        = journal.StepEnd
	StepDone       = "done"
	StepRolledBack = "rolled back"
	// StepLinkRewritten records one relative link of a moved tree given an
	// absolute target in the copy: src is the link in the copy, link its
	// new text, note its text in the source.
	StepLinkRewritten = "link rewritten"
)

// Journal is an open, append-only journal file.
type Journal struct {
	ID   string
	Path string
	f    *os.File
	seq  int
}

// JournalDir is where the journals of the store at base live.
func JournalDir(base string) string { return journal.Dir(base) }

// KeepJournals is how many completed journals a store keeps: each new job
// first deletes the completed ones older than the newest KeepJournals.
// Never deleted: an unfinished journal, one that cannot be read, and one
// recording a relocation whose link still stands (scan checks such links
// against the volume the journal names).
const KeepJournals = 50

// CreateJournal starts a new journal for a job in the store at base, after
// pruning old completed journals (see KeepJournals). The caller holds the
// store lock.
func CreateJournal(base string) (*Journal, error) {
	dir := JournalDir(base)
	if err := durable.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.New(errs.Failed, "create journal directory", dir, err, "check that the store base is writable")
	}
	if err := pruneJournals(dir, KeepJournals); err != nil {
		return nil, err
	}
	id := time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + pidString()
	id = strings.ReplaceAll(id, ".", "")
	path := filepath.Join(dir, id+".jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, errs.New(errs.Failed, "create journal", path, err, "")
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, errs.New(errs.Failed, "sync journal directory", dir, err, "")
	}
	return &Journal{ID: id, Path: path, f: f}, nil
}

// OpenJournal reads the journal at path and opens it for further appends.
func OpenJournal(path string) (*Journal, []Record, error) {
	recs, err := ReadJournal(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, errs.New(errs.Failed, "open journal", path, err, "")
	}
	if err := journal.TrimTorn(f); err != nil {
		f.Close()
		return nil, nil, errs.New(errs.Failed, "cut torn journal line", path, err, "check that the store base is writable")
	}
	j := &Journal{ID: strings.TrimSuffix(filepath.Base(path), ".jsonl"), Path: path, f: f}
	if n := len(recs); n > 0 {
		j.seq = recs[n-1].Seq
	}
	return j, recs, nil
}

// ReadJournal returns the records of the journal at path. A record is a
// line ending in a newline: bytes after the last newline are a write torn
// by a crash and are dropped (OpenJournal cuts them off); a line that is
// not a record elsewhere is an error.
func ReadJournal(path string) ([]Record, error) {
	recs, err := journal.Read(path)
	var d *journal.DamagedError
	switch {
	case errors.As(err, &d):
		return nil, errs.Errorf(errs.Failed, "read journal", path,
			"the journal is damaged; inspect it before changing the store again",
			"line %d: %v", d.Line, d.Err)
	case err != nil:
		return nil, errs.New(errs.Failed, "read journal", path, err, "")
	}
	return recs, nil
}

// Append writes r (numbered and timed) and makes it durable.
func (j *Journal) Append(r Record) error {
	j.seq++
	r.Seq = j.seq
	r.Time = time.Now().UTC()
	line, err := journal.Encode(r)
	if err != nil {
		return errs.New(errs.Failed, "write journal", j.Path, err, "")
	}
	if _, err := j.f.Write(line); err != nil {
		return errs.New(errs.Failed, "write journal", j.Path, err, "free space on the store's volume, then run with --resume")
	}
	if err := j.f.Sync(); err != nil {
		return errs.New(errs.Failed, "sync journal", j.Path, err, "")
	}
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error {
	if j == nil || j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// pruneJournals deletes the completed journals in dir older than the
// newest keep completed ones. Journal names begin with their creation
// time, so name order is age order. Unfinished journals and journals
// that cannot be read stay, whatever their age.
func pruneJournals(dir string, keep int) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return errs.New(errs.Failed, "read journal directory", dir, err, "")
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), journal.Ext) && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	completed := 0
	for i := len(names) - 1; i >= 0; i-- {
		p := filepath.Join(dir, names[i])
		recs, err := ReadJournal(p)
		if err != nil || !Finished(recs) || liveRelocation(recs) {
			continue
		}
		if completed++; completed <= keep {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return errs.New(errs.Failed, "remove old journal", p, err, "check that the store base is writable")
		}
	}
	return nil
}

// liveRelocation reports whether recs record a relocation that swapped in
// its link and that link still stands at its source with the same text.
func liveRelocation(recs []Record) bool {
	for _, r := range recs {
		if r.Kind != "move" || r.Step != StepBegin || r.Link == "" || !reached(recs, r.Op, "move", "swapped") {
			continue
		}
		if text, err := os.Readlink(r.Src); err == nil && text == r.Link {
			return true
		}
	}
	return false
}

// Finished reports whether recs hold the end record of their job.
func Finished(recs []Record) bool {
	for _, r := range recs {
		if r.Kind == "job" && r.Step == StepEnd {
			return true
		}
	}
	return false
}

// Unfinished lists the journals of the store at base that have no end
// record, oldest first.
func Unfinished(base string) ([]string, error) {
	dir := JournalDir(base)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.New(errs.Failed, "read journal directory", dir, err, "")
	}
	var out []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), journal.Ext) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		recs, err := ReadJournal(p)
		if err != nil {
			return nil, err
		}
		if !Finished(recs) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// lastStep returns the last step recorded for operation op of the given kind.
func lastStep(recs []Record, op int, kind string) (Record, bool) {
	var last Record
	found := false
	for _, r := range recs {
		if r.Op == op && r.Kind == kind {
			last, found = r, true
		}
	}
	return last, found
}

// beginRecord returns the begin record of operation op of the given kind.
func beginRecord(recs []Record, op int, kind string) (Record, bool) {
	for _, r := range recs {
		if r.Op == op && r.Kind == kind && r.Step == StepBegin {
			return r, true
		}
	}
	return Record{}, false
}

func syncDir(dir string) error { return durable.SyncDir(dir) }

// lastAttempt returns the records from the last begin record of op/kind
// on: an operation that was rolled back and started again (apply --resume
// retries a relocation) is judged by its latest attempt only. Records
// of other operations are kept.
func lastAttempt(recs []Record, op int, kind string) []Record {
	from := 0
	for i, r := range recs {
		if r.Op == op && r.Kind == kind && r.Step == StepBegin {
			from = i
		}
	}
	out := make([]Record, 0, len(recs))
	for i, r := range recs {
		if i >= from || r.Op != op || r.Kind != kind {
			out = append(out, r)
		}
	}
	return out
}

// reached reports whether step s was recorded for op/kind.
func reached(recs []Record, op int, kind, s string) bool {
	for _, r := range recs {
		if r.Op == op && r.Kind == kind && r.Step == s {
			return true
		}
	}
	return false
}
