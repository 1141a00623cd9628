package layout

// Schema names the version of the JSON form of Report.
const Schema = "cgscale.scan/v1"

// MainDomainName is the name under which the Main Domain (the accounts in
// BASE/Accounts) appears in reports, beside the secondary domains of
// BASE/Domains. Parentheses cannot start a domain name, so it never
// collides with a real one.
const MainDomainName = "(main)"

// Report is what a walk of a store found. Its JSON form is the --json
// output of `cgscale scan` (schema cgscale.scan/v1). Lists are sorted;
// counts are exact for everything that could be read.
type Report struct {
	Schema   string `json:"schema"`
	Base     string `json:"base"`
	Complete bool   `json:"complete"` // false when some directories could not be read
	Sizes    bool   `json:"sizes"`    // bytes were counted (--sizes)
	// ServerBase is true when the base holds Settings/, as a server's base
	// always does. A relocation volume (Domains/ only) is read like a
	// store, but plan and apply refuse it (finding CGS015).
	ServerBase bool `json:"server_base"`

	Totals Totals `json:"totals"`
	// Domains: the Main Domain first, then the others by name.
	Domains []DomainReport `json:"domains"`
	// AccountsPerDomain repeats each domain's account count keyed by its
	// name, for scripts.
	AccountsPerDomain map[string]int64 `json:"accounts_per_domain"`
	// DomainContainers: directories holding domains (Domains/ and its
	// *.sub directories) with how many domains each holds.
	DomainContainers []DirCount `json:"domain_containers"`
	// TopDirs: the directories with the most entries anywhere under the
	// base (mailbox directories and Queue/ included), largest first.
	TopDirs     []DirCount   `json:"top_dirs"`
	Relocations []Relocation `json:"relocations"`
	Volumes     []Volume     `json:"volumes"`
	// Unreadable lists directories that could not be read (at most
	// WalkOptions.MaxErrors of them; Totals.Unreadable has the count).
	Unreadable []PathError `json:"unreadable"`
	// Duplicates lists account names found at two places in one domain
	// (at most WalkOptions.MaxErrors; Totals.Duplicates has the count).
	Duplicates []Duplicate `json:"duplicate_accounts"`
	Findings   []Finding   `json:"findings"`
	// Unfinished lists the runs of apply and move left unfinished (CGS016)
	// and Leftovers the temporary directories of moves still in the store
	// (CGS017).
	Unfinished []UnfinishedJob `json:"unfinished_jobs"`
	Leftovers  []Leftover      `json:"leftovers"`
	// JournalError says why the move journals (BASE/.cgscale/journal)
	// could not be read; relocations were then not checked against them.
	JournalError string `json:"journal_error,omitempty"`
	// DamagedJournals lists journals holding a line that is not a record
	// (CGS014): apply and move refuse to start while they are there.
	DamagedJournals []DamagedJournal `json:"damaged_journals,omitempty"`
	ElapsedMS       int64            `json:"elapsed_ms"`
}

// Totals are sums over the whole base.
type Totals struct {
	Domains     int64 `json:"domains"` // the Main Domain included when Accounts/ exists
	Accounts    int64 `json:"accounts"`
	Directories int64 `json:"directories"` // directories read, the base included
	Entries     int64 `json:"entries"`     // names in those directories
	Bytes       int64 `json:"bytes,omitempty"`
	Allocated   int64 `json:"allocated_bytes,omitempty"`
	Untyped     int64 `json:"untyped_entries"`    // entries the filesystem gave no type for (one lstat each)
	Vanished    int64 `json:"vanished"`           // entries that disappeared during the walk
	Unreadable  int64 `json:"unreadable"`         // directories that could not be read
	Duplicates  int64 `json:"duplicate_accounts"` // account entries whose name is already in their domain (not in Accounts)
	Links       int64 `json:"relocation_links"`
}

// DomainReport describes one domain.
type DomainReport struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Accounts counts account names (<name>.macnt, <name>.mbox) in the
	// domain directory, its *.sub subdirectories and *.mnt mount points,
	// each name once.
	Accounts int64 `json:"accounts"`
	// Duplicates counts the entries whose name was already found at
	// another place in the domain (finding CGS018); the counts below are
	// of entries, duplicates included.
	Duplicates     int64 `json:"duplicate_accounts"`
	SubdirAccounts int64 `json:"subdir_accounts"` // in *.sub subdirectories
	LinkedAccounts int64 `json:"linked_accounts"` // accounts that are symbolic links (not followed)
	FlatAccounts   int64 `json:"flat_accounts"`   // directly in the domain directory
	MntAccounts    int64 `json:"mnt_accounts"`    // under *.mnt mount points
	// Storage is "flat", "subdirectories", "mixed" (both) or "empty".
	Storage string `json:"storage"`
	// Levels lists the *.sub depths at which accounts were found.
	Levels []int `json:"levels"`
	// Scheme is the subdirectory naming inferred from the *.sub names:
	// "prefix", "hash:N", "prefix or hash:N", "custom", or "" when flat.
	Scheme string `json:"scheme"`
	// Suggested is the one scheme every finding about this domain
	// proposes (and `cgscale plan` without --domain uses): the scheme it
	// uses, one level deeper (or more hash buckets) when one of its
	// subdirectories is crowded; prefix:1 for a flat domain.
	Suggested         string   `json:"suggested_scheme,omitempty"`
	Misplaced         int64    `json:"misplaced"` // accounts not where Scheme puts them
	MisplacedExamples []string `json:"misplaced_examples,omitempty"`
	Directories       int64    `json:"directories"`
	Entries           int64    `json:"entries"`
	Bytes             int64    `json:"bytes,omitempty"`
	Allocated         int64    `json:"allocated_bytes,omitempty"`
	Largest           DirCount `json:"largest_dir"`
	Device            uint64   `json:"device"` // st_dev of the domain directory
	Filesystem        string   `json:"filesystem"`
	// Relocated: "no", "yes" (the domain directory is a relocation link)
	// or "partly" (some of its subdirectories or mount points are).
	Relocated  string `json:"relocated"`
	Unreadable int64  `json:"unreadable"` // directories of this domain that could not be read
}

// DirCount is a directory and how many entries (or domains) it holds.
type DirCount struct {
	Path    string `json:"path"`
	Entries int64  `json:"entries"`
	Kind    Kind   `json:"kind"`
}

// Relocation is a symbolic link standing where a domain, a *.sub or a
// *.mnt directory would be.
type Relocation struct {
	Link     string `json:"link"`     // path of the link
	Text     string `json:"text"`     // what the link says
	Resolved string `json:"resolved"` // where it leads, links resolved ("" if dangling)
	Kind     Kind   `json:"kind"`     // what stands there: domain, account-subdir, mount-point...
	Device   uint64 `json:"device"`
	// Filesystem is the type of the filesystem the link lands on.
	Filesystem string `json:"filesystem"`
	MountPoint string `json:"mount_point"`
	// Status: "followed"; "dangling" (the target is missing); "loop" (the
	// target was already walked: a loop or a second link to one place);
	// "inside" (it points into the store's own Domains/ or Accounts/,
	// not followed); "not-a-directory".
	Status string `json:"status"`
	// OnMountPoint: the link leads to the root of a mounted volume. If the
	// volume is not mounted, the link resolves to an empty directory on
	// the parent filesystem instead of dangling.
	OnMountPoint bool   `json:"on_mount_point"`
	Error        string `json:"error,omitempty"`
	// FSID is the filesystem id of where the link lands now.
	FSID string `json:"fsid,omitempty"`
	// Recorded is what `cgscale move` recorded when it made this link,
	// when its journal is still in the store.
	Recorded *RecordedRelocation `json:"recorded,omitempty"`
	// Moved is true when the link lands on another filesystem than the
	// one Recorded names (finding CGS013).
	Moved bool `json:"moved_off_recorded_volume,omitempty"`
}

// Volume is a filesystem the walk visited.
type Volume struct {
	Device     uint64 `json:"device"`
	Path       string `json:"path"` // the first store directory seen on it
	Filesystem string `json:"filesystem"`
	MountPoint string `json:"mount_point"`
	Options    string `json:"mount_options"`
	Detail     string `json:"detail"`
	Untyped    int64  `json:"untyped_entries"` // entries without a type from readdir
	// Measured is the limit a bench profile (scan --profile) gives for
	// this volume; absent when there is no profile or it does not
	// describe the volume, and the settings apply.
	Measured *MeasuredLimit `json:"measured_limit,omitempty"`
}

// PathError is a directory that could not be read.
type PathError struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Severity of a finding.
type Severity string

const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Finding is one rule that fired. ID is stable across versions; Next is
// the command to run next.
type Finding struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Severity Severity `json:"severity"`
	Subject  string   `json:"subject"` // the path or domain concerned
	Evidence string   `json:"evidence"`
	Next     string   `json:"next"`
	// Threshold, for the rules that count entries (CGS001, CGS002,
	// CGS012), is the threshold that applied and where it came from.
	Threshold *Threshold `json:"threshold,omitempty"`
}

// NeedsAction reports whether any finding is a warning or worse.
func (r *Report) NeedsAction() bool {
	for _, f := range r.Findings {
		if f.Severity != Info {
			return true
		}
	}
	return false
}

// larger orders directories for "the largest": more entries first, and
// between equals the smaller path, so the choice does not depend on the
// order in which parallel workers met them.
func (d DirCount) larger(o DirCount) bool {
	if d.Entries != o.Entries {
		return d.Entries > o.Entries
	}
	return d.Path < o.Path
}
