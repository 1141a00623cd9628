package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The copier takes a file's type from its directory entry and its stat
// from the descriptor it opens. A name that the directory listed as a
// regular file but that is a fifo when it is opened (replaced meanwhile)
// stops the copy with "the source changed" at once: it neither waits for
// a writer nor copies the fifo as a file.
func TestCopyFileReplacedByFifo(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	must(t, os.Mkdir(src, 0o700))
	must(t, os.Mkdir(dst, 0o700))
	must(t, unix.Mkfifo(filepath.Join(src, "1.msg"), 0o600))
	sfd := dirFd(t, src)
	dfd := dirFd(t, dst)
	c := &copier{ctx: context.Background(), links: map[fileKey]string{},
		opts: copyOpts{counters: &Counters{}, srcRoot: src, dstRoot: dst}}
	n := &dnode{rel: ".", srcFd: sfd, dstFd: dfd}
	done := make(chan error, 1)
	go func() { done <- c.copyFile(&fileJob{dir: n, name: "1.msg"}, make([]byte, 4096)) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("copying a name that became a fifo waits for a writer")
	}
	if err == nil || !strings.Contains(err.Error(), "the source changed") || !strings.Contains(err.Error(), filepath.Join(src, "1.msg")) {
		t.Fatalf("got %v, want the source changed, naming %s", err, filepath.Join(src, "1.msg"))
	}
	if _, err := os.Lstat(filepath.Join(dst, "1.msg")); !os.IsNotExist(err) {
		t.Errorf("the copy holds 1.msg (%v); nothing should be created for it", err)
	}
}
