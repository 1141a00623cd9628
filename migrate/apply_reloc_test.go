package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/internal/testfs"
	"github.com/cgscale/cgscale/layout"
)

// relocPlan plans relocating each of sources (relative to base) to vol,
// and with convert the conversion of flat.test to prefix:1, through the
// plan file as the command does.
func relocPlan(t *testing.T, base, vol string, convert bool, sources ...string) *Plan {
	t.Helper()
	req := PlanRequest{Domains: map[string]layout.Scheme{}}
	if convert {
		s, _ := layout.ParseScheme("prefix:1")
		req.Domains["flat.test"] = s
	}
	for _, src := range sources {
		req.Relocations = append(req.Relocations, Relocation{Source: src, Volume: vol})
	}
	p, _, err := BuildPlan(context.Background(), base, req, time.Now())
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if b := p.Blocking(); len(b) > 0 {
		t.Fatalf("plan has blocking problems: %+v", b)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	must(t, WritePlan(p, path, nil))
	q, err := ReadPlan(path)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return q
}

// A store on ext4 relocated to xfs through a plan: the plan carries the
// move engine's pre-flight figures, apply converts first and then moves
// both a plain domain and the converted one, and undo refuses (changing
// nothing) once a relocation has swapped.
func TestApplyRelocationExt4ToXfs(t *testing.T) {
	needRoot(t)
	base := makeStore(t, testfs.Scratch(t, "ext4"), 90)
	other := filepath.Join(base, "Domains", "other.test")
	randomFiles(t, filepath.Join(other, "bob.macnt"), 5, 20000)
	keep := pristine(t, other)
	vol := testfs.Scratch(t, "xfs")
	p := relocPlan(t, base, vol, true, "Domains/other.test", "Domains/flat.test")

	if len(p.Relocations) != 2 {
		t.Fatalf("relocations = %+v", p.Relocations)
	}
	r := p.Relocations[0]
	if r.Dest != filepath.Join(vol, "Domains", "other.test") || r.Files != 5 || r.Bytes != 5*20000 ||
		r.NeedBytes <= r.Bytes || r.FreeBytes <= 0 || r.FSType != "xfs" || r.Inodes < 7 {
		t.Fatalf("pre-flight figures of other.test: %+v", r)
	}
	var sum strings.Builder
	must(t, WriteSummary(&sum, p))
	for _, want := range []string{"Domains/other.test: relocate to " + vol, "to copy:               5 files, 100000 bytes", "target free:", "(xfs)"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	if last := p.Ops[len(p.Ops)-1]; last.Op != OpRelocate || p.Ops[len(p.Ops)-2].Op != OpRelocate || p.firstRelocation() != len(p.Ops)-2 {
		t.Fatalf("relocations are not the last operations")
	}

	res, err := Apply(context.Background(), p, ApplyOptions{Move: MoveOptions{Jobs: 2}})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if res.Relocated != 2 || res.Relocations != 2 || len(res.Moves) != 2 || res.Rescan == nil || res.Rescan.Checked != 90 {
		t.Fatalf("result = %+v, rescan %+v", res, res.Rescan)
	}
	assertLinked(t, other, filepath.Join(vol, "Domains", "other.test"))
	sameTree(t, keep, other)
	assertLinked(t, filepath.Join(base, "Domains", "flat.test"), filepath.Join(vol, "Domains", "flat.test"))
	for name, rels := range accountsAt(t, base, "flat.test") {
		if len(rels) != 1 || !strings.HasPrefix(rels[0], strings.ToLower(name[:1])+".sub/") {
			t.Errorf("%s at %v", name, rels)
		}
	}
	assertNoTemp(t, filepath.Join(base, "Domains"))
	if open, _ := Unfinished(base); len(open) != 0 {
		t.Fatalf("unfinished journals after apply: %v", open)
	}
	recs, err := ReadJournal(res.Journal)
	must(t, err)
	for _, i := range []int{len(p.Ops) - 2, len(p.Ops) - 1} {
		if last, _ := lastStep(recs, i, kindMove); last.Step != StepDone {
			t.Errorf("operation %d: last journal step %q, want done", i, last.Step)
		}
	}

	before := manifest(t, base)
	_, err = UndoApply(context.Background(), p, ApplyOptions{})
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "undo copies no data back") {
		t.Fatalf("undo after relocation: %v, want a refusal", err)
	}
	if got := manifest(t, base); got != before {
		t.Fatalf("a refused undo changed the store:\n%s", firstDiff(before, got))
	}
	sameTree(t, keep, other)
}

// killedApply runs apply of p in its own process and kills it with
// SIGKILL as the relocation reaches phase.
func killedApply(t *testing.T, p *Plan, phase string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.json")
	must(t, WritePlan(p, path, nil))
	out, err := helper(t, []string{"CGSCALE_MIGRATE_HELPER=apply", "PLAN=" + path, "CGSCALE_DIE_AT=" + phase}, 0).CombinedOutput()
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("apply was not killed at %s: %v\n%s", phase, err, out)
	}
}

// apply --resume finishes a relocation killed before or after its swap;
// apply --undo rolls back one killed before its swap (renames included)
// and refuses one killed after it, changing nothing.
func TestApplyRelocationKilled(t *testing.T) {
	needRoot(t)
	for _, phase := range []string{"copy", "swap", "remove"} {
		t.Run(phase, func(t *testing.T) {
			for _, undo := range []bool{false, true} {
				base := makeStore(t, testfs.Scratch(t, "ext4"), 30)
				other := filepath.Join(base, "Domains", "other.test")
				randomFiles(t, filepath.Join(other, "bob.macnt"), 3, 5000)
				keep := pristine(t, other)
				before := manifest(t, base)
				vol := testfs.Scratch(t, "xfs")
				p := relocPlan(t, base, vol, true, "Domains/other.test")
				killedApply(t, p, phase)
				if open, _ := Unfinished(base); len(open) != 1 {
					t.Fatalf("unfinished journals: %v", open)
				}
				if _, err := Apply(context.Background(), p, ApplyOptions{}); errs.KindOf(err) != errs.Refused {
					t.Fatalf("a new apply over the killed one: %v, want refused", err)
				}
				if _, err := Resume(context.Background(), base, false, MoveOptions{}); errs.KindOf(err) != errs.Refused ||
					!strings.Contains(errs.HintOf(err), "cgscale apply --resume "+base) || strings.Contains(errs.HintOf(err), "PLAN") {
					t.Fatalf("move --resume of an apply: %v (hint %q), want a refusal naming apply and the plan copy's path", err, errs.HintOf(err))
				}
				if undo {
					_, err := UndoApply(context.Background(), p, ApplyOptions{})
					if phase == "remove" {
						if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "undo copies no data back") {
							t.Fatalf("undo after the swap: %v, want refused", err)
						}
						continue // and resume below finishes it
					}
					if err != nil {
						t.Fatalf("undo: %v", err)
					}
					if got := manifest(t, base); got != before {
						t.Fatalf("undo did not restore the store:\n%s", firstDiff(before, got))
					}
					if _, err := os.Lstat(filepath.Join(vol, "Domains")); !os.IsNotExist(err) {
						t.Errorf("undo left the partial copy's directories on the target: %v", err)
					}
					continue
				}
				res, err := ResumeApply(context.Background(), p, ApplyOptions{})
				if err != nil {
					t.Fatalf("resume: %v", err)
				}
				if res.Relocated != 1 || res.Rescan == nil || res.Rescan.Checked != 30 {
					t.Fatalf("resume result = %+v", res)
				}
				assertLinked(t, other, filepath.Join(vol, "Domains", "other.test"))
				sameTree(t, keep, other)
				assertNoTemp(t, filepath.Join(base, "Domains"))
				if open, _ := Unfinished(base); len(open) != 0 {
					t.Fatalf("unfinished after resume: %v", open)
				}
			}
		})
	}
}

// Planning a relocation that the move would refuse (same filesystem,
// missing target) gives a blocking problem with the engine's reason.
func TestPlanRelocationProblems(t *testing.T) {
	base := makeStore(t, testfs.Scratch(t, "ext4"), 3)
	same := filepath.Join(filepath.Dir(base), "same")
	must(t, os.Mkdir(same, 0o755))
	for vol, want := range map[string]string{same: "same filesystem", "/nonexistent-volume": "nonexistent-volume"} {
		p, _, err := BuildPlan(context.Background(), base, PlanRequest{Relocations: []Relocation{{Source: "Domains/other.test", Volume: vol}}}, time.Now())
		must(t, err)
		b := p.Blocking()
		if len(b) == 0 || !strings.Contains(b[0].Path+" "+b[0].Detail, want) {
			t.Errorf("relocation to %s: blocking problems %+v, want one naming %q", vol, b, want)
		}
	}
}
