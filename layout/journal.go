package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cgscale/cgscale/internal/journal"
)

// RecordedRelocation is a relocation the move engine completed, as its
// journal tells it: the directory at Src was copied to Dst on the volume
// with device Dev and filesystem id FSID, and a link now stands at Src.
type RecordedRelocation struct {
	Journal string    `json:"journal"`
	Time    time.Time `json:"time"`
	Src     string    `json:"src"`
	Dst     string    `json:"dst"`
	Link    string    `json:"link"` // the text of the link put at Src
	Dev     uint64    `json:"dev"`
	FSID    string    `json:"fsid"`
}

// DamagedJournal is a journal holding a line that is not a record (not
// a last line torn by a crash): apply and move refuse to start while it
// is there, and what it records is known only up to that line.
type DamagedJournal struct {
	Journal string `json:"journal"`
	Error   string `json:"error"`
}

// journalFile is one journal of the store and the records read from it:
// all of them, or those before the damaged line when damaged is set.
type journalFile struct {
	path    string
	recs    []journal.Record
	damaged *journal.DamagedError
}

// readJournals reads the journals of the store at base, oldest first
// (journal ids start with their UTC creation time), with journal.Read, the
// reader apply and move use. It only reads. A store without journals has
// none; the error names the first journal, or the directory, that could
// not be read, and the journals that could are returned all the same.
func readJournals(base string) ([]journalFile, error) {
	dir := journal.Dir(base)
	var names []string
	_, err := ReadDir(dir, false, func(name []byte) error {
		if bytes.HasSuffix(name, []byte(journal.Ext)) {
			names = append(names, string(name))
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &fs.PathError{Op: "read journal directory", Path: dir, Err: err}
	}
	sort.Strings(names)
	var out []journalFile
	var firstErr error
	for _, n := range names {
		path := filepath.Join(dir, n)
		recs, err := journal.Read(path)
		var d *journal.DamagedError
		if err != nil && !errors.As(err, &d) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, journalFile{path: path, recs: recs, damaged: d})
	}
	return out, firstErr
}

// ReadRelocations returns the relocations recorded in the journals of the
// store at base whose link was put in place (the "swapped" step), oldest
// first; where one source was relocated more than once, the latest record
// wins. It only reads. A store without journals has none; a damaged
// journal gives the records before its damaged line (ReadJobs reports it).
// The error names the first journal that could not be read.
func ReadRelocations(base string) ([]RecordedRelocation, error) {
	files, firstErr := readJournals(base)
	latest := map[string]RecordedRelocation{}
	for _, f := range files {
		begins := map[int]journal.Record{}
		for _, l := range f.recs {
			if l.Kind != journal.KindMove {
				continue
			}
			switch l.Step {
			case journal.StepBegin:
				begins[l.Op] = l
			case journal.StepSwapped:
				if b, ok := begins[l.Op]; ok && b.Src != "" {
					latest[b.Src] = RecordedRelocation{Journal: f.path, Time: l.Time, Src: b.Src, Dst: b.Dst,
						Link: b.Link, Dev: b.Dev, FSID: b.FSID}
				}
			}
		}
	}
	out := make([]RecordedRelocation, 0, len(latest))
	for _, r := range latest {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Src < out[j].Src
	})
	return out, firstErr
}

// sameFilesystem reports whether a recorded target (device dev, fsid)
// and the filesystem a link resolves to now are one: by filesystem id
// where both are known and not all zero (it survives a reboot, device
// numbers of loop and network volumes may not), by device otherwise.
func sameFilesystem(recDev uint64, recFSID string, dev uint64, fsid string) bool {
	usable := func(s string) bool { return strings.Trim(s, "0") != "" }
	if usable(recFSID) && usable(fsid) {
		return recFSID == fsid
	}
	return recDev == dev
}

// linkKey names a link by its parent directory with links resolved, so a
// journal written with one spelling of the base matches a walk of another.
func linkKey(path string) string {
	dir, name := filepath.Split(filepath.Clean(path))
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return filepath.Join(dir, name)
}

// UnfinishedJob is a run of cgscale apply or cgscale move whose journal
// has no end record: it was killed or failed, the store may be half
// changed, and apply and move refuse to start until it is finished.
type UnfinishedJob struct {
	Journal string    `json:"journal"`
	Command string    `json:"command"` // "apply", "apply --undo" or "move"
	Started time.Time `json:"started"`
	// Plan is apply's own copy of the plan it was carrying out, in the
	// state directory; --resume and --undo accept it.
	Plan string `json:"plan,omitempty"`
	// Paths are the directories the job changes (converted containers,
	// moved sources), absolute.
	Paths []string `json:"paths"`
	// Resume is the command that finishes the job.
	Resume string `json:"resume"`
}

// Leftover is a directory with a cgscale temporary name (".cgscale-…") in
// the store: the old tree of a move between its swap and its clean-up, or
// the copy of one stopped before the swap.
type Leftover struct {
	Path    string `json:"path"`
	Journal string `json:"journal,omitempty"` // the job that made it, when its journal is there
	// Unfinished: that job is unfinished, and resuming it removes the
	// directory. Otherwise nothing refers to it any more.
	Unfinished bool   `json:"unfinished"`
	Next       string `json:"next"`
}

// leftoverPrefix starts the temporary names cgscale move uses next to the
// directory it moves (kept trees, named on request, are not leftovers).
const leftoverPrefix = ".cgscale-"

// ReadJobs returns the unfinished jobs recorded in the journals of the
// store at base, the damaged journals, and the leftover temporary
// directories in the store: those the journals name, and any other in
// Domains/ and Accounts/. It only reads. A damaged journal is judged by
// the records before its damaged line.
func ReadJobs(base string) ([]UnfinishedJob, []DamagedJournal, []Leftover, error) {
	files, firstErr := readJournals(base)
	var jobs []UnfinishedJob
	var damaged []DamagedJournal
	var left []Leftover
	seen := map[string]bool{}
	for _, f := range files {
		path, lines := f.path, f.recs
		if f.damaged != nil {
			damaged = append(damaged, DamagedJournal{Journal: path, Error: f.damaged.Error()})
		}
		if len(lines) == 0 {
			continue // created, never begun: nothing was changed
		}
		job := UnfinishedJob{Journal: path, Command: "move", Started: lines[0].Time, Paths: []string{}}
		finished, undo := false, false
		swapped := map[int]bool{} // apply ops whose relocation got past its swap
		var temps []string
		for _, l := range lines {
			if l.Kind == "move" {
				switch l.Step {
				case "swapped", "done":
					swapped[l.Op] = true
				case "rolled back":
					delete(swapped, l.Op)
				}
			}
			switch {
			case l.Kind == journal.KindJob && l.Step == journal.StepEnd:
				finished = true
			case l.Kind == journal.KindJob && l.Step == journal.StepBegin && l.Opts[journal.OptCommand] == "apply":
				job.Command = "apply"
				job.Plan = l.Opts[journal.OptPlanCopy]
				if job.Plan == "" && strings.HasPrefix(l.Opts[journal.OptPlanSum], "sha256:") {
					job.Plan = journal.PlanCopy(base, l.Opts[journal.OptPlanSum])
				}
			case l.Kind == journal.KindUndo:
				undo = true
			case l.Kind == journal.KindMove && l.Step == journal.StepBegin && l.Src != "":
				job.Paths = append(job.Paths, l.Src)
				if l.Temp != "" {
					temps = append(temps, filepath.Join(filepath.Dir(l.Src), l.Temp), filepath.Join(filepath.Dir(l.Src), l.Temp+".old"))
				}
			}
		}
		if job.Command == "apply" {
			job.Paths = append(job.Paths, planPaths(base, job.Plan)...)
			job.Resume = "cgscale apply --resume " + shellQuote(job.Plan) + "   # or --undo to go back"
			if len(swapped) > 0 {
				// apply --undo refuses once a relocation has swapped.
				job.Resume = "cgscale apply --resume " + shellQuote(job.Plan) + "   # a relocation has swapped: finish it"
			}
			if undo {
				job.Command = "apply --undo"
				job.Resume = "cgscale apply --undo " + shellQuote(job.Plan) + "   # again, to finish going back"
			}
		} else {
			job.Resume = "cgscale move --resume " + shellQuote(base) + "   # or --abort, before its swap"
		}
		sort.Strings(job.Paths)
		if !finished {
			jobs = append(jobs, job)
		}
		for _, t := range temps {
			if isDir(t) && !seen[t] {
				seen[t] = true
				l := Leftover{Path: t, Journal: path, Unfinished: !finished}
				left = append(left, l)
			}
		}
	}
	// Temporary names no journal explains (the journal was deleted).
	for _, d := range []string{DomainsDir, AccountsDir} {
		p := filepath.Join(base, d)
		_, _ = ReadDir(p, false, func(name []byte) error {
			t := filepath.Join(p, string(name))
			if bytes.HasPrefix(name, []byte(leftoverPrefix)) && !seen[t] && isDir(t) {
				seen[t] = true
				left = append(left, Leftover{Path: t})
			}
			return nil
		})
	}
	for i := range left {
		l := &left[i]
		switch {
		case l.Unfinished:
			for _, j := range jobs {
				if j.Journal == l.Journal {
					l.Next = j.Resume
				}
			}
		case len(damaged) > 0:
			l.Next = "less " + shellQuote(damaged[0].Journal) + "   # a journal is damaged and may name this directory: check it before removing anything"
		default:
			l.Next = "ls -la " + shellQuote(l.Path) + "   # no unfinished job refers to it: if it holds only a stale copy, remove it with rm -rf"
		}
	}
	sort.Slice(left, func(i, j int) bool { return left[i].Path < left[j].Path })
	return jobs, damaged, left, firstErr
}

// planPaths lists the directories a plan file converts or relocates,
// absolute. It reads only the fields it needs; names kept as
// {"b64": ...} (see package migrate) are decoded.
func planPaths(base, plan string) []string {
	data, err := os.ReadFile(plan)
	if err != nil {
		return nil
	}
	var p struct {
		Conversions []struct {
			Dir json.RawMessage `json:"dir"`
		} `json:"conversions"`
		Ops []struct {
			Op     string          `json:"op"`
			Source json.RawMessage `json:"source"`
		} `json:"operations"`
	}
	if json.Unmarshal(data, &p) != nil {
		return nil
	}
	var out []string
	for _, c := range p.Conversions {
		if s, ok := planString(c.Dir); ok {
			out = append(out, filepath.Join(base, filepath.FromSlash(s)))
		}
	}
	for _, op := range p.Ops {
		if s, ok := planString(op.Source); ok && op.Op == "relocate" {
			out = append(out, filepath.Join(base, filepath.FromSlash(s)))
		}
	}
	return out
}

func planString(m json.RawMessage) (string, bool) {
	s, err := journal.DecodeName(m)
	return s, err == nil
}
