package fsbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/cgscale/cgscale/errs"
)

// Profile is what `scan --profile FILE` reads: the results of one or more
// `cgscale bench --json` runs, one per volume. The file holds either one
// result or a JSON array of them (jq -s . a.json b.json > profile.json).
type Profile struct {
	Path    string
	Volumes []Result
}

// Threshold is the measured limit for one volume, with what backs it.
type Threshold struct {
	// MaxEntries is the recommended maximum of entries per directory.
	MaxEntries int
	// Knee is true when a knee was found; false means no slowdown was
	// measured up to MaxEntries (the largest size measured, or a hard
	// limit of the filesystem).
	Knee bool
	// Limited is true when the filesystem refused entries during the
	// sweep and MaxEntries was capped at that hard limit.
	Limited bool
	// Evidence is one sentence a finding can cite.
	Evidence string
}

// LoadProfile reads and checks a profile file. Every result in it must
// carry the schema this package writes and a lookup sweep.
func LoadProfile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.New(errs.BadInput, "read bench profile", path, err, "make one with `cgscale bench --json DIR > FILE`")
	}
	p := &Profile{Path: path}
	b = bytes.TrimSpace(b)
	array := bytes.HasPrefix(b, []byte("["))
	// The schema first: another document (a scan report, say) is named
	// as such rather than by the first field that does not fit.
	type schemaOnly struct {
		Schema string `json:"schema"`
	}
	var heads []schemaOnly
	if array {
		err = json.Unmarshal(b, &heads)
	} else {
		heads = make([]schemaOnly, 1)
		err = json.Unmarshal(b, &heads[0])
	}
	if err != nil {
		return nil, errs.New(errs.BadInput, "read bench profile", path, err, "the file must be the output of `cgscale bench --json`")
	}
	if len(heads) == 0 {
		return nil, errs.Errorf(errs.BadInput, "read bench profile", path, "the file must be the output of `cgscale bench --json`", "no results in it")
	}
	for i, h := range heads {
		if h.Schema != Schema {
			return nil, errs.Errorf(errs.BadInput, "read bench profile", path, "the file must be the output of `cgscale bench --json` (of this version of cgscale)",
				"result %d has schema %q, want %q", i+1, h.Schema, Schema)
		}
	}
	if array {
		err = json.Unmarshal(b, &p.Volumes)
	} else {
		var r Result
		err = json.Unmarshal(b, &r)
		p.Volumes = []Result{r}
	}
	if err != nil {
		return nil, errs.New(errs.BadInput, "read bench profile", path, err, "the file must be the output of `cgscale bench --json`")
	}
	for i, r := range p.Volumes {
		if r.Knee == nil || r.Knee.MaxEntries <= 0 {
			return nil, errs.Errorf(errs.BadInput, "read bench profile", path, "run bench with a lookup sweep (--sizes)",
				"result %d (%s) has no lookup sweep", i+1, r.Dir)
		}
		if r.Filesystem.Type == "" || (r.Filesystem.FSID == "" && r.Filesystem.Device == "") {
			return nil, errs.Errorf(errs.BadInput, "read bench profile", path, "rerun `cgscale bench --json`", "result %d (%s) does not identify its filesystem", i+1, r.Dir)
		}
	}
	return p, nil
}

// MaxEntriesFor returns the measured threshold for the volume with
// identity id, and false when the profile does not describe that volume
// (the caller then keeps its default). A result describes a volume when
// the filesystem types agree and so does the filesystem id (statfs
// f_fsid, stable across reboots for disk filesystems and shared by the
// subvolumes of one btrfs); where either side has no usable fsid, the
// device numbers must agree instead.
func (p *Profile) MaxEntriesFor(id Identity) (Threshold, bool) {
	for _, r := range p.Volumes {
		if !sameVolume(r.Filesystem, id) {
			continue
		}
		k := r.Knee
		t := Threshold{MaxEntries: k.MaxEntries, Knee: k.Found, Limited: r.DirLimit != nil}
		t.Evidence = fmt.Sprintf("cgscale bench of %s (%s, %s cache, %s): %s",
			r.Dir, r.fsLabel(), r.Cache, r.Started, k.Evidence)
		return t, true
	}
	return Threshold{}, false
}

func sameVolume(a, b Identity) bool {
	if a.Type != b.Type {
		return false
	}
	if usableFSID(a.FSID) && usableFSID(b.FSID) {
		return a.FSID == b.FSID
	}
	return a.Device != "" && a.Device == b.Device
}

// usableFSID is false for the all-zero fsid some filesystems report.
func usableFSID(s string) bool {
	return strings.Trim(s, "0") != ""
}
