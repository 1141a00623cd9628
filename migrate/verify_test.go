package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/internal/testfs"
)

// wantSum is the content digest of b computed the plain way, from the
// definition at sumChunk, for sumFd to agree with.
func wantSum(b []byte) [32]byte {
	h := sha256.New()
	for c := 0; c < len(b); c += sumChunk {
		chunk := b[c:min(c+sumChunk, len(b))]
		if bytes.Count(chunk, []byte{0}) == len(chunk) {
			h.Write([]byte{'z'})
		} else {
			h.Write([]byte{'d'})
			h.Write(chunk)
		}
	}
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(b)))
	h.Write(l[:])
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// region is data written at an offset of a file that is otherwise holes.
type region struct {
	off  int64
	data []byte
}

// pattern is n bytes, none zero, that differ with seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) + seed | 1
	}
	return b
}

// sumFd gives the same digest for the same contents whatever the holes,
// the definition's digest, and a different one for other contents; it
// reads only the data of a sparse file, and says when a file is shorter
// or longer than its stat said. On each filesystem with holes: they
// report holes at different granularities.
func TestSumFdDependsOnContentsOnly(t *testing.T) {
	for _, vol := range []string{"ext4", "xfs", "btrfs", "tmpfs"} {
		t.Run(vol, func(t *testing.T) { checkSumFd(t, testfs.Scratch(t, vol)) })
	}
}

func checkSumFd(t *testing.T, dir string) {
	const C = sumChunk
	cases := []struct {
		name    string
		size    int64
		regions []region
	}{
		{"empty", 0, nil},
		{"all hole", 5*C + 123, nil},
		{"short dense", 1000, []region{{0, pattern(1000, 1)}}},
		{"data at start, hole to the end", 4 * C, []region{{0, pattern(C/2, 2)}}},
		{"hole at start, data unaligned", 3*C + 17, []region{{C + 4096*3, pattern(C+500, 3)}}},
		{"data in the short last chunk", 2*C + 700, []region{{2*C + 100, pattern(600, 4)}}},
		{"many extents", 40 * C, []region{{0, pattern(4096, 5)}, {7 * C, pattern(3*C, 6)}, {20*C + 8192, pattern(100, 7)}, {39 * C, pattern(C, 8)}}},
		{"beyond the read buffer", 48 * C, []region{{0, pattern(40*C, 9)}}},
	}
	buf := make([]byte, 16*C) // smaller than some files: several reads
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			content := make([]byte, tc.size)
			for _, r := range tc.regions {
				copy(content[r.off:], r.data)
			}
			// the same contents three ways: with holes, written out in
			// full (zeros allocated), and with a hole punched elsewhere
			sparse := filepath.Join(dir, "sparse")
			f, err := os.Create(sparse)
			must(t, err)
			for _, r := range tc.regions {
				_, err := f.WriteAt(r.data, r.off)
				must(t, err)
			}
			must(t, f.Truncate(tc.size))
			must(t, f.Close())
			dense := filepath.Join(dir, "dense")
			must(t, os.WriteFile(dense, content, 0o600))
			for _, p := range []string{sparse, dense} {
				fd, err := unix.Open(p, unix.O_RDONLY, 0)
				must(t, err)
				var st unix.Stat_t
				must(t, unix.Fstat(fd, &st))
				for _, holes := range []bool{mayHaveHoles(&st), false} {
					sum, n, err := sumFd(fd, tc.size, holes, buf)
					must(t, err)
					if want := wantSum(content); sum != want || n != tc.size {
						t.Errorf("%s (holes %v): digest %x length %d, want %x length %d", filepath.Base(p), holes, sum[:6], n, want[:6], tc.size)
					}
				}
				unix.Close(fd)
			}
			if tc.size == 0 {
				return
			}
			// one byte changed, in data or in a hole: another digest
			for _, at := range []int64{0, tc.size / 2, tc.size - 1} {
				other := bytes.Clone(content)
				other[at] ^= 0x5a
				p := filepath.Join(dir, "other")
				must(t, os.WriteFile(p, other, 0o600))
				fd, err := unix.Open(p, unix.O_RDONLY, 0)
				must(t, err)
				sum, _, err := sumFd(fd, tc.size, false, buf)
				unix.Close(fd)
				must(t, err)
				if sum == wantSum(content) {
					t.Errorf("a byte changed at %d: same digest", at)
				}
			}
		})
	}

	// A stat that is out of date: the length read tells.
	p := filepath.Join(dir, "changing")
	must(t, os.WriteFile(p, pattern(3*C, 1), 0o600))
	fd, err := unix.Open(p, unix.O_RDONLY, 0)
	must(t, err)
	defer unix.Close(fd)
	if _, n, err := sumFd(fd, 2*C, false, buf); err != nil || n != 2*C+1 {
		t.Errorf("file longer than its stat: length %d (%v), want %d", n, err, 2*C+1)
	}
	if _, n, err := sumFd(fd, 4*C, true, buf); err != nil || n != 3*C {
		t.Errorf("file shorter than its stat: length %d (%v), want %d", n, err, 3*C)
	}
}

// The verifier's content check: a byte changed in the copy with the size
// and times kept is a difference with checksums and none without; zeros
// written out where the source has a hole are no difference; a byte
// written into what is a hole in the source is one.
func TestVerifyComparesContents(t *testing.T) {
	root := testfs.Scratch(t, "ext4")
	src, dst := filepath.Join(root, "src"), filepath.Join(root, "dst")
	must(t, os.MkdirAll(filepath.Join(src, "a.macnt", "INBOX.mdir"), 0o700))
	msg := filepath.Join("a.macnt", "INBOX.mdir", "1.msg")
	must(t, os.WriteFile(filepath.Join(src, msg), pattern(3*sumChunk+10, 1), 0o600))
	holes := filepath.Join("a.macnt", "index.bdb")
	f, err := os.Create(filepath.Join(src, holes))
	must(t, err)
	_, err = f.WriteAt(pattern(4096, 2), 5*sumChunk)
	must(t, err)
	must(t, f.Truncate(8*sumChunk))
	must(t, f.Close())

	verify := func(checksums bool) VerifyStats {
		t.Helper()
		fd := dirFd(t, root)
		vs, err := verifyTree(context.Background(), fd, "src", fd, "dst", verifyOpts{checksums: checksums, jobs: 2, srcRoot: src, dstRoot: dst})
		must(t, err)
		return vs
	}
	// rewrite changes the copy's file rel with edit, keeping its size and times
	rewrite := func(rel string, edit func([]byte)) {
		t.Helper()
		p := filepath.Join(dst, rel)
		var st unix.Stat_t
		must(t, unix.Stat(p, &st))
		b, err := os.ReadFile(p)
		must(t, err)
		edit(b)
		must(t, os.WriteFile(p, b, 0o600)) // written out in full: no holes
		must(t, unix.UtimesNano(p, []unix.Timespec{st.Atim, st.Mtim}))
	}
	fd, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	must(t, err)
	_, err = copyTree(context.Background(), fd, "src", fd, "dst", copyOpts{jobs: 2, srcRoot: src, dstRoot: dst})
	unix.Close(fd)
	must(t, err)
	if vs := verify(true); vs.Count != 0 || vs.Checksums != 2 {
		t.Fatalf("fresh copy: %d differences (%v), %d files checksummed, want 0 and 2", vs.Count, vs.Mismatches, vs.Checksums)
	}

	rewrite(holes, func([]byte) {})
	var st unix.Stat_t
	must(t, unix.Stat(filepath.Join(dst, holes), &st))
	if mayHaveHoles(&st) {
		t.Fatal("the rewritten copy still has holes: the case is not set up")
	}
	if vs := verify(true); vs.Count != 0 {
		t.Errorf("zeros written out where the source has holes: %v", vs.Mismatches)
	}

	for _, tc := range []struct {
		rel string
		at  int
	}{{msg, 2*sumChunk + 7}, {holes, sumChunk + 3}} {
		rewrite(tc.rel, func(b []byte) { b[tc.at] ^= 0x20 })
		if vs := verify(false); vs.Count != 0 {
			t.Errorf("%s: --verify=meta found %v", tc.rel, vs.Mismatches)
		}
		vs := verify(true)
		if vs.Count != 1 || vs.Mismatches[0].Path != tc.rel || vs.Mismatches[0].What != "contents differ (SHA-256)" {
			t.Errorf("%s: one byte changed at %d: %d differences %v, want contents differ", tc.rel, tc.at, vs.Count, vs.Mismatches)
		}
		rewrite(tc.rel, func(b []byte) { b[tc.at] ^= 0x20 }) // put back
	}
}

// Where the kernel refuses lseek SEEK_HOLE (ext4 keeping a file's start in
// its inode, before the file is synced), the digest and the copier read
// the rest of the file instead of failing or missing data. The same file
// is the one whose data copy_file_range and sendfile copied as zeros:
// the copy must hold the bytes read(2) returns.
func TestHoleMapRefused(t *testing.T) {
	dir := testfs.Scratch(t, "ext4-inline")
	p := filepath.Join(dir, "index.bdb")
	content := make([]byte, 12290)
	content[0], content[12289] = 'A', 'B'
	f, err := os.Create(p)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt(content[:1], 0)
	must(t, err)
	_, err = f.WriteAt(content[12289:], 12289)
	must(t, err)
	fd := int(f.Fd())
	if _, err := unix.Seek(fd, 0, unix.SEEK_HOLE); err == nil {
		t.Skip("this kernel answers SEEK_HOLE for an unsynced inline-data file on ext4, so the refusal cannot be exercised here")
	}

	sum, n, err := sumFd(fd, int64(len(content)), true, make([]byte, 1<<20))
	if err != nil || sum != wantSum(content) || n != int64(len(content)) {
		t.Errorf("digest with holes asked for: error %v, length %d, same as the contents' %v", err, n, sum == wantSum(content))
	}

	var st unix.Stat_t
	must(t, unix.Fstat(fd, &st))
	st.Blocks = 0 // as if sparse, so that the copier asks for the hole map
	out, err := os.Create(filepath.Join(dir, "copy"))
	must(t, err)
	defer out.Close()
	c := &copier{opts: copyOpts{counters: &Counters{}}}
	if _, err := c.copyData(fd, int(out.Fd()), &st, make([]byte, 1<<20)); err != nil {
		t.Fatalf("copy: %v", err)
	}
	got, err := os.ReadFile(out.Name())
	must(t, err)
	if !bytes.Equal(got, content) {
		t.Errorf("copy differs from the source: %d bytes, starting %q and ending %q", len(got), got[:1], got[len(got)-1:])
	}
}
