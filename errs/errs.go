// Package errs is the one way cgscale describes a failure: what was being
// done, to which path, what went wrong, what kind of failure it is (the
// command maps kinds to exit codes in one place) and what to do next.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies a failure for the exit code and for callers that must
// tell a refusal from a broken disk.
type Kind int

const (
	// Failed: the operation could not be carried out (I/O error, bad data).
	Failed Kind = iota
	// Usage: the command line is wrong.
	Usage
	// BadInput: an argument names something that is missing or of the wrong kind.
	BadInput
	// Refused: a safety check stopped the operation before any change.
	Refused
	// Partial: the work finished, but parts of it could not be done or read.
	Partial
	// Interrupted: a signal or a cancelled context stopped the work.
	Interrupted
	// Attention: the work finished and found something that needs action
	// (scan findings, tuning that falls short).
	Attention
)

func (k Kind) String() string {
	switch k {
	case Usage:
		return "usage"
	case BadInput:
		return "bad input"
	case Refused:
		return "refused"
	case Partial:
		return "partial"
	case Interrupted:
		return "interrupted"
	case Attention:
		return "attention"
	}
	return "failed"
}

// E is a failure with its context. Any field may be empty.
type E struct {
	Kind Kind
	Op   string // what was being done: "scan", "read directory", "rename"
	Path string // the path it was done to
	Err  error  // the cause
	Hint string // one line: what the administrator can do next
}

func (e *E) Error() string {
	msg := ""
	if e.Op != "" {
		msg = e.Op
	}
	if e.Path != "" {
		if msg != "" {
			msg += " "
		}
		msg += e.Path
	}
	if e.Err != nil {
		if msg != "" {
			msg += ": "
		}
		msg += e.Err.Error()
	}
	if msg == "" {
		msg = e.Kind.String()
	}
	return msg
}

func (e *E) Unwrap() error { return e.Err }

// New builds an *E. cause may be nil; format and args make the cause text
// when cause is nil and format is not empty.
func New(kind Kind, op, path string, cause error, hint string) *E {
	return &E{Kind: kind, Op: op, Path: path, Err: cause, Hint: hint}
}

// Errorf is a shorthand for a cause made of text.
func Errorf(kind Kind, op, path, hint, format string, args ...any) *E {
	return &E{Kind: kind, Op: op, Path: path, Err: fmt.Errorf(format, args...), Hint: hint}
}

// KindOf returns the kind of the outermost *E in err's chain, or Failed.
func KindOf(err error) Kind {
	var e *E
	if errors.As(err, &e) {
		return e.Kind
	}
	return Failed
}

// HintOf returns the first hint found in err's chain.
func HintOf(err error) string {
	for err != nil {
		var e *E
		if !errors.As(err, &e) {
			return ""
		}
		if e.Hint != "" {
			return e.Hint
		}
		err = e.Err
	}
	return ""
}
