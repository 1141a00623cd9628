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
)

// Where the move engine keeps its journals: BASE/.cgscale/journal/*.jsonl,
// one JSON record a line (the format is documented in package migrate).
const (
	StateDir   = ".cgscale"
	JournalDir = "journal"
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

// journalLine holds the fields of a journal record this package reads.
type journalLine struct {
	Time time.Time `json:"time"`
	Op   int       `json:"op"`
	Kind string    `json:"kind"`
	Step string    `json:"step"`
	Src  string    `json:"src"`
	Dst  string    `json:"dst"`
	Link string    `json:"link"`
	Dev  uint64    `json:"dev"`
	FSID string    `json:"fsid"`
}

// ReadRelocations returns the relocations recorded in the journals of the
// store at base whose link was put in place (the "swapped" step), oldest
// first; where one source was relocated more than once, the latest record
// wins. It only reads. A store without journals has none; a line that is
// not a record (a write cut short) is skipped. The error names the first
// journal that could not be read.
func ReadRelocations(base string) ([]RecordedRelocation, error) {
	dir := filepath.Join(base, StateDir, JournalDir)
	var names []string
	_, err := ReadDir(dir, false, func(name []byte) error {
		if bytes.HasSuffix(name, []byte(".jsonl")) {
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
	sort.Strings(names) // journal ids start with their UTC creation time
	latest := map[string]RecordedRelocation{}
	var firstErr error
	for _, n := range names {
		path := filepath.Join(dir, n)
		data, err := os.ReadFile(path)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		begins := map[int]journalLine{}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var l journalLine
			if json.Unmarshal(line, &l) != nil || l.Kind != "move" {
				continue
			}
			switch l.Step {
			case "begin":
				begins[l.Op] = l
			case "swapped":
				if b, ok := begins[l.Op]; ok && b.Src != "" {
					latest[b.Src] = RecordedRelocation{Journal: path, Time: l.Time, Src: b.Src, Dst: b.Dst,
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
