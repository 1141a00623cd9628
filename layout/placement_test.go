package layout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestInferPlacement(t *testing.T) {
	subs := func(names ...string) []string {
		for i := range names {
			names[i] += SubSuffix
		}
		return names
	}
	buckets := func(width int, nums ...int) []string {
		var s []string
		for _, n := range nums {
			s = append(s, fmt.Sprintf("%0*d.sub", width, n))
		}
		return s
	}
	cases := []struct {
		subs   []string
		prefix bool
		lo, hi int
	}{
		{nil, false, 0, 0},
		{subs("a", "b", "j", "_", "9"), true, 0, 0},
		{buckets(2, 0, 1, 2, 15), false, 16, 100}, // hash:16 to hash:100 pad to two digits
		{buckets(2, 0, 9), false, 11, 100},        // hash:10 would not pad
		{buckets(3, 0, 7, 199), false, 200, 1000}, // sparse: any count above the largest
		{subs("0", "1", "2", "3"), true, 4, 10},
		{subs("ab", "cd"), false, 0, 0},
		{subs("0", "10"), false, 0, 0},
		{buckets(5, 70000), false, 0, 0}, // beyond MaxHashBuckets
	}
	for _, c := range cases {
		p := inferPlacement(c.subs)
		if p.prefix != c.prefix || p.hashLo != c.lo || p.hashHi != c.hi {
			t.Errorf("inferPlacement(%v) = %+v, want prefix %v, hash %d..%d", c.subs, p, c.prefix, c.lo, c.hi)
		}
	}
}

// placedStore makes one domain, d.test, holding names placed by scheme,
// and returns the store's base.
func placedStore(t *testing.T, s Scheme, names []string) string {
	t.Helper()
	base := t.TempDir()
	spec := []string{"Settings/", "Domains/d.test/Settings/"}
	for _, n := range names {
		spec = append(spec, "Domains/d.test/"+strings.Join(s.Dirs(n), "/")+"/"+n+MacntSuffix+"/")
	}
	build(t, base, spec...)
	return base
}

func userNames(n int, format string) []string {
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf(format, i))
	}
	return names
}

// The scheme of a domain is read from where its accounts are, so hash:N
// is recognised whether or not every bucket exists and whatever N is, and
// prefix:1 with names that all start with a digit is not taken for hash.
func TestSchemeFromPlacement(t *testing.T) {
	digits := []string{}
	for i := range 60 {
		digits = append(digits, fmt.Sprintf("%d-user%d", i%7, i))
	}
	cases := []struct {
		name   string
		scheme Scheme
		names  []string
		want   string
	}{
		{"hash:7", Scheme{"hash", 7}, userNames(300, "user%04d"), "hash:7"},
		{"hash:16", Scheme{"hash", 16}, userNames(300, "ann.%d"), "hash:16"},
		{"hash:200 sparse", Scheme{"hash", 200}, userNames(150, "u%d"), "hash:200"},
		{"hash:13 few", Scheme{"hash", 13}, userNames(6, "x%d"), "hash:13"},
		{"prefix:1 digits", Scheme{"prefix", 1}, digits, "prefix:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := placedStore(t, c.scheme, c.names)
			r := walkOK(t, base, WalkOptions{Jobs: 3})
			d := domainByName(t, r, "d.test")
			if d.Scheme != c.want || d.Misplaced != 0 || d.Suggested != c.want {
				t.Errorf("scheme %q, suggested %q, %d misplaced %v; want %q, none misplaced", d.Scheme, d.Suggested, d.Misplaced, d.MisplacedExamples, c.want)
			}
			if ids := findingIDs(r); ids[RuleMisplaced] {
				t.Errorf("findings %v", r.Findings)
			}
		})
	}
}

// Accounts in the wrong bucket of a hash domain are counted and named;
// a crowded hash domain is offered more buckets, never a prefix scheme.
func TestHashMisplacedAndCrowded(t *testing.T) {
	names := userNames(200, "user%04d")
	base := placedStore(t, Scheme{"hash", 7}, names)
	s := Scheme{"hash", 7}
	var moved []string
	for _, n := range names[:3] {
		from := filepath.Join(base, "Domains/d.test", s.Dirs(n)[0], n+MacntSuffix)
		to := filepath.Join(base, "Domains/d.test", Scheme{"hash", 7}.Dirs(n + "x")[0])
		if filepath.Dir(from) == to {
			continue
		}
		if err := os.Rename(from, filepath.Join(to, n+MacntSuffix)); err != nil {
			t.Fatal(err)
		}
		moved = append(moved, filepath.Base(to)+"/"+n+MacntSuffix)
	}
	r := walkOK(t, base, WalkOptions{})
	d := domainByName(t, r, "d.test")
	sort.Strings(moved)
	if d.Scheme != "hash:7" || d.Misplaced != int64(len(moved)) || !reflect.DeepEqual(d.MisplacedExamples, moved) {
		t.Errorf("scheme %q, %d misplaced %v; want hash:7, %v", d.Scheme, d.Misplaced, d.MisplacedExamples, moved)
	}

	r, err := Walk(context.Background(), base, WalkOptions{MaxFlatAccounts: 5})
	if err != nil {
		t.Fatal(err)
	}
	d = domainByName(t, r, "d.test")
	sug, err := ParseScheme(d.Suggested)
	if err != nil || sug.Kind != "hash" || sug.N <= 7 || sug.N > 7*(int(d.Largest.Entries)+1) {
		t.Errorf("crowded hash:7 domain (largest bucket %d): suggested %q", d.Largest.Entries, d.Suggested)
	}
	for _, f := range r.Findings {
		if strings.Contains(f.Next, "prefix") {
			t.Errorf("%s suggests a prefix scheme for a hash domain: %s", f.ID, f.Next)
		}
	}
}

func TestHashBucketMatchesScheme(t *testing.T) {
	names := []string{"jsmith", "JSmith", "postmaster", "a", "", "émile", "ÉMILE", "x-y_z.1"}
	for i := 0; i < 500; i++ {
		names = append(names, fmt.Sprintf("user%05d", i*7919))
	}
	for _, n := range []int{2, 10, 16, 100, 4096} {
		s := Scheme{Kind: "hash", N: n}
		for _, name := range names {
			want := subNumber(s.Dirs(name)[0])
			if got := hashBucket([]byte(name), n); got != want {
				t.Fatalf("hashBucket(%q, %d) = %d, Scheme.Dirs says %d", name, n, got, want)
			}
		}
	}
}

func TestPrefixPlacedMatchesScheme(t *testing.T) {
	names := []string{"jsmith", "JSmith", "a", "", ".x", "9lives", "émile"}
	for levels := 1; levels <= 3; levels++ {
		s := Scheme{Kind: "prefix", N: levels}
		for _, name := range names {
			dirs := s.Dirs(name)
			if !prefixPlaced(dirs, []byte(name)) {
				t.Errorf("prefixPlaced(%v, %q) = false, but Scheme.Dirs puts it there", dirs, name)
			}
			wrong := append([]string(nil), dirs...)
			wrong[len(wrong)-1] = "q.sub"
			if strings.Join(wrong, "/") != strings.Join(dirs, "/") && prefixPlaced(wrong, []byte(name)) {
				t.Errorf("prefixPlaced(%v, %q) = true for the wrong directory", wrong, name)
			}
		}
	}
}

func TestSubNumber(t *testing.T) {
	for in, want := range map[string]int{"07.sub": 7, "0.sub": 0, "4095.sub": 4095, "a.sub": -1, ".sub": -1, "07": -1, "123456.sub": -1} {
		if got := subNumber(in); got != want {
			t.Errorf("subNumber(%q) = %d, want %d", in, got, want)
		}
	}
}
