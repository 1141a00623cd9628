package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/errs"
)

// D12: an interrupted run prints one line: what was stopped, where it
// stood and the command's own hint; never the context's words, never an
// empty cause.
func TestD12_InterruptedIsOneLine(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{errs.New(errs.Interrupted, "move", "/s/Domains/a", fmt.Errorf("stopped in the copy, 41%% done: %w", context.Canceled), "run `cgscale move --resume /s` to finish"),
			"cgscale: interrupted: move /s/Domains/a (stopped in the copy, 41% done); run `cgscale move --resume /s` to finish\n"},
		{errs.New(errs.Interrupted, "gen", "/st", context.Canceled, "remove it and run gen again"),
			"cgscale: interrupted: gen /st; remove it and run gen again\n"},
		{errs.New(errs.Interrupted, "apply", "/s", errs.New(errs.Interrupted, "move", "/s/Domains/a", context.Canceled, ""), "run `cgscale apply --resume PLAN`"),
			"cgscale: interrupted: apply /s: move /s/Domains/a; run `cgscale apply --resume PLAN`\n"},
		{errs.New(errs.Failed, "bench", "/v", fmt.Errorf("write: %w", context.Canceled), ""),
			"cgscale: interrupted: bench /v (write); run the same command again to finish\n"},
		{context.Canceled, "cgscale: interrupted; run the same command again to finish\n"},
		{fmt.Errorf("scan: %w", context.Canceled), "cgscale: interrupted: scan; run the same command again to finish\n"},
	} {
		var b bytes.Buffer
		report(&b, c.err)
		if b.String() != c.want {
			t.Errorf("report(%v) =\n%q\nwant\n%q", c.err, b.String(), c.want)
		}
		if strings.Contains(b.String(), "context canceled") || strings.Contains(b.String(), ": ;") || strings.Contains(b.String(), "()") {
			t.Errorf("report(%v) leaks or leaves an empty cause: %q", c.err, b.String())
		}
		if exitCode(c.err) != 130 {
			t.Errorf("exit code of %v = %d, want 130", c.err, exitCode(c.err))
		}
	}
	// Other kinds keep their two lines.
	var b bytes.Buffer
	report(&b, errs.New(errs.Failed, "copy", "/a/b", errors.New("no space left on device"), "free space"))
	if b.String() != "cgscale: copy /a/b: no space left on device\nhint: free space\n" {
		t.Errorf("failed error: %q", b.String())
	}
}

// Every kind of error that is not an interruption prints its hint on a
// line of its own, attention included.
func TestReportPrintsHintForEveryKind(t *testing.T) {
	for _, k := range []errs.Kind{errs.Failed, errs.Usage, errs.BadInput, errs.Refused, errs.Partial, errs.Attention} {
		var b bytes.Buffer
		report(&b, errs.New(k, "scan", "/s", errors.New("2 findings need attention"), "run the next line of each finding"))
		want := "cgscale: scan /s: 2 findings need attention\nhint: run the next line of each finding\n"
		if b.String() != want {
			t.Errorf("kind %v: report printed %q, want %q", k, b.String(), want)
		}
	}
}
