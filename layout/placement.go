package layout

import (
	"hash/fnv"
	"strconv"
	"strings"
	"unicode/utf8"
)

// placement is the subdirectory scheme a domain appears to use, inferred
// from the names of its first-level *.sub directories, so that accounts
// sitting in the wrong subdirectory can be found. Both may hold: a domain
// whose subdirectories are 0.sub to 9.sub fits prefix:N and hash:10, and an
// account is then in place if either puts it there.
type placement struct {
	prefix bool // every first-level name is one character: prefix:N, N = depth
	hashN  int  // first-level names are 0..hashN-1, all present, equal width: hash:hashN
	custom bool // *.sub names fit no scheme cgscale knows: not checked
}

func (p placement) known() bool { return p.prefix || p.hashN > 0 }

func (p placement) String() string {
	switch {
	case p.prefix && p.hashN > 0:
		return "prefix or hash:" + strconv.Itoa(p.hashN)
	case p.prefix:
		return "prefix"
	case p.hashN > 0:
		return "hash:" + strconv.Itoa(p.hashN)
	case p.custom:
		return "custom"
	}
	return ""
}

// inferPlacement looks at the *.sub names found in a domain directory.
func inferPlacement(subs []string) placement {
	if len(subs) == 0 {
		return placement{}
	}
	p := placement{prefix: true}
	width, max := -1, -1
	seen := make(map[int]bool, len(subs))
	numeric := true
	for _, s := range subs {
		stem := strings.TrimSuffix(s, SubSuffix)
		if len(stem) != 1 {
			p.prefix = false
		}
		n := subNumber(s)
		if n < 0 || (width >= 0 && len(stem) != width) {
			numeric = false
			continue
		}
		width = len(stem)
		seen[n] = true
		if n > max {
			max = n
		}
	}
	// hash:N pads to the width of N-1 and, once a domain is large enough
	// to need subdirectories, uses every bucket.
	if numeric && max >= 1 && len(seen) == max+1 && len(strconv.Itoa(max)) == width {
		p.hashN = max + 1
	}
	p.custom = !p.known()
	return p
}

// subNumber returns the decimal number naming a subdirectory ("07.sub" →
// 7), or -1.
func subNumber(sub string) int {
	stem := strings.TrimSuffix(sub, SubSuffix)
	if len(stem) == 0 || len(stem) == len(sub) || len(stem) > 5 {
		return -1
	}
	n := 0
	for i := 0; i < len(stem); i++ {
		c := stem[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// placed reports whether the account called name (bare, without suffix)
// sits where the domain's scheme puts it, given the container c that
// holds it.
func (p placement) placed(c *container, name []byte) bool {
	if p.prefix && prefixPlaced(c.subs, name) {
		return true
	}
	return p.hashN > 0 && len(c.subs) == 1 && c.bucket >= 0 && hashBucket(name, p.hashN) == c.bucket
}

// prefixPlaced reports whether subs are the prefix:len(subs) directories
// of name (Scheme.Dirs, without building strings).
func prefixPlaced(subs []string, name []byte) bool {
	for i, s := range subs {
		want := byte('_')
		if i < len(name) {
			want = prefixByte(name[i])
		}
		if len(s) != 1+len(SubSuffix) || s[0] != want || s[1:] != SubSuffix {
			return false
		}
	}
	return true
}

// hashBucket is the bucket Scheme{"hash", n}.Dirs(name) names.
func hashBucket(name []byte, n int) int {
	for _, c := range name {
		if c >= utf8.RuneSelf {
			h := fnv.New32a()
			h.Write([]byte(strings.ToLower(string(name))))
			return int(h.Sum32() % uint32(n))
		}
	}
	// FNV-1a, 32 bits, over the lowered ASCII name.
	h := uint32(2166136261)
	for _, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % uint32(n))
}
