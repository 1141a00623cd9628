package human

import (
	"math"
	"testing"
)

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{4 << 10, "4 KiB"},
		{4<<10 + 1, "4.0 KiB"},
		{1<<20 - 1, "1.0 MiB"},
		{223 << 20, "223 MiB"},
		{3 << 29, "1.5 GiB"},
		{8 << 30, "8 GiB"},
		{5 << 50, "5 PiB"},
		{math.MaxInt64, "8.0 EiB"},
		{-2048, "-2 KiB"},
		{math.MinInt64, "-8 EiB"},
	} {
		if got := Bytes(c.n); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
