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

func TestRegularAndRates(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{N(2, "directory", ""), "2 directories"},
		{N(2, "key", ""), "2 keys"},
		{N(3, "process", ""), "3 processes"},
		{N(0, "difference", ""), "0 differences"},
		{N(4.6, "message", ""), "4.6 messages"},
		{N(1.0, "message", ""), "1 message"},
		{N(uint64(18446744073709551615), "byte", ""), "18446744073709551615 bytes"},
		{N(int64(1), "inode", ""), "1 inode"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
