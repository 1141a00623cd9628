// Package fsbench identifies filesystems and measures how they behave as a
// mail store grows: directory lookup cost against entries per directory, and
// throughput against the number of parallel delivery writers.
package fsbench

import "fmt"

// Tri is a yes/no answer that may be unknown.
type Tri string

const (
	Yes     Tri = "yes"
	No      Tri = "no"
	Unknown Tri = "unknown"
)

func tri(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

// Identity says which filesystem a path lives on and how it is set up.
type Identity struct {
	Path       string   `json:"path"`
	Type       string   `json:"type"`   // ext4, xfs, btrfs, tmpfs, nfs, ... or "unknown(0x…)"
	Magic      string   `json:"magic"`  // statfs f_type in hex
	Device     string   `json:"device"` // major:minor of st_dev
	Dev        uint64   `json:"dev"`
	FSID       string   `json:"fsid"` // statfs f_fsid in hex
	MountPoint string   `json:"mount_point,omitempty"`
	Source     string   `json:"source,omitempty"` // what is mounted: /dev/sda1, tmpfs, server:/export
	Options    []string `json:"options,omitempty"`
	// ext family only: hashed directory index (dir_index), file type in
	// directory entries (filetype), directories past 2 GiB / 3-level
	// htree (large_dir). Unknown where the superblock cannot be read.
	DirIndex  Tri   `json:"dir_index,omitempty"`
	FileType  Tri   `json:"filetype,omitempty"`
	LargeDir  Tri   `json:"large_dir,omitempty"`
	BlockSize int64 `json:"block_size"`
	// Space and inodes available to an unprivileged writer.
	FreeBytes   uint64 `json:"free_bytes"`
	TotalBytes  uint64 `json:"total_bytes"`
	FreeInodes  uint64 `json:"free_inodes"`
	TotalInodes uint64 `json:"total_inodes"`
}

// IdentifyOptions lets tests point the reader at other system files.
type IdentifyOptions struct {
	// MountInfo is the mountinfo file to read; default /proc/self/mountinfo.
	MountInfo string
}

// Filesystem magic numbers (statfs f_type) of the filesystems a mail store
// is likely to sit on.
var magicNames = map[uint64]string{
	0xEF53:     "ext", // ext2/3/4 share one magic; mountinfo tells which
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x01021994: "tmpfs",
	0x858458F6: "ramfs",
	0x6969:     "nfs",
	0x2FC12FC1: "zfs",
	0x65735546: "fuse",
	0x794C7630: "overlay",
	0x52654973: "reiserfs",
	0x3153464A: "jfs",
	0xF2F52010: "f2fs",
	0xFF534D42: "cifs",
	0xFE534D42: "smb2",
	0x00C36400: "ceph",
	0x01161970: "gfs2",
	0x7461636F: "ocfs2",
	0x3434:     "nilfs",
	0xCA451A4E: "bcachefs",
	0x4D44:     "vfat",
	0x2011BAB0: "exfat",
	0x73717368: "squashfs",
}

// TypeName names a statfs magic number.
func TypeName(magic uint64) string {
	if n, ok := magicNames[magic]; ok {
		return n
	}
	return fmt.Sprintf("unknown(0x%x)", magic)
}

// IsExt reports whether the identity is of the ext family.
func (id Identity) IsExt() bool {
	return id.Type == "ext2" || id.Type == "ext3" || id.Type == "ext4" || id.Type == "ext"
}

// String is a short human form: "ext4 (no dir_index) on /dev/loop1 at /mnt".
func (id Identity) String() string {
	s := id.Type
	if id.IsExt() {
		switch id.DirIndex {
		case No:
			s += " (no dir_index)"
		case Unknown:
			s += " (dir_index unknown)"
		}
		if id.FileType == No {
			s += " (no filetype)"
		}
	}
	if id.Source != "" {
		s += " on " + id.Source
	}
	if id.MountPoint != "" {
		s += " at " + id.MountPoint
	}
	return s
}
