package layout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cgscale/cgscale/internal/testfs"
)

// ReadDir lists every name once, on a filesystem that gives entry types
// and on one that gives none (DT_UNKNOWN, an lstat each), large enough to
// take several getdents64 buffers; an error from fn stops the listing.
func TestReadDirListsEveryName(t *testing.T) {
	for _, vol := range []string{"ext4", "ext4-notype"} {
		t.Run(vol, func(t *testing.T) {
			dir := testfs.Scratch(t, vol)
			var want []string
			for i := range 1500 {
				name := fmt.Sprintf("acct%04d.macnt", i)
				if i%3 == 0 {
					name = fmt.Sprintf("msg%04d", i)
					if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
						t.Fatal(err)
					}
				} else if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
					t.Fatal(err)
				}
				want = append(want, name)
			}
			sort.Strings(want)
			for _, types := range []bool{false, true} {
				var got []string
				n, err := ReadDir(dir, types, func(name []byte) error {
					got = append(got, string(name))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				sort.Strings(got)
				if n != len(want) || len(got) != len(want) {
					t.Fatalf("types %v: %d entries, %d names; want %d", types, n, len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("types %v: name %d = %q, want %q", types, i, got[i], want[i])
					}
				}
			}
			stop := errors.New("stop")
			n, err := ReadDir(dir, false, func([]byte) error { return stop })
			if !errors.Is(err, stop) || n != 1 {
				t.Errorf("fn error: n %d, err %v; want 1, stop", n, err)
			}
			if _, err := ReadDir(filepath.Join(dir, "msg0000"), false, nil); err == nil {
				t.Errorf("reading a file as a directory did not fail")
			}
		})
	}
}
