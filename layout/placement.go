package layout

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// placement is what the names of a domain's first-level *.sub directories
// allow: prefix:N when every name is one character, hash:N for a range of
// N when the names are decimal numbers of one width. Which scheme the
// domain uses is then decided from where its accounts actually are (fit).
type placement struct {
	prefix bool // every first-level name is one character: prefix:N, N = depth
	// hashLo..hashHi are the bucket counts the numeric names allow: N above
	// the largest bucket, N-1 as wide as the names; 0 when not numeric.
	hashLo, hashHi int
}

func (p placement) known() bool { return p.prefix || p.hashLo > 0 }

// inferPlacement looks at the *.sub names found in a domain directory.
func inferPlacement(subs []string) placement {
	if len(subs) == 0 {
		return placement{}
	}
	p := placement{prefix: true}
	width, top := -1, -1
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
		top = max(top, n)
	}
	if !numeric {
		return p
	}
	// hash:N names buckets 0..N-1 padded to the width of N-1.
	lo, hi := 2, 10
	for i := 1; i < width; i++ {
		lo, hi = hi+1, hi*10
	}
	p.hashLo, p.hashHi = max(lo, top+1), min(hi, MaxHashBuckets)
	if p.hashLo > p.hashHi {
		p.hashLo, p.hashHi = 0, 0
	}
	return p
}

// fit decides a domain's scheme from its accounts' placement, with memory
// bounded per domain: the first fitSample accounts found in subdirectories
// are kept; from them the bucket counts that place most of them are chosen
// (a wrong N places about 1 in N), and every later account is checked
// against those few only. Guarded by the domain's lock.
type fit struct {
	seen       int64 // accounts in subdirectories checked
	prefixMiss int64
	prefixEx   []string
	sample     []fitAccount
	decided    bool
	cands      []hashCand
}

type fitAccount struct {
	rel    string // relative to the domain directory
	hash   uint32 // FNV-1a of the lowered name
	bucket int    // the number of its one-level subdirectory, or -1
}

type hashCand struct {
	n    int
	miss int64
	ex   []string
}

const (
	fitSample = 32 // accounts kept to choose the candidate bucket counts
	maxCands  = 8  // candidate bucket counts followed after that
)

// add checks one account found in the subdirectories c.
func (f *fit) add(p placement, c *container, name, entry []byte) {
	f.seen++
	rel := ""
	if p.prefix && !prefixPlaced(c.subs, name) {
		f.prefixMiss++
		if len(f.prefixEx) < maxExamples {
			rel = c.rel + "/" + string(entry)
			f.prefixEx = append(f.prefixEx, rel)
		}
	}
	if p.hashLo == 0 {
		return
	}
	a := fitAccount{hash: hashName(name), bucket: -1}
	if len(c.subs) == 1 {
		a.bucket = c.bucket
	}
	if !f.decided {
		if rel == "" {
			rel = c.rel + "/" + string(entry)
		}
		a.rel = rel
		f.sample = append(f.sample, a)
		if len(f.sample) == fitSample {
			f.choose(p)
		}
		return
	}
	f.tally(a, c, entry)
}

func (f *fit) tally(a fitAccount, c *container, entry []byte) {
	for i := range f.cands {
		k := &f.cands[i]
		if a.bucket >= 0 && int(a.hash%uint32(k.n)) == a.bucket {
			continue
		}
		k.miss++
		if len(k.ex) < maxExamples {
			rel := a.rel
			if rel == "" {
				rel = c.rel + "/" + string(entry)
			}
			k.ex = append(k.ex, rel)
		}
	}
}

// choose keeps the bucket counts that place most of the sample, then
// tallies the sample against them.
func (f *fit) choose(p placement) {
	f.decided = true
	for n := p.hashLo; n <= p.hashHi && len(f.sample) > 0; n++ {
		hit := 0
		for _, a := range f.sample {
			if a.bucket >= 0 && int(a.hash%uint32(n)) == a.bucket {
				hit++
			}
		}
		if 2*hit > len(f.sample) {
			f.cands = append(f.cands, hashCand{n: n, miss: int64(len(f.sample) - hit)})
		}
	}
	sort.SliceStable(f.cands, func(i, j int) bool { return f.cands[i].miss < f.cands[j].miss })
	if len(f.cands) > maxCands {
		f.cands = f.cands[:maxCands]
	}
	for i := range f.cands {
		f.cands[i].miss = 0
	}
	for _, a := range f.sample {
		f.tally(a, nil, nil)
	}
	f.sample = nil
}

// decision is the scheme a domain uses and the accounts it misplaces.
type decision struct {
	prefix   bool // prefix fits (alone or tied with hashN)
	hashN    int  // the hash bucket count that fits, 0 if none
	misplace int64
	examples []string
	custom   bool // *.sub names fit no scheme cgscale knows: not checked
}

func (d decision) String() string {
	switch {
	case d.prefix && d.hashN > 0:
		return "prefix or hash:" + strconv.Itoa(d.hashN)
	case d.prefix:
		return "prefix"
	case d.hashN > 0:
		return "hash:" + strconv.Itoa(d.hashN)
	case d.custom:
		return "custom"
	}
	return ""
}

// decide picks the scheme that places the most accounts: a hash bucket
// count is accepted when it places at least half of them (a wrong one
// places about 1 in N), prefix whenever the names allow it; when both
// place every account equally well the domain fits both.
func (f *fit) decide(p placement, subs bool) decision {
	if !f.decided {
		f.choose(p)
	}
	var best *hashCand
	for i := range f.cands {
		if k := &f.cands[i]; best == nil || k.miss < best.miss || k.miss == best.miss && k.n < best.n {
			best = k
		}
	}
	if f.seen == 0 && p.hashLo > 0 {
		best = &hashCand{n: p.hashLo} // no account to tell: the smallest count the names allow
	}
	hashOK := best != nil && 2*best.miss <= f.seen
	d := decision{custom: subs && !p.known()}
	switch {
	case hashOK && p.prefix && f.prefixMiss == best.miss:
		d.prefix, d.hashN, d.misplace, d.examples = true, best.n, best.miss, best.ex
	case hashOK && (!p.prefix || best.miss < f.prefixMiss):
		d.hashN, d.misplace, d.examples = best.n, best.miss, best.ex
	case p.prefix:
		d.prefix, d.misplace, d.examples = true, f.prefixMiss, f.prefixEx
	default:
		d.custom = subs
	}
	return d
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
	return int(hashName(name) % uint32(n))
}

// hashName is the FNV-1a hash Scheme's hash:N takes modulo N.
func hashName(name []byte) uint32 {
	for _, c := range name {
		if c >= utf8.RuneSelf {
			h := fnv.New32a()
			h.Write([]byte(strings.ToLower(string(name))))
			return h.Sum32()
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
	return h
}
