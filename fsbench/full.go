package fsbench

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// opError turns the failure of a benchmark operation into an error that
// names the path; a full volume gets its own message and a Partial kind,
// because the measurements made until then are still good.
func opError(op, path, volume string, err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return errs.New(errs.Partial, op, path, fmt.Errorf("%w (%s)", err, whatIsFull(volume)),
			"the results so far are printed; free space or inodes, or give --sizes/--writers smaller values")
	}
	return errs.New(errs.Failed, op, path, err, "")
}

// whatIsFull says which resource ran out on the volume holding path:
// blocks, inodes, or neither (then a directory index or a quota is full).
func whatIsFull(path string) string {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return "out of space, inodes, or directory index"
	}
	switch {
	case st.Files > 0 && st.Ffree == 0:
		return fmt.Sprintf("out of inodes: all %d are in use", st.Files)
	case st.Bavail == 0:
		return "out of space: no free blocks"
	}
	return fmt.Sprintf("out of space in a directory index or a quota: %d blocks and %d inodes are still free", st.Bavail, st.Ffree)
}
