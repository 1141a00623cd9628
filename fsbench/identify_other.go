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
