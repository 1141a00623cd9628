package layout

import (
	"strings"
	"testing"
)

func TestParseScheme(t *testing.T) {
	good := map[string]Scheme{
		"prefix:1":   {"prefix", 1},
		"prefix:4":   {"prefix", 4},
		"hash:2":     {"hash", 2},
		"hash:65536": {"hash", 65536},
	}
	for in, want := range good {
		got, err := ParseScheme(in)
		if err != nil || got != want {
			t.Errorf("ParseScheme(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("String() = %q, want %q", got.String(), in)
		}
	}
	bad := []string{"", "prefix", "prefix:0", "prefix:5", "hash:1", "hash:70000", "hash:x", "letters:2", "prefix:-1"}
	for _, in := range bad {
		if _, err := ParseScheme(in); err == nil {
			t.Errorf("ParseScheme(%q) accepted a bad scheme", in)
		}
	}
}

func TestSchemeDirs(t *testing.T) {
	p1, p2, p3 := Scheme{"prefix", 1}, Scheme{"prefix", 2}, Scheme{"prefix", 3}
	cases := []struct {
		s    Scheme
		name string
		want string
	}{
		{p1, "jsmith", "j.sub"},
		{p2, "jsmith", "j.sub/s.sub"},
		{p2, "JSmith", "j.sub/s.sub"},
		{p3, "jo", "j.sub/o.sub/_.sub"},
		{p2, "a", "a.sub/_.sub"},
		{p2, "9lives", "9.sub/l.sub"},
		{p2, ".hidden", "_.sub/h.sub"},
		{p2, "-x", "_.sub/x.sub"},
		{p1, "émile", "_.sub"},
		{p1, "", "_.sub"},
	}
	for _, c := range cases {
		if got := strings.Join(c.s.Dirs(c.name), "/"); got != c.want {
			t.Errorf("%v.Dirs(%q) = %q, want %q", c.s, c.name, got, c.want)
		}
	}
}

func TestHashSchemeIsStableAndSpreads(t *testing.T) {
	h := Scheme{"hash", 16}
	// Pinned values: changing the hash would strand every converted store.
	pinned := map[string]string{"jsmith": "", "JSMITH": "", "postmaster": ""}
	for n := range pinned {
		pinned[n] = h.Dirs(n)[0]
	}
	if pinned["jsmith"] != pinned["JSMITH"] {
		t.Errorf("hash must ignore case: %q vs %q", pinned["jsmith"], pinned["JSMITH"])
	}
	if got := h.Dirs("jsmith")[0]; got != "08.sub" {
		t.Errorf("hash:16 of jsmith = %q; the pinned bucket (FNV-1a 32 of jsmith mod 16, computed independently) is 08.sub", got)
	}
	counts := map[string]int{}
	for i := 0; i < 16000; i++ {
		counts[h.Dirs("user" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i))[0]]++
	}
	if len(counts) != 16 {
		t.Fatalf("hash:16 used %d buckets, want 16", len(counts))
	}
	for b, n := range counts {
		if n < 700 || n > 1300 {
			t.Errorf("bucket %s holds %d of 16000 names; want about 1000", b, n)
		}
		if len(b) != len("00.sub") {
			t.Errorf("bucket %q is not padded to two digits", b)
		}
	}
}

func itoa(i int) string {
	s := ""
	for {
		s = string(rune('0'+i%10)) + s
		i /= 10
		if i == 0 {
			return s
		}
	}
}
