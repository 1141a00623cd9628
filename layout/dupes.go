package layout

import (
	"hash/maphash"
	"os"
)

// nameSet finds account names present twice in one domain (say flat and in
// a subdirectory: the server sees only one of them). Memory is one 8-byte
// slot per account, the table kept between 3/8 and 3/4 full: 11 to 22
// bytes per account of the domain (about 22 MB for a million), plus the
// old table while it doubles, and the list of the domain's account
// directories. A slot holds 40 bits of the name's hash and the index of
// the directory the name was found in; two names with equal hash bits are
// told apart by an lstat of the earlier one, so a collision is never
// reported as a duplicate.
type nameSet struct {
	seed  maphash.Seed
	slots []uint64
	used  int
	dirs  []string // account directories, by index
}

const (
	setDirBits = 24
	setDirMask = 1<<setDirBits - 1
)

// Duplicate is an account name found at two places in one domain.
type Duplicate struct {
	Domain string `json:"domain"`
	Name   string `json:"name"`
	First  string `json:"first"`  // the entry found first
	Second string `json:"second"` // the other entry of the same name
}

// dirIndex returns the index of the account directory dir, adding it.
func (s *nameSet) dirIndex(dir string) int {
	s.dirs = append(s.dirs, dir)
	return len(s.dirs) - 1
}

// add records the account name (bare) found as entry in directory di and
// returns the path of an earlier entry of the same name, or "". It
// allocates only when the table grows or the hash bits match.
func (s *nameSet) add(name, entry []byte, di int) string {
	if s.slots == nil {
		s.seed = maphash.MakeSeed()
		s.slots = make([]uint64, 64)
	}
	h := maphash.Bytes(s.seed, name)
	key := (h | 1<<63) &^ setDirMask
	mask := uint64(len(s.slots) - 1)
	i := (key >> setDirBits) & mask // from the kept bits, so grow can place slots again
	for ; s.slots[i] != 0; i = (i + 1) & mask {
		v := s.slots[i]
		if v&^setDirMask != key {
			continue
		}
		if d := int(v & setDirMask); d < len(s.dirs) && d != setDirMask {
			if p := present(s.dirs[d], name, s.dirs[di]+"/"+string(entry)); p != "" {
				return p
			}
		}
	}
	if di >= setDirMask {
		di = setDirMask // too many directories to name: never confirmed
	}
	s.slots[i] = key | uint64(di)
	s.used++
	if 4*s.used >= 3*len(s.slots) {
		s.grow()
	}
	return ""
}

func (s *nameSet) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	mask := uint64(len(s.slots) - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := (v >> setDirBits) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = v
	}
}

// present returns the path of the account called name in dir (either
// suffix) other than self, or "".
func present(dir string, name []byte, self string) string {
	for _, suf := range []string{MacntSuffix, MboxSuffix} {
		p := dir + "/" + string(name) + suf
		if p == self {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return p
		}
	}
	return ""
}
