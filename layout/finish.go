package layout

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// report merges the workers' tallies into the Report and applies the rules.
func (w *walker) report() *Report {
	r := &Report{
		Schema:            Schema,
		Base:              w.base,
		ServerBase:        isDir(filepath.Join(w.base, SettingsDir)),
		Sizes:             w.opt.Sizes,
		AccountsPerDomain: map[string]int64{},
		DomainContainers:  []DirCount{},
		TopDirs:           []DirCount{},
		Relocations:       []Relocation{},
		Volumes:           []Volume{},
		Unreadable:        []PathError{},
		Findings:          []Finding{},
		Domains:           []DomainReport{},
		Duplicates:        []Duplicate{},
	}
	w.smu.Lock()
	defer w.smu.Unlock()

	// Volumes first: domains and links name their filesystem.
	untyped := map[uint64]int64{}
	var top topHeap
	for _, s := range w.states {
		r.Totals.Directories += s.dirs
		r.Totals.Entries += s.entries
		r.Totals.Bytes += s.bytes
		r.Totals.Allocated += s.allocated
		for dev, n := range s.untyped {
			untyped[dev] += n
			r.Totals.Untyped += n
			if w.volumes[dev] == nil {
				w.volumes[dev] = &Volume{Device: dev, Path: w.base}
			}
		}
		for _, d := range s.top {
			top.offer(d, w.opt.TopN)
		}
	}
	for dev, v := range w.volumes {
		v.Untyped = untyped[dev]
		if l, ok := w.measuredLocked(dev, v.Path); ok {
			v.Measured = &l
		}
		if w.opt.Identify != nil {
			fs := w.opt.Identify(v.Path)
			v.Filesystem, v.MountPoint, v.Options, v.Detail = fs.Type, fs.MountPoint, fs.Options, fs.Detail
		}
		r.Volumes = append(r.Volumes, *v)
	}
	sort.Slice(r.Volumes, func(i, j int) bool { return r.Volumes[i].Path < r.Volumes[j].Path })

	r.TopDirs = append(r.TopDirs, top...)
	sortDirCounts(r.TopDirs)

	for i, d := range w.domains {
		dr := DomainReport{Name: d.name, Path: d.path, Device: d.dev, Relocated: d.relocated, Levels: []int{}}
		var levels [maxLevels + 1]int64
		for _, s := range w.states {
			if i >= len(s.doms) {
				continue
			}
			a := &s.doms[i]
			dr.Accounts += a.accounts
			dr.LinkedAccounts += a.linked
			dr.FlatAccounts += a.flat
			dr.MntAccounts += a.mnt
			dr.Directories += a.dirs
			dr.Entries += a.entries
			dr.Bytes += a.bytes
			dr.Allocated += a.allocated
			dr.Unreadable += a.unreadable
			if a.largest.Path != "" && (dr.Largest.Path == "" || a.largest.larger(dr.Largest)) {
				dr.Largest = a.largest
			}
			for l, n := range a.levels {
				levels[l] += n
			}
		}
		var inSubs int64
		for l, n := range levels {
			if n > 0 {
				dr.Levels = append(dr.Levels, l)
				inSubs += n
			}
		}
		switch {
		case dr.Accounts == 0:
			dr.Storage = "empty"
		case inSubs > 0 && dr.FlatAccounts > 0:
			dr.Storage = "mixed"
		case inSubs > 0:
			dr.Storage = "subdirectories"
		case dr.FlatAccounts > 0:
			dr.Storage = "flat"
		default:
			dr.Storage = "mount-points"
		}
		dr.SubdirAccounts = inSubs
		dec := d.fit.decide(d.scheme, inSubs > 0)
		dr.Misplaced, dr.MisplacedExamples = dec.misplace, append([]string(nil), dec.examples...)
		dr.Scheme = dec.String()
		if dec.prefix && dec.hashN == 0 && len(dr.Levels) == 1 {
			dr.Scheme = "prefix:" + strconv.Itoa(dr.Levels[0])
		}
		// A name found twice is one account (the server sees one entry).
		dr.Duplicates = d.nDup
		dr.Accounts -= d.nDup
		r.Duplicates = append(r.Duplicates, d.dups...)
		if v := w.volumes[d.dev]; v != nil && d.dev != 0 {
			dr.Filesystem = v.Filesystem
		}
		sort.Strings(dr.MisplacedExamples)
		r.Domains = append(r.Domains, dr)
		r.AccountsPerDomain[d.name] += dr.Accounts
		r.Totals.Accounts += dr.Accounts
		r.Totals.Duplicates += dr.Duplicates
	}
	sort.Slice(r.Duplicates, func(i, j int) bool { return r.Duplicates[i].Second < r.Duplicates[j].Second })
	if len(r.Duplicates) > w.opt.MaxErrors {
		r.Duplicates = r.Duplicates[:w.opt.MaxErrors]
	}
	sort.SliceStable(r.Domains, func(i, j int) bool {
		a, b := r.Domains[i], r.Domains[j]
		if (a.Name == MainDomainName) != (b.Name == MainDomainName) {
			return a.Name == MainDomainName
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Path < b.Path
	})
	r.Totals.Domains = int64(len(w.domains))

	recorded := map[string]*RecordedRelocation{}
	for i := range w.recorded {
		recorded[linkKey(w.recorded[i].Src)] = &w.recorded[i]
	}
	jobs, damaged, left, jerr := ReadJobs(w.base)
	r.Unfinished = append([]UnfinishedJob{}, jobs...)
	r.DamagedJournals = damaged
	r.Leftovers = append([]Leftover{}, left...)
	if w.journalErr == nil {
		w.journalErr = jerr
	}
	if w.journalErr != nil {
		r.JournalError = w.journalErr.Error()
	}
	for _, rl := range w.relocs {
		if v := w.volumes[rl.Device]; v != nil && rl.Device != 0 {
			rl.Filesystem, rl.MountPoint = v.Filesystem, v.MountPoint
		}
		if rec := recorded[linkKey(rl.Link)]; rec != nil {
			rl.Recorded = rec
			if rl.Device != 0 {
				rl.FSID = fsidOf(rl.Link)
				rl.Moved = !sameFilesystem(rec.Dev, rec.FSID, rl.Device, rl.FSID)
			}
		}
		if !rl.Kind.IsAccount() {
			r.Totals.Links++
		}
		r.Relocations = append(r.Relocations, rl)
	}
	sort.Slice(r.Relocations, func(i, j int) bool { return r.Relocations[i].Link < r.Relocations[j].Link })

	r.DomainContainers = append(r.DomainContainers, w.domDirs...)
	sort.Slice(r.DomainContainers, func(i, j int) bool { return r.DomainContainers[i].Path < r.DomainContainers[j].Path })
	r.Unreadable = append(r.Unreadable, w.unreadable...)
	sort.Slice(r.Unreadable, func(i, j int) bool { return r.Unreadable[i].Path < r.Unreadable[j].Path })
	r.Totals.Unreadable = w.nUnreadable.Load()
	r.Totals.Vanished = w.nVanished.Load()
	r.Complete = r.Totals.Unreadable == 0 && !w.stop.Load()

	over := append([]over(nil), w.over...)
	sort.Slice(over, func(i, j int) bool { return over[i].dir.Path < over[j].dir.Path })
	r.Findings = audit(r, over)
	return r
}

// sortDirCounts orders largest first, then by path.
func sortDirCounts(d []DirCount) {
	sort.Slice(d, func(i, j int) bool {
		if d[i].Entries != d[j].Entries {
			return d[i].Entries > d[j].Entries
		}
		return d[i].Path < d[j].Path
	})
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
