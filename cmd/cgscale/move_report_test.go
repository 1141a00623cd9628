package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/migrate"
)

// D13 and D15: the text report of a move shows the link only where it
// exists (or, in a dry run, would), says "no fixed inode limit" for a
// filesystem without one, names the filesystem as scan does, and writes
// singulars for one.
func TestMoveReportWording(t *testing.T) {
	plan := &migrate.MovePlan{Source: "/s/Domains/a", Dest: "/v/Domains/a", Link: "/v/Domains/a", LinkWhy: "absolute",
		Totals:    migrate.Totals{Files: 1, Dirs: 1, Symlinks: 0, Bytes: 1, Allocated: 4096, Inodes: 2},
		Target:    migrate.TargetInfo{VolumeDir: "/v", FSType: "btrfs", Filesystem: "btrfs on /dev/loop3 at /v", FreeBytes: 1 << 30},
		NeedBytes: 1, NeedInodes: 1}
	report := func(res *migrate.MoveResult, dry bool) string {
		var b bytes.Buffer
		printMove(&b, res, false, dry)
		return b.String()
	}

	rolled := report(&migrate.MoveResult{Plan: plan, Outcome: "rolled back",
		Copy: migrate.CopyStats{Files: 1, Dirs: 1, Bytes: 1}, Verify: migrate.VerifyStats{Entries: 1, Checksums: 1, Count: 1}}, false)
	if strings.Contains(rolled, "-> /v/Domains/a") {
		t.Errorf("a rolled-back move reports a link:\n%s", rolled)
	}
	if !strings.Contains(rolled, "link      none: /s/Domains/a is still the directory") {
		t.Errorf("a rolled-back move does not say there is no link:\n%s", rolled)
	}
	for _, want := range []string{
		"tree      1 file, 1 directory, 0 symbolic links, 1 byte (4096 allocated, 2 inodes)",
		"target    /v (btrfs on /dev/loop3 at /v): 1073741824 bytes free, no fixed inode limit; needs about 1 byte, 1 inode",
		"copied    1 file (1 byte), 1 directory, 0 hard links, 0 symbolic links",
		"verified  1 entry, 1 file by checksum, 1 difference",
	} {
		if !strings.Contains(rolled, want) {
			t.Errorf("report lacks %q:\n%s", want, rolled)
		}
	}
	for _, bad := range []string{"not limited", " 1 files", " 1 operations", " 1 entries", " 1 differences", "ext2/3/4"} {
		if strings.Contains(rolled, bad) {
			t.Errorf("report has %q:\n%s", bad, rolled)
		}
	}
	if moved := report(&migrate.MoveResult{Plan: plan, Outcome: "moved"}, false); !strings.Contains(moved, "link      /s/Domains/a -> /v/Domains/a\n") {
		t.Errorf("a finished move does not report its link:\n%s", moved)
	}
	if dry := report(&migrate.MoveResult{Plan: plan, Outcome: "dry run"}, true); !strings.Contains(dry, "link      /s/Domains/a -> /v/Domains/a (would be made)") {
		t.Errorf("a dry run does not report the link it would make:\n%s", dry)
	}
}
