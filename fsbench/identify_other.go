//go:build !linux

package fsbench

import (
	"errors"

	"github.com/cgscale/cgscale/errs"
)

// Identify is implemented for Linux only.
func Identify(path string, opts IdentifyOptions) (Identity, error) {
	return Identity{Path: path, Type: "unknown"}, errs.New(errs.Failed, "identify filesystem of", path,
		errors.New("filesystem identity is read on Linux only"), "")
}

// dirIndexed reports whether a directory carries the ext hashed index
// flag; the flag is read on Linux only, so elsewhere it is never seen.
func dirIndexed(path string) bool { return false }
