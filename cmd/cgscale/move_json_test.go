package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/internal/rawjson"
	"github.com/cgscale/cgscale/internal/testfs"
	"github.com/cgscale/cgscale/layout"
	"github.com/cgscale/cgscale/migrate"
)

// moveDoc is the part of a cgscale.move/v1 document the tests read.
type moveDoc struct {
	Schema string `json:"schema"`
	DryRun bool   `json:"dry_run"`
	Plan   *struct {
		Source string `json:"source"`
		Dest   string `json:"dest"`
		Link   string `json:"link"`
	} `json:"plan"`
	Outcome string `json:"outcome"`
	Journal string `json:"journal"`
	Error   string `json:"error"`
}

// applyDoc is the part of a cgscale.apply/v1 document the tests read.
type applyDoc struct {
	Schema  string `json:"schema"`
	Base    string `json:"base"`
	Mode    string `json:"mode"`
	Journal string `json:"journal"`
	Renamed int    `json:"renamed"`
	Error   string `json:"error"`
}

// decodeDoc reads one JSON document (strings kept byte for byte) and
// fails unless stdout holds exactly that.
func decodeDoc(t *testing.T, out string, v any) {
	t.Helper()
	if !json.Valid([]byte(out)) {
		t.Fatalf("stdout is not one JSON document:\n%s", out)
	}
	if err := rawjson.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
}

// move --json and apply --json keep path bytes that are not UTF-8,
// written {"b64": ...} as scan does, instead of replacing them with
// U+FFFD; scan reads the move's journal, which keeps them too.
func TestMoveApplyJSONKeepPathBytes(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "st\xffore")
	if code, _, stderr := runCmd("gen", "--accounts", "40", "--domains", "2", "--flat-fraction", "1", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: %s", stderr)
	}
	dom := filepath.Join(base, "Domains", "bad\xfe.test")
	if err := os.Rename(filepath.Join(base, "Domains", "example-0001.test"), dom); err != nil {
		t.Fatal(err)
	}
	vol := testfs.Scratch(t, "xfs")
	// a relative link leading out of the domain, its name not UTF-8: the
	// dry run lists it and the move rewrites it, both by its bytes
	if err := os.Symlink("../example-0002.test", filepath.Join(dom, "out\xfd")); err != nil {
		t.Fatal(err)
	}
	var links struct {
		Plan struct {
			Totals struct {
				OutsideLinkList []struct {
					Path, Text, Target string
				} `json:"outside_link_list"`
			} `json:"totals"`
		} `json:"plan"`
		Copy struct {
			RewrittenLinks []struct {
				Path, From, To string
			} `json:"rewritten_links"`
		} `json:"copy"`
	}
	code, out, stderr := runCmd("move", "--json", "--dry-run", dom, vol)
	decodeDoc(t, out, &links)
	if l := links.Plan.Totals.OutsideLinkList; code != 5 || len(l) != 1 || l[0].Path != filepath.Join(dom, "out\xfd") || l[0].Target != filepath.Join(base, "Domains", "example-0002.test") {
		t.Errorf("dry run exits %d, lists the outward links as %+v: %s", code, l, stderr)
	}

	code, out, stderr = runCmd("move", "--json", "--rewrite-relative-links", dom, vol)
	if code != 0 {
		t.Fatalf("move exits %d: %s\n%s", code, stderr, out)
	}
	decodeDoc(t, out, &links)
	if l := links.Copy.RewrittenLinks; len(l) != 1 || l[0].Path != "out\xfd" || l[0].To != filepath.Join(base, "Domains", "example-0002.test") {
		t.Errorf("the move reports the rewritten links as %+v", l)
	}
	if strings.Contains(out, "\ufffd") || !strings.Contains(out, `"b64"`) {
		t.Errorf("move --json:\n%s", out)
	}
	var m moveDoc
	decodeDoc(t, out, &m)
	if m.Outcome != "moved" || m.Plan == nil || m.Plan.Source != dom || m.Plan.Dest != filepath.Join(vol, "Domains", "bad\xfe.test") ||
		m.Plan.Link != m.Plan.Dest || !strings.HasPrefix(m.Journal, base+"/") || m.Error != "" {
		t.Errorf("move --json read back as %+v", m)
	}
	if text, err := os.Readlink(dom); err != nil || text != m.Plan.Link {
		t.Errorf("link at %q: %q %v, document says %q", dom, text, err, m.Plan.Link)
	}

	// scan reads the journal the move wrote and finds the link it made.
	code, out, stderr = runCmd("scan", "--json", base)
	var r layout.Report
	if err := rawjson.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("scan exits %d: %v\n%s", code, err, stderr)
	}
	found := false
	for _, rel := range r.Relocations {
		if rel.Link == dom && rel.Recorded != nil && rel.Recorded.Src == dom && rel.Recorded.Dst == m.Plan.Dest && !rel.Moved {
			found = true
		}
	}
	if !found {
		t.Errorf("scan finds no recorded relocation of %q: %+v", dom, r.Relocations)
	}

	plan := filepath.Join(root, "plan.json")
	if code, out, stderr := runCmd("plan", "--domain", "example-0002.test", "--out", plan, base); code != 0 {
		t.Fatalf("plan exits %d: %s%s", code, out, stderr)
	}
	code, out, stderr = runCmd("apply", "--json", plan)
	if code != 0 {
		t.Fatalf("apply exits %d: %s\n%s", code, stderr, out)
	}
	if strings.Contains(out, "\ufffd") || !strings.Contains(out, `"b64"`) {
		t.Errorf("apply --json:\n%s", out)
	}
	var a applyDoc
	decodeDoc(t, out, &a)
	if a.Schema != "cgscale.apply/v1" || a.Base != base || a.Mode != "apply" || !strings.HasPrefix(a.Journal, base+"/") || a.Renamed == 0 || a.Error != "" {
		t.Errorf("apply --json read back as %+v", a)
	}
}

// With --json, a move that fails before it has a plan (usage, a missing
// SRC or target, the store lock held, the server running, nothing to
// resume or abort) prints a cgscale.move/v1 document that carries the
// error, and a refusal found after planning carries it too. The exit
// code and the text on stderr are those of the same run without --json,
// which prints nothing on stdout.
func TestMoveJSONFailures(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "store")
	if code, _, stderr := runCmd("gen", "--accounts", "10", "--domains", "2", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: %s", stderr)
	}
	dom := filepath.Join(base, "Domains", "example-0001.test")
	vol := testfs.Scratch(t, "tmpfs")
	pidFile := filepath.Join(base, "ProcessID")

	// unfinished leaves an interrupted job in the store's journal.
	unfinished := func() func() {
		j, err := migrate.CreateJournal(base)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Append(migrate.Record{Kind: "job", Step: migrate.StepBegin, Note: "move"}); err != nil {
			t.Fatal(err)
		}
		j.Close()
		// One name for both runs, so that their messages match.
		fixed := filepath.Join(filepath.Dir(j.Path), "20260101T000000000000000Z-1.jsonl")
		if err := os.Rename(j.Path, fixed); err != nil {
			t.Fatal(err)
		}
		return func() { os.Remove(fixed) }
	}
	taken := filepath.Join(vol, "Domains", "example-0001.test")

	for _, c := range []struct {
		name    string
		args    []string
		setup   func() func()
		code    int
		outcome string
		dry     bool
		plan    bool // the document holds a plan
		err     string
	}{
		{name: "usage", args: []string{"--verify=sometimes", dom, vol}, code: 2, outcome: "not started", err: "not a mode"},
		{name: "one argument", args: []string{dom}, code: 2, outcome: "not started", err: "needs SRC and VOLUME_DIR"},
		{name: "missing source", args: []string{filepath.Join(base, "Domains", "nosuch.test"), vol}, code: 2, outcome: "not started", err: "nosuch.test"},
		{name: "missing target", args: []string{dom, filepath.Join(vol, "nosuch")}, code: 2, outcome: "not started", err: "nosuch"},
		{name: "missing source, dry run", args: []string{"--dry-run", filepath.Join(base, "Domains", "nosuch.test"), vol},
			code: 2, outcome: "dry run", dry: true, err: "nosuch.test"},
		{name: "lock held", args: []string{dom, vol}, setup: func() func() {
			l, err := migrate.Lock(base)
			if err != nil {
				t.Fatal(err)
			}
			return l.Unlock
		}, code: 5, outcome: "not started", err: "another cgscale process"},
		{name: "server running", args: []string{dom, vol}, setup: func() func() {
			if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return func() { os.Remove(pidFile) }
		}, code: 5, outcome: "not started", err: "server is running"},
		{name: "server running, dry run", args: []string{"--dry-run", dom, vol}, setup: func() func() {
			if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return func() { os.Remove(pidFile) }
		}, code: 5, outcome: "dry run", dry: true, plan: true, err: "server is running"},
		{name: "lock held, dry run", args: []string{"--dry-run", dom, vol}, setup: func() func() {
			l, err := migrate.Lock(base)
			if err != nil {
				t.Fatal(err)
			}
			return l.Unlock
		}, code: 5, outcome: "dry run", dry: true, plan: true, err: "another cgscale process"},
		{name: "unfinished job, dry run", args: []string{"--dry-run", dom, vol}, setup: unfinished,
			code: 5, outcome: "dry run", dry: true, plan: true, err: "interrupted"},
		// The interrupted move's own copy at the target: the dry run
		// names the unfinished job (what to run), not the copy in the way.
		{name: "unfinished job, its copy at the target, dry run", args: []string{"--dry-run", dom, vol}, setup: func() func() {
			if err := os.MkdirAll(taken, 0o755); err != nil {
				t.Fatal(err)
			}
			undo := unfinished()
			return func() { undo(); os.RemoveAll(taken) }
		}, code: 5, outcome: "dry run", dry: true, err: "interrupted"},
		{name: "nothing to resume", args: []string{"--resume", base}, code: 5, outcome: "not started", err: "nothing to resume"},
		{name: "nothing to abort", args: []string{"--abort", base}, code: 5, outcome: "not started", err: "nothing to abort"},
		{name: "no store base", args: []string{"--resume", filepath.Join(root, "nostore")}, code: 2, outcome: "not started", err: "no store base here"},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := func(json bool) (int, string, string) {
				if c.setup != nil {
					defer c.setup()()
				}
				args := append([]string{"move"}, c.args...)
				if json {
					args = append([]string{"move", "--json"}, c.args...)
				}
				return runCmd(args...)
			}
			code, out, stderr := run(false)
			jcode, jout, jstderr := run(true)
			if code != c.code || jcode != c.code {
				t.Errorf("exit %d, with --json %d; want %d", code, jcode, c.code)
			}
			// Warnings go into the document with --json, not to stderr.
			stderr = dropWarnings(stderr)
			if stderr != jstderr || !strings.HasPrefix(jstderr, "cgscale: ") || !strings.Contains(jstderr, c.err) {
				t.Errorf("stderr %q, with --json %q; want the same, naming %q", stderr, jstderr, c.err)
			}
			if !c.plan && out != "" {
				t.Errorf("without --json, stdout: %s", out)
			}
			var d moveDoc
			decodeDoc(t, jout, &d)
			if d.Schema != moveSchema || d.DryRun != c.dry || d.Outcome != c.outcome || (d.Plan != nil) != c.plan || !strings.Contains(d.Error, c.err) {
				t.Errorf("document %+v (plan %v), want outcome %q, dry run %v, plan %v, an error naming %q:\n%s", d, d.Plan != nil, c.outcome, c.dry, c.plan, c.err, jout)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dom, "a.sub")); err == nil {
		t.Errorf("the store changed")
	}
	if fi, err := os.Lstat(dom); err != nil || !fi.IsDir() {
		t.Errorf("%s is no longer a directory: %v", dom, err)
	}
}

// dropWarnings removes the "cgscale: warning:" lines from stderr.
func dropWarnings(stderr string) string {
	var kept []string
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if !strings.HasPrefix(l, "cgscale: warning: ") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

// The same for apply: a run that fails before it has a result (a plan
// that cannot be read, the store lock held, the server running) prints
// a cgscale.apply/v1 document carrying the error, with the store's base
// once the plan is read; exit code and stderr are unchanged.
func TestApplyJSONFailures(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "store")
	if code, _, stderr := runCmd("gen", "--accounts", "60", "--domains", "1", "--flat-fraction", "1", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: %s", stderr)
	}
	plan := filepath.Join(root, "plan.json")
	if code, out, stderr := runCmd("plan", "--domain", "example-0001.test", "--out", plan, base); code != 0 {
		t.Fatalf("plan exits %d: %s%s", code, out, stderr)
	}
	pidFile := filepath.Join(base, "ProcessID")
	for _, c := range []struct {
		name  string
		args  []string
		setup func() func()
		code  int
		base  string
		err   string
	}{
		{name: "usage", args: []string{"--resume", "--undo", plan}, code: 2, err: "exclude each other"},
		{name: "missing plan", args: []string{filepath.Join(root, "nosuch.json")}, code: 2, err: "nosuch.json"},
		{name: "other base", args: []string{"--base", root, plan}, code: 2, base: base, err: "not " + root},
		{name: "lock held", args: []string{plan}, setup: func() func() {
			l, err := migrate.Lock(base)
			if err != nil {
				t.Fatal(err)
			}
			return l.Unlock
		}, code: 5, base: base, err: "another cgscale process"},
		{name: "server running", args: []string{plan}, setup: func() func() {
			if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return func() { os.Remove(pidFile) }
		}, code: 5, base: base, err: "server is running"},
		{name: "nothing to undo", args: []string{"--undo", plan}, code: 5, base: base, err: "never applied"},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := func(json bool) (int, string, string) {
				if c.setup != nil {
					defer c.setup()()
				}
				args := append([]string{"apply"}, c.args...)
				if json {
					args = append([]string{"apply", "--json"}, c.args...)
				}
				return runCmd(args...)
			}
			code, out, stderr := run(false)
			jcode, jout, jstderr := run(true)
			if code != c.code || jcode != c.code {
				t.Errorf("exit %d, with --json %d; want %d", code, jcode, c.code)
			}
			if stderr != jstderr || !strings.HasPrefix(jstderr, "cgscale: ") || !strings.Contains(jstderr, c.err) {
				t.Errorf("stderr %q, with --json %q; want the same, naming %q", stderr, jstderr, c.err)
			}
			if out != "" {
				t.Errorf("without --json, stdout: %s", out)
			}
			var d applyDoc
			decodeDoc(t, jout, &d)
			if d.Schema != "cgscale.apply/v1" || d.Base != c.base || d.Mode != "" || !strings.Contains(d.Error, c.err) {
				t.Errorf("document %+v, want base %q and an error naming %q:\n%s", d, c.base, c.err, jout)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(base, "Domains", "example-0001.test")); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(base, "Domains", "example-0001.test", "*.sub")); len(m) != 0 {
		t.Errorf("the store changed: %v", m)
	}
}
