package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/layout"
)

// shellWords splits a command line as a POSIX shell would for the quoting
// the findings use: blanks separate words, '...' quotes, a backslash
// escapes the next character; "#" at the start of a word ends the line.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// runCmd runs cgscale in this process and returns its exit code and output.
func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code := run(context.Background(), e, args)
	return code, out.String(), errOut.String()
}

// Every `cgscale plan` that a scan finding prints as its next step is
// accepted by the real plan command: it parses, plans, and exits 0 (or 3
// for a plan with blocking problems). The store has each finding that
// leads to plan: flat domains past the threshold, too many domains, a
// crowded Main Domain, a crowded subdirectory, mixed storage, misplaced
// accounts, and a domain name that needs shell quoting.
func TestFindingsNextCommandsArePlans(t *testing.T) {
	base := filepath.Join(t.TempDir(), "store")
	if code, _, stderr := runCmd("gen", "--accounts", "600", "--domains", "30", "--skew", "0.4", "--flat-fraction", "0.3", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, stderr)
	}
	mk := func(rel string) {
		t.Helper()
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "INBOX.mbox"), []byte("m\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 25; i++ {
		mk(fmt.Sprintf("Accounts/main%02d.macnt", i))                  // crowded Main Domain
		mk(fmt.Sprintf("Domains/o'brien co.test/user%02d.macnt", i))   // a name that needs quoting
		mk(fmt.Sprintf("Domains/sub.test/q.sub/q%cuser.macnt", 'a'+i)) // a crowded subdirectory
		mk(fmt.Sprintf("Domains/mixed.test/m.sub/muser%02d.macnt", i)) // subdirectories ...
	}
	// A flat domain relocated to another directory, a link in its place.
	vol := filepath.Join(t.TempDir(), "vol")
	for i := 0; i < 25; i++ {
		p := filepath.Join(vol, "Domains", "reloc.test", fmt.Sprintf("ruser%02d.macnt", i))
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(vol, "Domains", "reloc.test"), filepath.Join(base, "Domains", "reloc.test")); err != nil {
		t.Fatal(err)
	}
	mk("Domains/mixed.test/flatone.macnt")        // ... and one account beside them
	mk("Domains/sub.test/z.sub/amisplaced.macnt") // in the wrong subdirectory

	code, out, stderr := runCmd("scan", "--max-flat-accounts", "20", "--max-domains", "20", "--json", base)
	if code != 3 {
		t.Fatalf("scan: exit %d, want 3 (findings): %s", code, stderr)
	}
	var rep layout.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	ran := map[string]int{}
	suggested := map[string]string{}
	for _, f := range rep.Findings {
		words := shellWords(t, f.Next)
		if len(words) < 2 || words[0] != "cgscale" || words[1] != "plan" {
			continue
		}
		code, out, stderr := runCmd(words[1:]...)
		if code != 0 && code != 3 {
			t.Errorf("%s %s: next step %q exits %d:\n%s", f.ID, f.Subject, f.Next, code, stderr)
			continue
		}
		if !strings.Contains(out, "Plan for "+base) || !strings.Contains(out, "Total: ") {
			t.Errorf("%s: next step %q printed no plan:\n%s", f.ID, f.Next, out)
		}
		if strings.Contains(out, "Nothing to do") || strings.Contains(out, "Total: 0 operations") {
			t.Errorf("%s %s: next step %q plans nothing:\n%s", f.ID, f.Subject, f.Next, out)
		}
		// One domain, one suggestion, whichever finding makes it.
		if d := domainArg(words); d != "" {
			if prev, ok := suggested[d]; ok && prev != f.Next {
				t.Errorf("domain %s: %q and %q suggested", d, prev, f.Next)
			}
			suggested[d] = f.Next
		}
		t.Logf("%s: %s: exit %d", f.ID, f.Next, code)
		ran[f.ID]++
		if strings.HasSuffix(f.Subject, "/reloc.test") {
			ran["relocated"]++
		}
	}
	for _, id := range []string{layout.RuleFlatTooLarge, layout.RuleTooManyDomain, layout.RuleMisplaced, layout.RuleMixedStorage} {
		if ran[id] == 0 {
			t.Errorf("no finding %s with a plan as next step; findings: %+v", id, rep.Findings)
		}
	}
	if ran["relocated"] == 0 {
		t.Errorf("no plan was suggested for the relocated flat domain; findings: %+v", rep.Findings)
	}
	// With no domain named, plan covers every finding: a domain that
	// cannot be planned is a problem of the plan, never the end of it.
	code, out, stderr = runCmd("plan", "--max-flat-accounts", "20", base)
	if code != 0 && code != 3 {
		t.Fatalf("plan of every finding exits %d:\n%s", code, stderr)
	}
	if !strings.Contains(out, "Domains/reloc.test: 25 accounts into subdirectories") {
		t.Errorf("plan of every finding left out the relocated domain:\n%s", out)
	}
	// The suggestion for the domain with a crowded subdirectory and a
	// misplaced account fixes both once applied.
	plan := filepath.Join(t.TempDir(), "sub.json")
	words := shellWords(t, suggested["sub.test"])
	if code, _, stderr := runCmd(append(words[1:], "--out", plan)...); code != 0 {
		t.Fatalf("plan for sub.test: exit %d: %s", code, stderr)
	}
	if code, out, stderr := runCmd("apply", plan); code != 0 {
		t.Fatalf("apply for sub.test: exit %d: %s%s", code, out, stderr)
	}
	_, out, _ = runCmd("scan", "--max-flat-accounts", "20", "--max-domains", "20", "--json", base)
	var after layout.Report
	if err := json.Unmarshal([]byte(out), &after); err != nil {
		t.Fatal(err)
	}
	for _, f := range after.Findings {
		if strings.Contains(f.Subject, "/sub.test") {
			t.Errorf("after applying %q: %s %s: %s", suggested["sub.test"], f.ID, f.Subject, f.Evidence)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "Domains/sub.test/a.sub/m.sub/amisplaced.macnt")); err != nil {
		t.Errorf("the misplaced account did not move where prefix:2 puts it: %v", err)
	}
	if ran[layout.RuleFlatTooLarge] < 5 {
		t.Errorf("%d CGS001 plans run, want the three generated flat domains, the Main Domain, the quoted domain and the crowded subdirectory", ran[layout.RuleFlatTooLarge])
	}
}

// domainArg returns the value of --domain in a plan command line.
func domainArg(words []string) string {
	for i, w := range words {
		if w == "--domain" && i+1 < len(words) {
			return words[i+1]
		}
	}
	return ""
}
