package plural

import "testing"

func TestN(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{N(0, "finding", ""), "0 findings"},
		{N(1, "finding", ""), "1 finding"},
		{N(2, "finding", ""), "2 findings"},
		{N(int64(1), "directory", "directories"), "1 directory"},
		{N(int64(7), "directory", "directories"), "7 directories"},
		{N(uint64(1), "entry", "entries"), "1 entry"},
		{Noun(3, "is", "are"), "are"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
