package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// On this machine's live kernel, the text table and --json hold the same
// rows: same IDs, current values, recommendations and verdicts, in order.
func TestTuneLiveTextAndJSONAgree(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the live check reads a Linux /proc; run the tests on Linux")
	}
	if _, err := os.Stat("/proc/sys/kernel"); err != nil {
		t.Skip("/proc/sys is not mounted; mount proc to run this test")
	}
	args := []string{"tune", "--pop-users", "100000", "--imap-users", "20000"}
	text, code1 := runCapture(t, args...)
	js, code2 := runCapture(t, append(args, "--json")...)
	if code1 != code2 || (code1 != 0 && code1 != 3 && code1 != 4) {
		t.Fatalf("exit codes %d (text) and %d (json)", code1, code2)
	}
	var rep struct {
		Schema string `json:"schema"`
		Live   bool   `json:"live"`
		Rows   []struct {
			ID, Current, Recommended, Verdict string
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, js)
	}
	if rep.Schema != "cgscale.tune/v1" || !rep.Live {
		t.Fatalf("schema %q live %v", rep.Schema, rep.Live)
	}
	cols := regexp.MustCompile(`\s{2,}`)
	var textRows [][]string
	inTable := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "ID ") {
			inTable = true
			continue
		}
		if inTable && line == "" {
			break
		}
		if inTable {
			textRows = append(textRows, cols.Split(line, -1))
		}
	}
	if len(textRows) != len(rep.Rows) || len(rep.Rows) < 20 {
		t.Fatalf("%d text rows, %d JSON rows", len(textRows), len(rep.Rows))
	}
	checked := 0
	for i, r := range rep.Rows {
		tr := textRows[i]
		// ID WHERE SETTING CURRENT RECOMMENDED VERDICT REASON
		if len(tr) < 7 || tr[0] != r.ID || tr[3] != r.Current || tr[4] != r.Recommended || tr[5] != r.Verdict {
			t.Errorf("row %d: text %q, json %+v", i, tr, r)
		}
		if r.Verdict != "manual" {
			checked++
		}
	}
	if checked < 15 {
		t.Errorf("only %d rows read from the live kernel", checked)
	}
}

func runCapture(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: os.Getenv}
	code := run(context.Background(), e, args)
	return out.String(), code
}
