package fsbench

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/layout"
)

// ScratchPrefix starts the name of every scratch directory the benchmark
// makes: DIR/.cgscale-bench.<pid>.<random>.
const ScratchPrefix = ".cgscale-bench."

// markerName is the file in a scratch directory that names its owner.
const markerName = ".cgscale-bench-owner"

// Scratch is a benchmark's private directory under the directory given
// by the user. Nothing outside it is ever created or removed.
type Scratch struct {
	Path string
}

// NewScratch makes a fresh scratch directory under parent and writes the
// owner marker into it. It refuses a parent that is not a writable
// directory, naming it.
func NewScratch(parent string) (*Scratch, error) {
	st, err := os.Stat(parent)
	if err != nil {
		return nil, errs.New(errs.BadInput, "bench", parent, err, "give an existing directory on the volume to measure")
	}
	if !st.IsDir() {
		return nil, errs.Errorf(errs.BadInput, "bench", parent, "give a directory on the volume to measure", "not a directory")
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, errs.New(errs.Failed, "bench: random name", parent, err, "")
	}
	pid := os.Getpid()
	path := filepath.Join(parent, fmt.Sprintf("%s%d.%s", ScratchPrefix, pid, hex.EncodeToString(rnd[:])))
	if err := os.Mkdir(path, 0o700); err != nil {
		hint := "give a directory you can write to (bench works in a scratch directory it removes afterwards)"
		if errors.Is(err, unix.EROFS) {
			hint = "the volume is mounted read-only; remount it read-write or pick another directory"
		}
		return nil, errs.New(errs.Refused, "bench: cannot write in", parent, err, hint)
	}
	s := &Scratch{Path: path}
	if err := os.WriteFile(filepath.Join(path, markerName), []byte(ownerLine(pid)), 0o600); err != nil {
		s.Remove()
		return nil, errs.New(errs.Refused, "bench: cannot write in", parent, err, "free some space or inodes on the volume, or pick another directory")
	}
	return s, nil
}

// Remove deletes the scratch directory and everything below it. It never
// follows a symbolic link found inside (os.RemoveAll opens directories
// relative to their parent with O_NOFOLLOW and unlinks links themselves).
func (s *Scratch) Remove() error {
	if err := os.RemoveAll(s.Path); err != nil {
		return errs.New(errs.Failed, "bench: remove scratch directory", s.Path, err, "remove it by hand with rm -rf")
	}
	return nil
}

// ownerLine is the marker content: the pid and the process start time, so
// a recycled pid is not mistaken for the run that made the directory.
func ownerLine(pid int) string {
	return fmt.Sprintf("pid %d start %s\n", pid, procStart(pid))
}

// procStart returns field 22 of /proc/PID/stat (start time in clock
// ticks since boot), or "" when it cannot be read.
func procStart(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// Stale is a scratch directory left behind by a run that no longer exists.
type Stale struct {
	Path string
	Pid  int
}

// RemoveStale removes scratch directories under parent whose owning
// process is gone (a run killed with SIGKILL, or a crash), and only those:
// a name that does not parse, an entry that is not a real directory (a
// symbolic link is never followed) or a directory whose owner is alive is
// left alone. It returns what it removed; the error, if any, names the
// first directory it could not remove.
func RemoveStale(parent string) ([]Stale, error) {
	var cands []string
	_, err := layout.ReadDir(parent, false, func(name []byte) error {
		if bytes.HasPrefix(name, []byte(ScratchPrefix)) {
			cands = append(cands, string(name))
		}
		return nil
	})
	if err != nil {
		return nil, errs.New(errs.BadInput, "bench: read directory", parent, err, "give an existing directory you can read and write")
	}
	var removed []Stale
	for _, name := range cands {
		path := filepath.Join(parent, name)
		pid, ok := stalePid(path, name)
		if !ok {
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			return removed, errs.New(errs.Failed, "bench: remove stale scratch directory", path, err, "remove it by hand with rm -rf")
		}
		removed = append(removed, Stale{Path: path, Pid: pid})
	}
	return removed, nil
}

// stalePid decides whether the scratch directory at path (named name) was
// left by a dead run, and returns that run's pid.
func stalePid(path, name string) (int, bool) {
	rest := strings.TrimPrefix(name, ScratchPrefix)
	pidText, _, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return 0, false
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, false // gone, or a link or file that merely looks like ours
	}
	if pid == os.Getpid() {
		return 0, false
	}
	if !alive(pid) {
		return pid, true
	}
	// The pid is in use: ours only if the start time recorded matches.
	recorded := readMarker(path)
	if recorded == "" {
		return 0, false
	}
	if recorded != ownerLine(pid) {
		return pid, true // the pid was recycled by another process
	}
	return 0, false
}

// readMarker reads the owner marker without following a link.
func readMarker(dir string) string {
	fd, err := unix.Open(filepath.Join(dir, markerName), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	buf := make([]byte, 128)
	n, err := unix.Read(fd, buf)
	if err != nil || n <= 0 {
		return ""
	}
	return string(buf[:n])
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
