package fsbench

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/cgscale/cgscale/internal/testfs"
)

func TestParseMountInfoLine(t *testing.T) {
	line := `36 35 7:1 / /var/tmp/cg\040vol/ext4 rw,noatime shared:1 - ext4 /dev/loop1 rw,errors=remount-ro`
	m, dev, ok := parseMountInfoLine(line)
	if !ok || dev != "7:1" {
		t.Fatalf("parse failed: ok=%v dev=%q", ok, dev)
	}
	if m.point != "/var/tmp/cg vol/ext4" || m.source != "/dev/loop1" || m.fstype != "ext4" {
		t.Fatalf("got %+v", m)
	}
	want := []string{"rw", "noatime", "errors=remount-ro"}
	if len(m.options) != len(want) {
		t.Fatalf("options %v, want %v", m.options, want)
	}
	for i := range want {
		if m.options[i] != want[i] {
			t.Fatalf("options %v, want %v", m.options, want)
		}
	}
	if _, _, ok := parseMountInfoLine("garbage"); ok {
		t.Fatal("a line without ' - ' must not parse")
	}
}

func TestFindMountPrefersLongestMountPoint(t *testing.T) {
	mi := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(mi, []byte(
		"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"+
			"2 1 8:1 /srv /mnt/bind rw - ext4 /dev/sda1 rw\n"+
			"3 1 0:30 / /mnt/bindx rw - tmpfs tmpfs rw\n"), 0o644)
	m, ok := findMount(mi, "8:1", "/mnt/bind/store")
	if !ok || m.point != "/mnt/bind" {
		t.Fatalf("got %+v %v, want /mnt/bind", m, ok)
	}
	m, ok = findMount(mi, "8:1", "/mnt/bindx/store")
	if !ok || m.point != "/" {
		t.Fatalf("a longer name that is not a parent must not match: got %+v", m)
	}
}

func TestParseExtSuperblock(t *testing.T) {
	buf := make([]byte, extSuperblockMinSize)
	binary.LittleEndian.PutUint16(buf[extMagicOffset:], 0xEF53)
	binary.LittleEndian.PutUint32(buf[extCompatOffset:], extCompatDirIndex)
	binary.LittleEndian.PutUint32(buf[extIncompatOffset:], extIncompatFileType)
	f, err := parseExtSuperblock(buf)
	if err != nil || f.dirIndex != Yes || f.fileType != Yes || f.largeDir != No {
		t.Fatalf("got %+v, %v", f, err)
	}
	binary.LittleEndian.PutUint16(buf[extMagicOffset:], 0x1234)
	if _, err := parseExtSuperblock(buf); err == nil {
		t.Fatal("a wrong magic must be refused")
	}
}

// TestIdentifyRealVolumes reads the loop volumes of scripts/mkvolumes.sh.
func TestIdentifyRealVolumes(t *testing.T) {
	cases := []struct {
		vol, typ           string
		dirIndex, fileType Tri
	}{
		{"ext4", "ext4", Yes, Yes},
		{"ext4-nodirindex", "ext4", No, Yes},
		{"ext4-notype", "ext4", Yes, No},
		{"xfs", "xfs", "", ""},
		{"btrfs", "btrfs", "", ""},
		{"tmpfs", "tmpfs", "", ""},
	}
	devs := map[uint64]bool{}
	for _, c := range cases {
		dir := testfs.Volume(t, c.vol)
		id, err := Identify(dir, IdentifyOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.vol, err)
		}
		if id.Type != c.typ {
			t.Errorf("%s: type %q, want %q", c.vol, id.Type, c.typ)
		}
		if id.MountPoint != dir {
			t.Errorf("%s: mount point %q, want %q", c.vol, id.MountPoint, dir)
		}
		if os.Geteuid() == 0 && (id.DirIndex != c.dirIndex || id.FileType != c.fileType) {
			t.Errorf("%s: dir_index %q filetype %q, want %q %q", c.vol, id.DirIndex, id.FileType, c.dirIndex, c.fileType)
		}
		if id.TotalInodes == 0 && c.vol != "btrfs" {
			t.Errorf("%s: no inode count", c.vol)
		}
		devs[id.Dev] = true
	}
	if len(devs) != len(cases) {
		t.Errorf("%d volumes gave %d distinct devices", len(cases), len(devs))
	}
}
