//go:build !linux

package layout

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/karrick/godirwalk"
)

// Directory reading outside Linux, with godirwalk's Scanner: it streams
// entries and reports their types without a stat each. Unlike the Linux
// reader (dirent_linux.go) it skips entries whose inode number is 0; on
// these platforms readdir does not return such entries for live files.
// This file and dirent_linux.go are the only code in the project that
// reads directory entries.

const (
	typeUnknown uint8 = iota
	typeDir
	typeFile
	typeLink
	typeOther
)

const dirBufSize = 0 // the Scanner keeps its own buffer

// dirHandle is a directory to read; outside Linux it is known by its path.
type dirHandle struct {
	path string
}

func openDir(parent *dirHandle, name, path string, follow bool) (*dirHandle, error) {
	if parent != nil {
		path = filepath.Join(parent.path, name)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, underlying(err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		if !follow {
			return nil, syscall.ELOOP
		}
		if fi, err = os.Stat(path); err != nil {
			return nil, underlying(err)
		}
	}
	if !fi.IsDir() {
		return nil, syscall.ENOTDIR
	}
	return &dirHandle{path: path}, nil
}

func underlying(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (h *dirHandle) close() {}

func (h *dirHandle) each(_ []byte, fn func(name []byte, typ uint8) error) error {
	s, err := godirwalk.NewScanner(h.path)
	if err != nil {
		return underlying(err)
	}
	var name []byte
	for s.Scan() {
		d, err := s.Dirent()
		if err != nil {
			return err
		}
		typ := typeOther
		switch {
		case d.IsSymlink():
			typ = typeLink
		case d.IsDir():
			typ = typeDir
		case d.IsRegular():
			typ = typeFile
		}
		name = append(name[:0], d.Name()...)
		if err := fn(name, typ); err != nil {
			return err
		}
	}
	return s.Err()
}

type fileInfo struct {
	typ       uint8
	dev, ino  uint64
	size      int64
	allocated int64
}

func fromFileInfo(fi os.FileInfo) fileInfo {
	out := fileInfo{size: fi.Size(), allocated: fi.Size(), typ: typeOther}
	switch m := fi.Mode(); {
	case m&os.ModeSymlink != 0:
		out.typ = typeLink
	case m.IsDir():
		out.typ = typeDir
	case m.IsRegular():
		out.typ = typeFile
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.dev, out.ino = uint64(st.Dev), uint64(st.Ino)
		out.allocated = int64(st.Blocks) * 512
	}
	return out
}

func (h *dirHandle) lstat(name string) (fileInfo, error) {
	fi, err := os.Lstat(filepath.Join(h.path, name))
	if err != nil {
		return fileInfo{}, err
	}
	return fromFileInfo(fi), nil
}

func (h *dirHandle) stat(name string) (fileInfo, error) {
	fi, err := os.Stat(filepath.Join(h.path, name))
	if err != nil {
		return fileInfo{}, err
	}
	return fromFileInfo(fi), nil
}

func (h *dirHandle) self() (fileInfo, error) {
	fi, err := os.Stat(h.path)
	if err != nil {
		return fileInfo{}, err
	}
	return fromFileInfo(fi), nil
}

func (h *dirHandle) readlink(name string) (string, error) {
	return os.Readlink(filepath.Join(h.path, name))
}

// fsidOf is unknown outside Linux: recorded relocations are then compared
// by device.
func fsidOf(string) string { return "" }

func devName(dev uint64) string { return strconv.FormatUint(dev, 10) }
