package layout

import (
	"fmt"
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
	hash16 := []string{}
	for i := 0; i < 16; i++ {
		hash16 = append(hash16, fmt.Sprintf("%02d.sub", i))
	}
	cases := []struct {
		subs []string
		want string
	}{
		{nil, ""},
		{subs("a", "b", "j", "_", "9"), "prefix"},
		{hash16, "hash:16"},
		{hash16[:15], "hash:15"},                        // 00..14: hash:15 pads to the width of 14
		{hash16[:10], "custom"},                         // 00..09: hash:10 would not pad
		{append(hash16[:3:3], hash16[5:]...), "custom"}, // a gap: the bucket count is unknown
		{subs("0", "1", "2", "3"), "prefix or hash:4"},
		{subs("ab", "cd"), "custom"},
		{subs("0", "10"), "custom"},
	}
	for _, c := range cases {
		if got := inferPlacement(c.subs).String(); got != c.want {
			t.Errorf("inferPlacement(%v) = %q, want %q", c.subs, got, c.want)
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
