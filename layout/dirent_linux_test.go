//go:build linux

package layout

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// record builds one linux_dirent64 record, padded to 8 bytes.
func record(ino uint64, typ uint8, name string) []byte {
	reclen := (direntNameOff + len(name) + 1 + 7) &^ 7
	b := make([]byte, reclen)
	binary.NativeEndian.PutUint64(b[0:], ino)
	binary.NativeEndian.PutUint64(b[8:], uint64(reclen)) // d_off: any value
	binary.NativeEndian.PutUint16(b[direntReclenOff:], uint16(reclen))
	b[direntTypeOff] = typ
	copy(b[direntNameOff:], name)
	return b
}

// C04: entries with inode 0 are real on Linux (FUSE) and must not be
// dropped; DT_UNKNOWN must reach the walker as "unknown" so it lstats.
func TestParseDirentsKeepsZeroInodeAndUnknownType(t *testing.T) {
	var buf []byte
	for _, r := range [][]byte{
		record(2, unix.DT_DIR, "."),
		record(1, unix.DT_DIR, ".."),
		record(0, unix.DT_DIR, "acct0001.macnt"), // inode 0: kept
		record(12, unix.DT_UNKNOWN, "acct0002.macnt"),
		record(13, unix.DT_LNK, "acct0003.macnt"),
		record(14, unix.DT_REG, "acct0004.mbox"),
		record(15, unix.DT_FIFO, "pipe"),
		record(16, unix.DT_REG, ".hidden"),
		record(17, unix.DT_REG, "..."),
	} {
		buf = append(buf, r...)
	}
	type ent struct {
		name string
		ino  uint64
		typ  uint8
	}
	var got []ent
	if err := ParseDirents(buf, func(name []byte, ino uint64, dtype uint8) error {
		got = append(got, ent{string(name), ino, direntType(dtype)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []ent{
		{"acct0001.macnt", 0, typeDir},
		{"acct0002.macnt", 12, typeUnknown},
		{"acct0003.macnt", 13, typeLink},
		{"acct0004.mbox", 14, typeFile},
		{"pipe", 15, typeOther},
		{".hidden", 16, typeFile},
		{"...", 17, typeFile},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseDirentsRejectsCorruptRecord(t *testing.T) {
	b := record(5, unix.DT_REG, "x")
	binary.NativeEndian.PutUint16(b[direntReclenOff:], 4) // shorter than a header
	err := ParseDirents(b, func([]byte, uint64, uint8) error { return nil })
	if !errors.Is(err, unix.EBADMSG) {
		t.Fatalf("corrupt record: err = %v, want EBADMSG", err)
	}
	b = record(5, unix.DT_REG, "x")
	binary.NativeEndian.PutUint16(b[direntReclenOff:], uint16(len(b)+8)) // past the buffer
	if err := ParseDirents(b, func([]byte, uint64, uint8) error { return nil }); !errors.Is(err, unix.EBADMSG) {
		t.Fatalf("overlong record: err = %v, want EBADMSG", err)
	}
}
