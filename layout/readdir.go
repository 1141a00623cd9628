package layout

import (
	"errors"
	"syscall"
)

// ReadDir reads the directory at path with the walker's own reader and
// calls fn with the name of every entry ("." and ".." excepted), in the
// order the filesystem returns them; name is only valid during the call.
// With types set, an entry the filesystem gives no type for (DT_UNKNOWN)
// costs one lstat, exactly as it does in a walk; an entry removed in the
// meantime is then skipped. It returns the number of entries passed to fn.
//
// It exists so that other packages (the benchmark, its clean-up) read
// directories the way scan does instead of bringing a reader of their own.
func ReadDir(path string, types bool, fn func(name []byte) error) (int, error) {
	h, err := openDir(nil, "", path, true)
	if err != nil {
		return 0, err
	}
	defer h.close()
	n := 0
	err = h.each(make([]byte, dirBufSize), func(name []byte, typ uint8) error {
		if types && typ == typeUnknown {
			if _, err := h.lstat(string(name)); err != nil {
				if errors.Is(err, syscall.ENOENT) {
					return nil
				}
				return err
			}
		}
		n++
		if fn != nil {
			return fn(name)
		}
		return nil
	})
	return n, err
}
