package fsbench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// Identify reads the identity of the filesystem holding path.
func Identify(path string, opts IdentifyOptions) (Identity, error) {
	if opts.MountInfo == "" {
		opts.MountInfo = "/proc/self/mountinfo"
	}
	id := Identity{Path: path}
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return id, errs.New(errs.BadInput, "identify filesystem of", path, err, "")
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return id, errs.New(errs.BadInput, "identify filesystem of", path, err, "")
	}
	magic := uint64(sfs.Type)
	id.Magic = fmt.Sprintf("0x%x", magic)
	id.Type = TypeName(magic)
	id.Dev = st.Dev
	id.Device = fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	id.FSID = fmt.Sprintf("%08x%08x", uint32(sfs.Fsid.Val[0]), uint32(sfs.Fsid.Val[1]))
	id.BlockSize = int64(sfs.Bsize)
	id.FreeBytes = sfs.Bavail * uint64(sfs.Bsize)
	id.TotalBytes = sfs.Blocks * uint64(sfs.Bsize)
	id.FreeInodes = sfs.Ffree
	id.TotalInodes = sfs.Files

	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	if abs, err := filepath.Abs(real); err == nil {
		real = abs
	}
	if m, ok := findMount(opts.MountInfo, id.Device, real); ok {
		id.MountPoint, id.Source, id.Options = m.point, m.source, m.options
		if id.Type == "ext" && strings.HasPrefix(m.fstype, "ext") {
			id.Type = m.fstype
		}
	}
	if id.IsExt() {
		id.DirIndex, id.FileType, id.LargeDir = Unknown, Unknown, Unknown
		if sb, err := readExtSuperblock(id.Source); err == nil {
			id.DirIndex, id.FileType, id.LargeDir = sb.dirIndex, sb.fileType, sb.largeDir
		} else if dirIndexed(path) {
			// Without the superblock (not root), a directory that already
			// carries the hashed-index flag proves the feature is on.
			id.DirIndex = Yes
		}
	}
	return id, nil
}

type mount struct {
	point, source, fstype string
	options               []string
}

// findMount returns the mountinfo entry of device dev whose mount point is
// the longest prefix of path (bind mounts share a device). Where no entry
// has that device (btrfs gives each subvolume its own anonymous st_dev), the
// longest mount point above path is taken.
func findMount(mountinfo, dev, path string) (mount, bool) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return mount{}, false
	}
	defer f.Close()
	var byDev, byPath mount
	foundDev, foundPath := false, false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m, mdev, ok := parseMountInfoLine(sc.Text())
		if !ok || !pathUnder(path, m.point) {
			continue
		}
		if !foundPath || len(m.point) >= len(byPath.point) {
			byPath, foundPath = m, true
		}
		if mdev == dev && (!foundDev || len(m.point) >= len(byDev.point)) {
			byDev, foundDev = m, true
		}
	}
	if foundDev {
		return byDev, true
	}
	return byPath, foundPath
}

// parseMountInfoLine reads one line of /proc/self/mountinfo:
// ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
func parseMountInfoLine(line string) (m mount, dev string, ok bool) {
	left, right, found := strings.Cut(line, " - ")
	if !found {
		return m, "", false
	}
	lf, rf := strings.Fields(left), strings.Fields(right)
	if len(lf) < 6 || len(rf) < 2 {
		return m, "", false
	}
	m.point = unescapeMount(lf[4])
	m.fstype = rf[0]
	m.source = unescapeMount(rf[1])
	m.options = strings.Split(lf[5], ",")
	if len(rf) >= 3 {
		for _, o := range strings.Split(rf[2], ",") {
			if o != "rw" && o != "ro" {
				m.options = append(m.options, o)
			}
		}
	}
	return m, lf[2], true
}

// unescapeMount undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func pathUnder(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}

type extFeatures struct{ dirIndex, fileType, largeDir Tri }

// ext superblock: 1024 bytes into the device; magic 0xEF53 at offset 56,
// s_feature_compat at 92, s_feature_incompat at 96.
const (
	extCompatDirIndex    = 0x20
	extIncompatFileType  = 0x2
	extIncompatLargeDir  = 0x4000
	extSuperblockOffset  = 1024
	extMagicOffset       = 56
	extCompatOffset      = 92
	extIncompatOffset    = 96
	extIndexFlag         = 0x1000 // EXT4_INDEX_FL on a directory inode
	extSuperblockMinSize = 100
)

func readExtSuperblock(device string) (extFeatures, error) {
	var f extFeatures
	if !strings.HasPrefix(device, "/dev/") {
		return f, fmt.Errorf("%q is not a block device path", device)
	}
	fd, err := os.Open(device)
	if err != nil {
		return f, err
	}
	defer fd.Close()
	buf := make([]byte, extSuperblockMinSize)
	if _, err := fd.ReadAt(buf, extSuperblockOffset); err != nil {
		return f, err
	}
	return parseExtSuperblock(buf)
}

func parseExtSuperblock(buf []byte) (extFeatures, error) {
	var f extFeatures
	if len(buf) < extSuperblockMinSize || binary.LittleEndian.Uint16(buf[extMagicOffset:]) != 0xEF53 {
		return f, fmt.Errorf("no ext superblock")
	}
	compat := binary.LittleEndian.Uint32(buf[extCompatOffset:])
	incompat := binary.LittleEndian.Uint32(buf[extIncompatOffset:])
	f.dirIndex = tri(compat&extCompatDirIndex != 0)
	f.fileType = tri(incompat&extIncompatFileType != 0)
	f.largeDir = tri(incompat&extIncompatLargeDir != 0)
	return f, nil
}

// dirIndexed reports whether the directory at path carries the ext hashed
// index flag (set once a directory outgrows one block on a dir_index fs).
func dirIndexed(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	return err == nil && flags&extIndexFlag != 0
}
