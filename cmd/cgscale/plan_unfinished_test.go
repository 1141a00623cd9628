package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/migrate"
)

// An interrupted plan speaks of the plan; an interrupted apply names the
// plan file in the command that finishes it; and plan refuses to start
// while that apply is unfinished, naming the run and its resume command.
func TestPlanInterruptsAndUnfinishedApply(t *testing.T) {
	base := filepath.Join(t.TempDir(), "store")
	if code, _, stderr := runCmd("gen", "--accounts", "300", "--domains", "1", "--flat-fraction", "1", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: %s", stderr)
	}

	// plan interrupted (SIGINT cancels the context)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: os.Getenv}
	if code := run(ctx, e, []string{"plan", "--domain", "example-0001.test", base}); code != 130 ||
		!strings.Contains(errOut.String(), "interrupted: plan "+base) || !strings.Contains(errOut.String(), "run the plan again") ||
		strings.Contains(errOut.String(), "scan") {
		t.Errorf("interrupted plan: exit %d\n%s", code, errOut.String())
	}

	planFile := filepath.Join(t.TempDir(), "plan.json")
	if code, _, stderr := runCmd("plan", "--domain", "example-0001.test", "--out", planFile, base); code != 0 {
		t.Fatalf("plan: %s", stderr)
	}
	p, err := migrate.ReadPlan(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var cnt migrate.ApplyCounters
	_, err = migrate.Apply(stopAfter{context.Background(), &cnt, 80}, p, migrate.ApplyOptions{Batch: 20, Counters: &cnt})
	if errs.KindOf(err) != errs.Interrupted || !strings.Contains(errs.HintOf(err), "cgscale apply --resume "+planFile) {
		t.Fatalf("apply: %v (hint %q), want interrupted with a hint naming %s", err, errs.HintOf(err), planFile)
	}

	code, stdout, stderr := runCmd("plan", "--domain", "example-0001.test", base)
	if code != 5 || !strings.Contains(stderr, "a run of cgscale apply on this store") || !strings.Contains(stderr, "is unfinished") ||
		!strings.Contains(stderr, "finish it first: cgscale apply --resume ") || stdout != "" {
		t.Errorf("plan over an unfinished apply: exit %d, want 5 naming the run\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runCmd("apply", "--resume", planFile); code != 0 {
		t.Fatalf("resume: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCmd("plan", "--domain", "example-0001.test", base); code != 0 {
		t.Errorf("plan after the resume: exit %d %s", code, stderr)
	}
}
