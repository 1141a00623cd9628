// Package durable writes files and directories so that they survive a
// crash or power cut once its functions return: data is synced, and so is
// every directory whose entries changed.
package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SyncDir flushes the entries of directory dir to disk.
func SyncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open directory", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return &fs.PathError{Op: "sync directory", Path: dir, Err: err}
	}
	return nil
}

// MkdirAll is os.MkdirAll made durable: it creates the missing
// directories of path one level at a time, outermost first, and syncs the
// parent of each one it created, so the new entries are on disk when it
// returns. Directories that exist already are left as they are.
func MkdirAll(path string, perm fs.FileMode) error {
	return mkdirAll(path, perm, SyncDir)
}

func mkdirAll(path string, perm fs.FileMode, sync func(string) error) error {
	path = filepath.Clean(path)
	var missing []string
	for p := path; ; {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: p, Err: unix.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		if err := os.Mkdir(p, perm); err != nil {
			if errors.Is(err, fs.ErrExist) {
				if fi, serr := os.Stat(p); serr == nil && fi.IsDir() {
					continue // made by someone else meanwhile: theirs to sync
				}
			}
			return err
		}
		if err := sync(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile replaces path with data, atomically and durably: a temporary
// file in the same directory is written, given mode perm, synced and
// renamed over path, then the directory is synced. On failure the
// temporary file is removed and path is as it was.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = SyncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
