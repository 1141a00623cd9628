package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/layout"
	"github.com/cgscale/cgscale/migrate"
)

// stopAfter is a context that reports cancellation once n operations are
// done: a kill at an exact point between two renames.
type stopAfter struct {
	context.Context
	cnt *migrate.ApplyCounters
	n   int64
}

func (s stopAfter) Err() error {
	if s.cnt.Done.Load() >= s.n {
		return context.Canceled
	}
	return nil
}

// After an apply stopped half way, scan does not call the store complete
// and clean: a critical finding names the journal and the command that
// finishes the run, and no finding suggests a new plan for the domain the
// run is converting (apply would refuse it, and it would be made from a
// half-converted domain). The suggested command works.
func TestScanReportsUnfinishedApply(t *testing.T) {
	base := filepath.Join(t.TempDir(), "store")
	if code, _, stderr := runCmd("gen", "--accounts", "300", "--domains", "1", "--flat-fraction", "1", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: %s", stderr)
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
	if _, err := migrate.Apply(stopAfter{context.Background(), &cnt, 80}, p, migrate.ApplyOptions{Batch: 20, Counters: &cnt}); errs.KindOf(err) != errs.Interrupted {
		t.Fatalf("apply: %v, want interrupted", err)
	}

	code, out, _ := runCmd("scan", "--max-flat-accounts", "20", base)
	if code != 3 {
		t.Fatalf("scan exits %d, want 3:\n%s", code, out)
	}
	if !strings.Contains(out, "unfinished cgscale run") {
		t.Errorf("the header does not say a run is unfinished:\n%s", out)
	}
	_, jout, _ := runCmd("scan", "--json", "--max-flat-accounts", "20", base)
	var rep layout.Report
	if err := json.Unmarshal([]byte(jout), &rep); err != nil {
		t.Fatal(err)
	}
	var resume string
	for _, f := range rep.Findings {
		switch {
		case f.ID == layout.RuleUnfinishedJob:
			if f.Severity != layout.Critical || !strings.HasPrefix(f.Next, "cgscale apply --resume ") || !strings.Contains(f.Subject, ".cgscale/journal/") {
				t.Errorf("unfinished-job finding: %+v", f)
			}
			resume = f.Next
		case strings.HasPrefix(f.Next, "cgscale plan"):
			t.Errorf("%s suggests a new plan while the apply is unfinished: %s", f.ID, f.Next)
		}
	}
	if resume == "" {
		t.Fatalf("no %s finding: %+v", layout.RuleUnfinishedJob, rep.Findings)
	}
	words := shellWords(t, resume)
	if code, _, stderr := runCmd(words[1:]...); code != 0 {
		t.Fatalf("%q exits %d: %s", resume, code, stderr)
	}
	code, out, _ = runCmd("scan", base)
	if code != 0 || strings.Contains(out, layout.RuleUnfinishedJob) {
		t.Errorf("after the resume, scan exits %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(base, "Domains", "example-0001.test", "a.sub")); err != nil {
		t.Errorf("the resume did not convert the domain: %v", err)
	}
}

// A move killed between its swap and the removal of the old tree leaves a
// full copy of the domain under a temporary name and an unfinished
// journal; a temporary directory no journal explains is reported too.
func TestScanReportsUnfinishedMoveAndLeftovers(t *testing.T) {
	base := filepath.Join(t.TempDir(), "store")
	if code, _, stderr := runCmd("gen", "--accounts", "40", "--domains", "2", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: %s", stderr)
	}
	src := filepath.Join(base, "Domains", "example-0001.test")
	old := filepath.Join(base, "Domains", ".cgscale-20260101T000000Z-1-0.old")
	orphan := filepath.Join(base, "Accounts", ".cgscale-20250101T000000Z-9-3")
	for _, d := range []string{filepath.Join(old, "x.macnt"), orphan} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	jdir := filepath.Join(base, ".cgscale", "journal")
	if err := os.MkdirAll(jdir, 0o700); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range []map[string]any{
		{"seq": 1, "time": "2026-01-01T00:00:00Z", "kind": "job", "step": "begin", "note": "move"},
		{"seq": 2, "time": "2026-01-01T00:00:01Z", "op": 0, "kind": "move", "step": "begin", "src": src, "dst": "/mnt/vol/Domains/example-0001.test", "temp": ".cgscale-20260101T000000Z-1-0"},
		{"seq": 3, "time": "2026-01-01T00:00:02Z", "op": 0, "kind": "move", "step": "swapped"},
	} {
		b, _ := json.Marshal(r)
		lines = append(lines, string(b))
	}
	journal := filepath.Join(jdir, "20260101T000000Z-1.jsonl")
	if err := os.WriteFile(journal, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, out, _ := runCmd("scan", "--json", base)
	var rep layout.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]layout.Finding{}
	for _, f := range rep.Findings {
		got[f.ID+" "+f.Subject] = f
	}
	if f, ok := got[layout.RuleUnfinishedJob+" "+journal]; !ok || f.Severity != layout.Critical || !strings.HasPrefix(f.Next, "cgscale move --resume "+base) || !strings.Contains(f.Evidence, src) {
		t.Errorf("unfinished move: %+v (all: %+v)", f, rep.Findings)
	}
	if f, ok := got[layout.RuleLeftover+" "+old]; !ok || !strings.HasPrefix(f.Next, "cgscale move --resume ") || !strings.Contains(f.Evidence, journal) {
		t.Errorf("leftover of the move: %+v (all: %+v)", f, rep.Findings)
	}
	if f, ok := got[layout.RuleLeftover+" "+orphan]; !ok || !strings.Contains(f.Next, "rm -rf") {
		t.Errorf("leftover no journal explains: %+v (all: %+v)", f, rep.Findings)
	}
	for _, d := range rep.Domains {
		if strings.HasPrefix(d.Name, ".cgscale") {
			t.Errorf("a leftover was counted as a domain: %+v", d)
		}
	}
}
