package fsbench

// Schema is the version of the JSON document `cgscale bench --json`
// writes and `scan --profile` reads.
const Schema = "cgscale.bench/v1"

// Operation names, as they appear in the JSON and the chart.
const (
	OpCreate   = "create"         // mkdir of a new account directory
	OpLookup   = "lookup"         // lstat of an existing name, random order
	OpMissing  = "lookup-missing" // lstat of a name that never existed
	OpOpenRead = "open-read"      // open, read and close a small file in an account
	OpList     = "list"           // full listing with entry types, per entry
	OpRemove   = "remove"         // rmdir of an existing account directory
)

// Ops lists the operations in the order tables and charts show them.
var Ops = []string{OpLookup, OpMissing, OpOpenRead, OpCreate, OpRemove, OpList}

// Result is everything one run measured. A run that stopped early (full
// volume, interrupt) still returns the sizes and writer steps it finished,
// with Stopped saying why.
type Result struct {
	Schema string `json:"schema"`
	Dir    string `json:"dir"`
	// Filesystem is the identity of the volume holding Dir; scan matches
	// it against the volumes of a store (see Profile).
	Filesystem Identity     `json:"filesystem"`
	Cache      string       `json:"cache"` // "warm" or "cold"
	Notes      []string     `json:"notes,omitempty"`
	Started    string       `json:"started"`
	Scratch    string       `json:"scratch,omitempty"` // set only when kept
	Seconds    float64      `json:"seconds"`
	Settings   Settings     `json:"settings"`
	Sizes      []SizeResult `json:"sizes"`
	// DirLimit is set when the directory could not grow to every size
	// asked for because the filesystem refused another subdirectory.
	DirLimit *DirLimit `json:"dir_limit,omitempty"`
	Knee     *Knee     `json:"knee,omitempty"`
	// ListNeedsStat is true when readdir gives no entry types
	// (DT_UNKNOWN), so every entry of a walk costs an lstat: known from an
	// ext superblock without filetype, or seen as a typed listing at least
	// three times slower than a names-only one.
	ListNeedsStat bool         `json:"list_needs_stat"`
	Writers       *WriterSweep `json:"writers,omitempty"`
	Stopped       string       `json:"stopped,omitempty"`
}

// Settings records the parameters of the run, so a result can be read on
// its own.
type Settings struct {
	Sizes      []int   `json:"sizes"`
	Reps       int     `json:"reps"`
	Samples    int     `json:"samples"`
	KneeFactor float64 `json:"knee_factor"`
	Writers    []int   `json:"writers"`
	WriterSecs float64 `json:"writer_seconds"`
	MsgSize    int     `json:"msg_size"`
	Accounts   int     `json:"accounts"`
}

// SizeResult is the measurements at one directory size.
type SizeResult struct {
	Entries int                `json:"entries"`
	Ops     map[string]Latency `json:"ops"`
	// Listing rates in entries per second: names only, and names with
	// their types (one extra lstat per entry where readdir gives none).
	ListNamesPerSec float64 `json:"list_names_per_sec"`
	ListTypedPerSec float64 `json:"list_typed_per_sec"`
	// FillPerSec is the rate at which the directory grew to this size.
	FillPerSec float64 `json:"fill_per_sec"`
	// HashedIndex, on the ext family, says whether the measured directory
	// carried the hashed-index inode flag at this size.
	HashedIndex Tri `json:"hashed_index,omitempty"`
	// Seconds is the time spent on this size, filling included.
	Seconds float64 `json:"seconds"`
}

// DirLimit is a hard limit on entries per directory met during the sweep.
type DirLimit struct {
	Entries int    `json:"entries"`
	Reason  string `json:"reason"`
}

// fsLabel is a short name of the filesystem: "xfs", "ext4 without dir_index".
func (r *Result) fsLabel() string {
	id := r.Filesystem
	s := id.Type
	if id.IsExt() && id.DirIndex == No {
		s += " without dir_index"
	}
	return s
}
