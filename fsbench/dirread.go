package fsbench

import (
	"github.com/karrick/godirwalk"
)

// readDir calls fn with the name of every entry of dir (not "." or "..")
// in the order the filesystem returns them. With types, it also asks for
// each entry's type, which costs one lstat per entry where readdir does
// not say (DT_UNKNOWN), exactly as a store walk would pay it. It returns
// the number of entries read. This is the package's only directory reader.
func readDir(dir string, types bool, fn func(name string) error) (int, error) {
	sc, err := godirwalk.NewScanner(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for sc.Scan() {
		if types {
			if _, err := sc.Dirent(); err != nil {
				sc.Close()
				return n, err
			}
		}
		n++
		if fn != nil {
			if err := fn(sc.Name()); err != nil {
				sc.Close()
				return n, err
			}
		}
	}
	return n, sc.Err()
}
