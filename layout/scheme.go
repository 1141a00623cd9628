package layout

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// SubSuffix ends the name of every account or domain subdirectory.
const SubSuffix = ".sub"

// Scheme says which subdirectory an account (or a domain) belongs in.
//
// prefix:N — one level per character of the name, N levels: "jsmith" under
// prefix:2 lives in "j.sub/s.sub". The rule for awkward names, applied to
// each of the first N bytes of the name:
//   - ASCII letters are lowered (J and j share "j.sub");
//   - ASCII digits are kept;
//   - any other byte (punctuation, '-', '.', '_', bytes of non-ASCII
//     characters) becomes '_', so no subdirectory name is unsafe or hidden;
//   - a name shorter than N fills the missing levels with '_'.
//
// hash:N — one level, bucket FNV-1a(lower(name)) mod N, written in decimal
// padded to the width of N-1: "07.sub" under hash:16. Stable across runs,
// versions and machines.
//
// Which scheme a live server uses is a server setting that cgscale cannot
// read from disk; prefix:1 is the default because the vendor's examples name
// subdirectories after leading letters.
type Scheme struct {
	Kind string // "prefix" or "hash"
	N    int
}

// DefaultScheme is the scheme used when none is given.
var DefaultScheme = Scheme{Kind: "prefix", N: 1}

// Limits for N, so a typo cannot create millions of directories.
const (
	MaxPrefixLevels = 4
	MaxHashBuckets  = 65536
)

// ParseScheme reads "prefix:N" or "hash:N".
func ParseScheme(s string) (Scheme, error) {
	kind, num, ok := strings.Cut(s, ":")
	if !ok {
		return Scheme{}, fmt.Errorf("scheme %q: want prefix:N or hash:N", s)
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return Scheme{}, fmt.Errorf("scheme %q: %q is not a number", s, num)
	}
	switch kind {
	case "prefix":
		if n < 1 || n > MaxPrefixLevels {
			return Scheme{}, fmt.Errorf("scheme %q: prefix levels must be 1 to %d", s, MaxPrefixLevels)
		}
	case "hash":
		if n < 2 || n > MaxHashBuckets {
			return Scheme{}, fmt.Errorf("scheme %q: hash buckets must be 2 to %d", s, MaxHashBuckets)
		}
	default:
		return Scheme{}, fmt.Errorf("scheme %q: unknown kind %q (want prefix or hash)", s, kind)
	}
	return Scheme{Kind: kind, N: n}, nil
}

func (s Scheme) String() string { return s.Kind + ":" + strconv.Itoa(s.N) }

// Levels is the number of subdirectory levels the scheme creates.
func (s Scheme) Levels() int {
	if s.Kind == "prefix" {
		return s.N
	}
	return 1
}

// Dirs returns the subdirectory names, outermost first, each ending in
// ".sub", under which the entry called name belongs. name is the bare name:
// "jsmith" for "jsmith.macnt", "example.com" for a domain.
func (s Scheme) Dirs(name string) []string {
	if s.Kind == "hash" {
		h := fnv.New32a()
		h.Write([]byte(strings.ToLower(name)))
		width := len(strconv.Itoa(s.N - 1))
		return []string{fmt.Sprintf("%0*d%s", width, h.Sum32()%uint32(s.N), SubSuffix)}
	}
	dirs := make([]string, s.N)
	for i := range dirs {
		c := byte('_')
		if i < len(name) {
			c = prefixByte(name[i])
		}
		dirs[i] = string(c) + SubSuffix
	}
	return dirs
}

func prefixByte(b byte) byte {
	switch {
	case b >= 'A' && b <= 'Z':
		return b + 'a' - 'A'
	case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
		return b
	}
	return '_'
}
