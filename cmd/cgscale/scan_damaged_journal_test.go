package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/layout"
	"github.com/cgscale/cgscale/migrate"
)

// scan and the move engine agree on what a damaged journal is: a journal
// whose last line was torn by a crash is fine for both, one with a line
// that is not a record before its last is refused by apply and move and
// reported by scan as a critical finding naming the file.
func TestScanAndMigrateAgreeOnDamagedJournal(t *testing.T) {
	base := filepath.Join(t.TempDir(), "store")
	if code, _, stderr := runCmd("gen", "--accounts", "20", "--domains", "1", "--queue", "0", base); code != 0 {
		t.Fatalf("gen: %s", stderr)
	}
	jdir := filepath.Join(base, ".cgscale", "journal")
	if err := os.MkdirAll(jdir, 0o700); err != nil {
		t.Fatal(err)
	}
	begin := `{"seq":1,"time":"2026-01-01T00:00:00Z","kind":"job","step":"begin"}`
	end := `{"seq":2,"time":"2026-01-01T00:00:01Z","kind":"job","step":"end"}`
	path := filepath.Join(jdir, "20260101T000000Z-1.jsonl")
	damagedFinding := func() *layout.Finding {
		t.Helper()
		_, out, _ := runCmd("scan", "--json", base)
		var rep layout.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("scan --json: %v\n%s", err, out)
		}
		for _, f := range rep.Findings {
			if f.ID == layout.RuleJournal && f.Name == "journal-damaged" {
				return &f
			}
		}
		return nil
	}

	// Torn last line: both read it as the two whole records.
	if err := os.WriteFile(path, []byte(begin+"\n"+end+"\n"+`{"seq":3,"ki`), 0o600); err != nil {
		t.Fatal(err)
	}
	if open, err := migrate.Unfinished(base); err != nil || len(open) != 0 {
		t.Errorf("torn last line: migrate says %v, %v; want a finished journal", open, err)
	}
	if f := damagedFinding(); f != nil {
		t.Errorf("torn last line reported as damaged: %+v", f)
	}

	// A damaged line in the middle: migrate refuses, scan reports the file.
	if err := os.WriteFile(path, []byte(begin+"\ngarbage\n"+end+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Unfinished(base); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("damaged journal: migrate says %v, want an error naming %s", err, path)
	}
	f := damagedFinding()
	if f == nil {
		t.Fatal("scan did not report the damaged journal")
	}
	if f.Subject != path || f.Severity != layout.Critical || !strings.Contains(f.Evidence, "line 2") {
		t.Errorf("damaged journal finding: %+v", f)
	}
	if code, _, _ := runCmd("scan", base); code != 3 {
		t.Errorf("scan of a store with a damaged journal exits %d, want 3", code)
	}
}
