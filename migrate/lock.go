package migrate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/journal"
	"github.com/cgscale/cgscale/layout"
)

// LockFile is the name, in the store base, of the file every changing
// cgscale command locks (flock) for as long as it runs.
const LockFile = ".cgscale.lock"

// StateDir is the directory, in the store base, holding journals and kept
// source trees.
const StateDir = journal.StateDir

// StoreLock is a held lock on a store. Unlock releases it; the kernel
// releases it too when the process dies, so a crash never leaves it stuck.
type StoreLock struct {
	f *os.File
}

// Lock takes the exclusive lock of the store at base without waiting.
// It fails with errs.Refused when another process holds it.
func Lock(base string) (*StoreLock, error) {
	path := filepath.Join(base, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, errs.New(errs.Failed, "open lock file", path, err, "check that the store base is writable")
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, lockErr(path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &StoreLock{f: f}, nil
}

// lockErr describes a failure to lock path: held by another process
// (the refusal names its pid), or another error.
func lockErr(path string, err error) error {
	if errors.Is(err, unix.EWOULDBLOCK) {
		holder, _ := os.ReadFile(path)
		who := strings.TrimSpace(string(holder))
		if who == "" {
			who = "unknown"
		}
		return errs.Errorf(errs.Refused, "lock store", path,
			"wait for the other cgscale run to finish, then retry",
			"another cgscale process (pid %s) is changing this store", who)
	}
	return errs.New(errs.Failed, "lock store", path, err, "")
}

// Blocked returns the refusal that would stop a move of the store at
// base before it started: another run holding the store lock, the server
// running (unless force), an unfinished job. It changes nothing (the
// lock is tested, not taken), so a dry run answers as the move would.
func Blocked(base string, force bool) error {
	path := filepath.Join(base, LockFile)
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		f.Close() // releases the shared lock
		if err != nil {
			return lockErr(path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return errs.New(errs.Failed, "open lock file", path, err, "")
	}
	if !force {
		if err := GuardServer(base); err != nil {
			return err
		}
	}
	return refuseUnfinished(base)
}

// Unlock releases the lock. It is safe to call more than once.
func (l *StoreLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// pidMaxLimit is the highest process id Linux hands out
// (PID_MAX_LIMIT, 2^22); kill(2) would truncate a larger number to
// another process's id.
const pidMaxLimit = 1 << 22

// ServerRunning reports whether the mail server of the store at base runs:
// BASE/ProcessID names a process that exists (signal 0 succeeds, or is
// refused with EPERM because it belongs to another user). A missing or
// empty file, or a process id that no longer runs, means the server is
// stopped. Anything else in the file (not a process id) cannot be
// judged: that is an errs.Refused error naming the file and its content,
// which --force overrides.
func ServerRunning(base string) (pid int, running bool, err error) {
	path := filepath.Join(base, layout.ProcessIDFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, errs.New(errs.Failed, "read", path, err, "")
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return 0, false, nil
	}
	pid, err = strconv.Atoi(text)
	if err != nil || pid <= 0 || pid > pidMaxLimit {
		if len(text) > 40 {
			text = text[:40] + "..."
		}
		return 0, false, errs.Errorf(errs.Refused, "check server", path,
			"check whether the mail server runs; if it is stopped, remove or empty the file, or pass --force",
			"holds %q, not a process id: cannot tell whether the mail server runs", text)
	}
	switch err := unix.Kill(pid, 0); {
	case err == nil, errors.Is(err, unix.EPERM):
		return pid, true, nil
	}
	return pid, false, nil
}

// GuardServer returns a Refused error when the server of base is running.
func GuardServer(base string) error {
	pid, running, err := ServerRunning(base)
	if err != nil {
		return err
	}
	if running {
		return errs.Errorf(errs.Refused, "check server", filepath.Join(base, layout.ProcessIDFile),
			"stop the server (or pause delivery) first; --force overrides this check",
			"the mail server is running (pid %d)", pid)
	}
	return nil
}

func pidString() string { return fmt.Sprint(os.Getpid()) }
