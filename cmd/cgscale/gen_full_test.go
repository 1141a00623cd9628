package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/internal/testfs"
)

// D6: gen on a filesystem that fills up (blocks, or inodes) fails at the
// first write that does not fit: one error naming the file and the
// filesystem, what was written, exit 1; never reported as an interrupt.
func TestD6_GenOnAFullFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		testfs.Unavailable(t, "this test mounts tiny volumes: run it as root (CI does)")
	}
	for _, c := range []struct {
		name string
		mkfs []string
		fs   string
	}{
		{"space", []string{"tmpfs"}, "tmpfs"},
		{"inodes", []string{"mkfs.ext4", "-q", "-N", "512"}, "ext4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(testfs.Mount(t, 16, c.mkfs...), "st")
			var out, errb bytes.Buffer
			e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
			code := run(context.Background(), e, []string{"gen", "--accounts", "20000", "--progress", "never", dir})
			msg := errb.String()
			if code != 1 {
				t.Fatalf("exit %d, want 1 (failed):\n%s", code, msg)
			}
			for _, want := range []string{"cgscale: gen " + dir + ": out of space or inodes on " + c.fs,
				"no space left on device", "hint: the store is incomplete: ", " were written under " + dir} {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr lacks %q:\n%s", want, msg)
				}
			}
			// the file that did not fit, by its full path (which may hold
			// spaces: "Sent Items.mbox")
			if !regexp.MustCompile(`: (write|create directory|create symlink) ` + regexp.QuoteMeta(dir) + `/[^:\n]+: `).MatchString(msg) {
				t.Errorf("stderr does not name the file that did not fit:\n%s", msg)
			}
			if strings.Contains(msg, "interrupted") || strings.Contains(msg, "context canceled") {
				t.Errorf("a full filesystem is reported as an interruption:\n%s", msg)
			}
			if strings.Count(strings.TrimSpace(msg), "\n") != 1 {
				t.Errorf("want one error line and one hint line:\n%s", msg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout: %s", out.String())
			}
		})
	}
}
