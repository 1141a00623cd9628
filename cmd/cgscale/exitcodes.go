package main

import (
	"context"
	"errors"

	"github.com/cgscale/cgscale/errs"
)

// The one place where failures become exit codes. `cgscale help exit-codes`
// prints this table; the README copies it.
var exitCodes = []struct {
	code int
	kind errs.Kind
	text string
}{
	{0, -1, "success: the work is done and nothing needs attention"},
	{1, errs.Failed, "failure: an operation could not be carried out (I/O error, corrupt input)"},
	{2, errs.Usage, "usage: wrong flags or arguments"},
	{2, errs.BadInput, "bad input: a path is missing, of the wrong kind, or not a store"},
	{3, errs.Attention, "attention: the report has findings or settings that need action"},
	{4, errs.Partial, "partial: the work finished but parts could not be read or done"},
	{5, errs.Refused, "refused: a safety check stopped the work before any change"},
	{130, errs.Interrupted, "interrupted: stopped by a signal; rerun (or --resume) to finish"},
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	kind := errs.KindOf(err)
	if errors.Is(err, context.Canceled) {
		kind = errs.Interrupted
	}
	for _, c := range exitCodes {
		if c.kind == kind {
			return c.code
		}
	}
	return 1
}
